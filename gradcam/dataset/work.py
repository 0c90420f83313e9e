"""The work both engines share: a model spec any process can load, the plan of inputs, and the
worker that turns a batch of inputs into heatmaps and one committed shard."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GradCamError, ImageError
from .results import RunFolder, border_share, stored_heatmap
from .scores import output_scores
from .sources import Reader, Source, sha256_bytes

if TYPE_CHECKING:
    from ..explainer import Explainer

#: Deletion / insertion steps with --metrics (each curve costs steps + 1 forward passes).
METRIC_STEPS = 20


@dataclass(frozen=True)
class ModelSpec:
    """How to load the model, in any process (a Ray worker cannot be handed a Keras model).

    Args:
        model: a model-zoo name, or a .keras/.h5 path; None for the default zoo model.
        classes: class names file for a user model (.txt or .json), or None.
        preprocessing: the user model's preprocessing preset (tf, torch, caffe, unit, raw, lite).
    """

    model: str | None = None
    classes: str | None = None
    preprocessing: str = "tf"

    def load(self):
        """The loaded model (a model_zoo.ZooModel)."""
        import model_zoo

        name = self.model or model_zoo.DEFAULT_MODEL
        if os.path.splitext(name)[1].lower() in (".keras", ".h5", ".hdf5"):
            return model_zoo.load_user_model(name, class_names=self.classes, preprocessing=self.preprocessing)
        return model_zoo.load_model(name)


def weights_sha256(model) -> str:
    """SHA-256 over the model's weight arrays in order: identifies the weights whatever the file."""
    digest = hashlib.sha256()
    for weight in getattr(model, "keras_model", model).weights:
        value = np.ascontiguousarray(np.asarray(weight.numpy()))
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class PlanItem:
    """One input: its place in the plan, its path under SRC, what to explain, or why it cannot be.

    ``target`` is a class index, a :class:`gradcam.Group`, or None for the top prediction; ``error``
    is set when the input fails before any image is read (an unknown label, no label with --target
    label)."""

    input_index: int
    path: str
    label: str | None = None
    label_index: int | None = None
    target: Any = None
    error: str = ""


@dataclass(frozen=True)
class WorkOptions:
    """What the workers do with each input (fixed for a run)."""

    methods: tuple[str, ...]
    layer: str | None
    metrics: bool
    batch_size: int
    source: Source
    run: str
    spec: ModelSpec = field(default_factory=ModelSpec)
    embeddings: bool = True  # keep each input's pooled vector (embeddings/ in the run)


@dataclass
class Decoded:
    """An input after reading and decoding: pixels or the one-line error."""

    item: PlanItem
    sha256: str = ""
    pixels: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    error: str = ""


def _pixels(decoded: Decoded) -> np.ndarray:
    """The pixels of an input that decoded (only those are explained)."""
    if decoded.pixels is None:
        raise ValueError(f"Input {decoded.item.input_index} was not decoded: {decoded.error or 'no pixels'}.")
    return decoded.pixels


@dataclass
class Computed:
    """A batch after the model, before writing: its rows, and its heatmaps as stored (float16)
    with their paths relative to RUN, in the order they are written."""

    rows: list[dict] = field(default_factory=list)
    heatmaps: list[tuple[str, np.ndarray]] = field(default_factory=list)
    #: The explained inputs' indices and pooled vectors (n, K) float32, or None.
    embeddings: tuple[list[int], np.ndarray] | None = None


def decode_items(items: list[PlanItem], reader: Reader) -> list[Decoded]:
    """Read and decode a batch; each failure becomes that input's error, never the batch's."""
    from ..images import decode_image

    out = []
    readable = [i for i in items if not i.error]
    data = dict(zip((i.input_index for i in readable), reader.read_many([i.path for i in readable])))
    for item in items:
        if item.error:
            out.append(Decoded(item, error=item.error))
            continue
        raw = data[item.input_index]
        if isinstance(raw, ImageError):
            out.append(Decoded(item, error=_one_line(raw)))
            continue
        digest = sha256_bytes(raw)
        try:
            decoded = decode_image(raw, name=item.path)
        except ImageError as error:
            out.append(Decoded(item, sha256=digest, error=_one_line(error)))
            continue
        out.append(Decoded(item, sha256=digest, pixels=decoded.pixels, notes=decoded.notes))
    return out


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:500] or type(error).__name__


class Worker:
    """Builds the explainer once; then each call explains a batch, writes its heatmaps and
    commits its shard. Used in-process by the local engine and inside each Ray actor."""

    def __init__(self, options: WorkOptions, model: Any = None, explainer: Explainer | None = None):
        from .. import Explainer

        self.options = options
        self.model = model if model is not None else options.spec.load()
        self.explainer = explainer if explainer is not None else Explainer(self.model)
        self.folder = RunFolder(options.run)

    def warm_up(self) -> None:
        """Build (trace) the compiled functions of every method now, on one blank image, so that
        the first real batch costs what every later one does. Writes nothing; changes no result
        (the functions are deterministic, the blank image's cache entry is never looked up)."""
        from ..methods import get_method

        blank = np.full((*self.explainer.input_size, 3), 127, np.uint8)
        for method in self.options.methods:
            layer = self.options.layer if get_method(method).uses_layer else None
            self.explainer.explain_batch([blank], [None], method=method, layer=layer, batch_size=1)

    def process(self, decoded: list[Decoded]) -> list[dict]:
        """Rows for a batch (one per input and method), heatmaps written, shard committed."""
        return self.commit(self.compute(decoded))

    def compute(self, decoded: list[Decoded]) -> Computed:
        """A batch's rows and heatmaps, nothing written yet (:meth:`commit` writes them)."""
        computed = Computed()
        for method in self.options.methods:
            computed.rows += self._method_rows(decoded, method, computed.heatmaps)
        if self.options.embeddings:
            computed.embeddings = self._embeddings(decoded, computed.rows)
        return computed

    def _embeddings(self, decoded: list[Decoded], rows: list[dict]) -> tuple[list[int], np.ndarray] | None:
        """The pooled vectors of the inputs explained without error, after the methods: at the
        default layer their activations are still cached, so this costs no forward pass."""
        explained = {r["input_index"] for r in rows if r["status"] == "ok"}
        good = [d for d in decoded if d.item.input_index in explained and d.pixels is not None]
        if not good:
            return None
        try:
            vectors = self.explainer.embeddings([d.pixels for d in good if d.pixels is not None])
        except Exception:  # noqa: BLE001 -- a model the pooled vector cannot be taken from keeps its maps
            return None
        return [d.item.input_index for d in good], vectors

    def commit(self, computed: Computed) -> list[dict]:
        """Write a computed batch: its heatmaps and embeddings first, then its shard. Touches only
        the run folder, so it may run in another thread while the next batch is computed."""
        for relative, stored in computed.heatmaps:
            self.folder.save_heatmap(relative, stored)
        if computed.rows:
            name = self.folder.new_shard_name(computed.rows)
            if computed.embeddings is not None:
                self.folder.save_embeddings(name, *computed.embeddings)
            self.folder.commit_shard(computed.rows, name)
        return computed.rows

    def _method_rows(self, decoded: list[Decoded], method: str, heatmaps: list) -> list[dict]:
        good = [d for d in decoded if not d.error]
        explanations: dict[int, object] = {}
        failures: dict[int, str] = {}
        if good:
            try:
                results = self._explain(good, method)
                explanations = {d.item.input_index: r for d, r in zip(good, results)}
            except Exception:  # noqa: BLE001 -- one bad input must not fail the batch: retry one by one
                for d in good:
                    try:
                        explanations[d.item.input_index] = self._explain([d], method)[0]
                    except Exception as error:  # noqa: BLE001
                        failures[d.item.input_index] = (
                            _one_line(error)
                            if isinstance(error, GradCamError)
                            else (f"{d.item.path}: unexpected {type(error).__name__}: {_one_line(error)}")
                        )
        rows = []
        for d in decoded:
            index = d.item.input_index
            if index in explanations:
                rows.append(self._ok_row(d, method, explanations[index], heatmaps))
            else:
                rows.append(self._error_row(d, method, d.error or failures.get(index, "unknown failure")))
        return rows

    def _explain(self, decoded: list[Decoded], method: str):
        from ..methods import get_method

        layer = self.options.layer if get_method(method).uses_layer else None
        return self.explainer.explain_batch(
            [_pixels(d) for d in decoded],
            [d.item.target for d in decoded],
            method=method,
            layer=layer,
            batch_size=self.options.batch_size,
        )

    def _base(self, d: Decoded, method: str) -> dict:
        return {
            "input_index": d.item.input_index,
            "path": d.item.path,
            "sha256": d.sha256,
            "method": method,
            "label": d.item.label,
            "label_index": d.item.label_index,
            "notes": "; ".join(d.notes),
        }

    def _error_row(self, d: Decoded, method: str, message: str) -> dict:
        return {**self._base(d, method), "status": "error", "error": message, "heatmap_path": ""}

    def _ok_row(self, d: Decoded, method: str, result, heatmaps: list) -> dict:
        from ..metrics import evaluate, peak_location

        heatmap = result.heatmap
        relative = RunFolder.heatmap_name(method, d.item.input_index)
        heatmaps.append((relative, stored_heatmap(heatmap)))
        predicted = int(np.argmax(result.probabilities))
        peak = None if result.empty else peak_location(heatmap)
        row = {
            **self._base(d, method),
            "status": "ok",
            "error": "",
            "predicted_index": predicted,
            "predicted_name": self.explainer.class_names[predicted],
            "predicted_probability": float(result.probabilities[predicted]),
            "target_index": result.target_index,
            "target_name": result.target_name,
            "target_probability": float(result.target_probability),
            "layer": result.layer,
            "heatmap_path": relative,
            "height": int(heatmap.shape[0]),
            "width": int(heatmap.shape[1]),
            "peak_x": None if peak is None else peak[0],
            "peak_y": None if peak is None else peak[1],
            "border_share": border_share(heatmap),
            "empty": bool(result.empty),
            "top5_indices": [i for i, _, _ in result.top],
            "top5_names": [n for _, n, _ in result.top],
            "top5_probabilities": [float(p) for _, _, p in result.top],
            **output_scores(result.probabilities, predicted, d.item.label_index),
        }
        if self.options.metrics and not result.empty:
            figures = evaluate(
                self.explainer, d.pixels, result, metrics=["deletion", "insertion"], steps=METRIC_STEPS, baseline=False
            )
            row["deletion_auc"] = float(figures.scores["deletion_auc"])
            row["insertion_auc"] = float(figures.scores["insertion_auc"])
        return row
