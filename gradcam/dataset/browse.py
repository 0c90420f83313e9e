"""Browse the runs of one folder (the web app's Dataset view, or any other front end): where runs
are looked up, which runs are there, opening one by name without ever leaving that folder,
reading a run's image back, and the filtered, sorted table of its rows.

Nothing here imports TensorFlow or Ray: a finished run opens on a machine that has neither.

The runs folder is ``GRADCAM_RUNS_DIR`` when set, else a folder configured by the front end (the
app's ``runs_dir`` secret), else ``./runs`` under the working directory. A run is named by its
path relative to that folder; :func:`resolve_run` refuses any name whose real path (symbolic
links followed) is not inside it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import GradCamError, ImageError
from .errors import RunAccessError
from .results import RunFolder

RUNS_ENV = "GRADCAM_RUNS_DIR"
DEFAULT_RUNS_DIR = "runs"

#: Values of :attr:`RowFilter.outcome` and :attr:`RowFilter.sort`.
OUTCOMES = ("all", "correct", "incorrect")
SORTS = ("confidence", "faithfulness", "input", "entropy", "margin", "mistakenness", "label_probability")
#: Sorts on a score column of results.parquet (rows without the score go last, in input order).
SCORE_SORTS = ("entropy", "margin", "mistakenness", "label_probability")


# -- where runs live --------------------------------------------------------------------------------
def runs_root(configured: str | os.PathLike | None = None) -> Path:
    """The runs folder, absolute: ``GRADCAM_RUNS_DIR`` wins, then ``configured``, then ``./runs``.
    The folder need not exist yet (the app creates it for its first uploaded run)."""
    value = os.environ.get(RUNS_ENV, "").strip() or (str(configured).strip() if configured else "")
    return Path(os.path.abspath(os.path.expanduser(value or DEFAULT_RUNS_DIR)))


@dataclass(frozen=True)
class RunEntry:
    """One run folder found under the runs folder: its name (relative path), whether it is finished,
    how many inputs its manifest plans, the model and methods, and when it last changed."""

    name: str
    path: Path
    complete: bool
    inputs: int
    model: str
    methods: tuple[str, ...]
    modified: float

    @property
    def label(self) -> str:
        state = "finished" if self.complete else "unfinished"
        return f"{self.name} · {self.inputs} inputs · {self.model} · {', '.join(self.methods)} · {state}"


#: How deep below the runs folder runs are looked for (``team/2026-11/photos`` is depth 3).
LIST_DEPTH = 3


def list_runs(root: str | os.PathLike, depth: int = LIST_DEPTH) -> list[RunEntry]:
    """The run folders under ``root`` (folders with a manifest.json), newest first, named by their
    path relative to ``root`` (``team/photos``): runs directly in it and in its subfolders, down to
    ``depth`` levels. A run's own folders are not searched (a run inside a run is not offered).

    Folders that are not runs are left out, and so are symbolic links whose target lies outside
    ``root``: they could not be opened (:func:`resolve_run`), so they are not offered. A symbolic
    link to a folder is followed only when it names a run, never searched, so no loop is walked.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    entries = []
    pending = [("", 1)]
    while pending:
        prefix, level = pending.pop()
        try:
            children = sorted((root / prefix).iterdir())
        except OSError:  # unreadable or vanished meanwhile
            continue
        for child in children:
            name = f"{prefix}/{child.name}" if prefix else child.name
            try:
                path = resolve_run(root, name)
            except RunAccessError:
                if level < depth and child.is_dir() and not child.is_symlink():
                    pending.append((name, level + 1))
                continue
            entries.append(_entry(name, path))
    return sorted(entries, key=lambda e: (-e.modified, e.name))


def _entry(name: str, path: Path) -> RunEntry:
    folder = RunFolder(path)
    manifest = folder.read_manifest() or {}
    fields = manifest.get("fields", {})
    try:
        model = json.loads(fields.get("model") or "{}").get("model") or _default_model()
    except ValueError:
        model = "unknown model"
    stamp = folder.run_json_path if folder.is_complete() else folder.manifest_path
    return RunEntry(
        name,
        path,
        folder.is_complete(),
        len(manifest.get("inputs", [])),
        str(model),
        tuple(fields.get("methods") or ()),
        stamp.stat().st_mtime,
    )


def _default_model() -> str:
    import model_zoo  # light: no TensorFlow until a model is loaded

    return model_zoo.DEFAULT_MODEL


def resolve_run(root: str | os.PathLike, name: str) -> Path:
    """The run folder ``name`` (a path relative to ``root``), checked to lie inside ``root``.

    Raises:
        RunAccessError: an empty or absolute name, a name whose real path (``..`` and symbolic
            links resolved) leaves ``root``, or a folder that holds no run (no manifest.json).
    """
    text = str(name or "").strip()
    where = f"the runs folder {root}"
    if not text:
        raise RunAccessError(f"No run named: pick a run from {where}.")
    if "\0" in text or os.path.isabs(text) or text.startswith("~"):
        raise RunAccessError(
            f"Run {text!r} refused: runs are opened by their name inside {where}, not by an "
            "absolute path. Pick one from the list, or move the run folder into that folder."
        )
    base = os.path.realpath(root)
    real = os.path.realpath(os.path.join(base, text))
    if real == base:
        raise RunAccessError(
            f"Run {text!r} refused: it names {where} itself, not a run inside it. Pick a run from the list."
        )
    if os.path.commonpath([base, real]) != base:
        how = (
            "through '..'"
            if ".." in Path(text).parts
            else "through a symbolic link"
            if os.path.islink(os.path.join(base, text.split("/")[0]))
            else "to another place"
        )
        raise RunAccessError(
            f"Run {text!r} refused: it leads outside {where} ({how}). Only runs inside that "
            f"folder can be opened; copy or move the run there, or set {RUNS_ENV}."
        )
    if not os.path.isdir(real):
        raise RunAccessError(f"No run {text!r} in {where}: no such folder. Pick one from the list.")
    if not os.path.isfile(os.path.join(real, "manifest.json")):
        raise RunAccessError(
            f"{text!r} in {where} is not a run folder (it has no manifest.json). Make runs with "
            "'python -m gradcam dataset run SRC --out RUN', or upload a ZIP in the Dataset view."
        )
    return Path(real)


# -- a run's rows and images ------------------------------------------------------------------------
def run_rows(run: str | os.PathLike) -> list[dict]:
    """Every row of a run (all methods, input order): results.parquet when finished, else the rows
    its committed shards hold so far."""
    folder = RunFolder(run)
    if folder.is_complete():
        import pyarrow.parquet as pq

        return pq.read_table(folder.results_path).to_pylist()
    manifest = folder.read_manifest() or {}
    return folder.gather(list(manifest.get("fields", {}).get("methods") or ["gradcam"])).to_pylist()


def run_signature(run: str | os.PathLike) -> tuple:
    """Changes whenever the run's rows do (finished, or one more shard committed): a cache key."""
    folder = RunFolder(run)
    if folder.is_complete():
        return ("complete", folder.run_json_path.stat().st_mtime_ns)
    shards = folder.shard_files()
    return ("partial", len(shards), max((s.stat().st_mtime_ns for s in shards), default=0))


def run_info(run: str | os.PathLike) -> dict:
    """What the explorer needs to reproduce a run's maps: model name, methods, layer (None: the
    model's default), and whether the run is finished. From run.json, else from the manifest."""
    folder = RunFolder(run)
    if folder.is_complete():
        info = json.loads(folder.run_json_path.read_text())
        return {
            "model": info["model"]["name"],
            "methods": list(info["methods"]),
            "layer": info.get("layer"),
            "complete": True,
            "metrics": bool(info.get("options", {}).get("metrics")),
        }
    fields = (folder.read_manifest() or {}).get("fields", {})
    spec = json.loads(fields.get("model") or "{}")
    return {
        "model": spec.get("model") or _default_model(),
        "methods": list(fields.get("methods") or []),
        "layer": fields.get("layer"),
        "complete": False,
        "metrics": bool(fields.get("metrics")),
    }


#: Manifests read back by :func:`read_run_image`, by folder, with the file's (mtime, size) they were read at.
_MANIFESTS: dict[str, tuple[tuple[int, int], dict]] = {}


def _manifest(run: str | os.PathLike) -> dict:
    """A run's manifest, read again only when its file changed: a grid page reads a dozen images,
    and a 20,000-input manifest costs milliseconds to parse each time. Read-only for callers."""
    path = RunFolder(run).manifest_path
    try:
        stat = path.stat()
    except OSError:
        return {}
    key, cached = (stat.st_mtime_ns, stat.st_size), _MANIFESTS.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1]
    manifest = json.loads(path.read_text())
    if len(_MANIFESTS) >= 16:
        _MANIFESTS.pop(next(iter(_MANIFESTS)))
    _MANIFESTS[str(path)] = (key, manifest)
    return manifest


def read_run_image(run: str | os.PathLike, input_index: int) -> tuple[str, bytes]:
    """``(path, bytes)`` of input ``input_index`` of a run, read from the run's source (the folder,
    ZIP or list it was made from, as its manifest records).

    Raises:
        RunAccessError: no such input in this run.
        ImageError: the file cannot be read any more (the source moved or changed).
    """
    from .sources import Reader, Source

    manifest = _manifest(run)
    inputs = manifest.get("inputs", [])
    if not isinstance(input_index, int) or not 0 <= input_index < len(inputs):
        raise RunAccessError(
            f"The run {Path(run).name!r} has no input {input_index!r}: it has {len(inputs)} inputs "
            f"(0 to {len(inputs) - 1}). Open the image from the Dataset view's grid."
        )
    fields = manifest.get("fields", {})
    path = inputs[input_index]
    source = Source(fields.get("kind", ""), fields.get("source", ""), tuple(inputs))
    (data,) = Reader(source).read_many([path])
    if isinstance(data, ImageError):
        raise ImageError(
            f"{' '.join(str(data).split())} The run's source ({source.root}) may have moved; its "
            "maps stay viewable in the Dataset view."
        )
    return path, data


# -- the table --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RowFilter:
    """Which of a run's rows to show, and in which order.

    Attributes:
        method: the method whose rows are shown (None: every method).
        outcome: "all", "correct" or "incorrect" (the last two keep labelled rows only).
        true_class, predicted_class: a class index, or None for any.
        confidence: (low, high), inclusive bounds on the predicted class's probability.
        members: paths of a SpRAy cluster's members, or of a selection on the map (None: no filter).
        entropy: (low, high) inclusive bounds on the entropy in nats (None: any).
        mistakenness: (low, high) inclusive bounds on the mistakenness; set, it keeps labelled rows
            only (None: any).
        sort: "confidence" (of the predicted class), "faithfulness" (insertion AUC minus deletion
            AUC; runs made with --metrics), "input" (the run's order), or a score: "entropy",
            "margin", "mistakenness", "label_probability" (:mod:`gradcam.dataset.scores`).
        descending: highest first.
    """

    method: str | None = None
    outcome: str = "all"
    true_class: int | None = None
    predicted_class: int | None = None
    confidence: tuple[float, float] = (0.0, 1.0)
    members: frozenset[str] | None = None
    entropy: tuple[float, float] | None = None
    mistakenness: tuple[float, float] | None = None
    sort: str = "confidence"
    descending: bool = True


def faithfulness(row: dict) -> float | None:
    """Insertion AUC minus deletion AUC (higher: the map's pixels matter more), or None without metrics."""
    if row.get("insertion_auc") is None or row.get("deletion_auc") is None:
        return None
    return float(row["insertion_auc"]) - float(row["deletion_auc"])


def filter_rows(rows: list[dict], wanted: RowFilter) -> list[dict]:
    """The explained rows (status "ok") that ``wanted`` keeps, in its order.

    Filtering the same rows many times (the Dataset view, at every selection): build a
    :class:`RowTable` once and call its :meth:`RowTable.filter`, which this function does.

    Raises:
        GradCamError: an unknown outcome or sort, a confidence range that is not within [0, 1] with
            low <= high, or a faithfulness sort on rows that have no metrics.
    """
    return RowTable(rows).filter(wanted)


class RowTable:
    """A run's rows laid out as columns, to be filtered and sorted many times: building it passes
    over the rows once; each :meth:`filter` is a few vectorised passes over the columns and one
    list of the kept rows. On a 20,000-image run that is a few milliseconds per filter against
    a tenth of a second for a pass of Python over 20,000 dicts.

    Args:
        rows: result rows as :func:`run_rows` returns them (read-only: the rows are returned, not
            copied). Score columns may be missing (runs made before the scores existed).
    """

    def __init__(self, rows: list[dict]):
        self.rows = rows
        ok = [i for i, r in enumerate(rows) if r["status"] == "ok"]
        kept = [rows[i] for i in ok]
        self._ok = np.asarray(ok, np.int64)
        self._methods = {m: code for code, m in enumerate(sorted({str(r["method"]) for r in kept}))}
        self._method = np.asarray([self._methods[str(r["method"])] for r in kept], np.int64)
        self._label = np.asarray([-1 if r["label_index"] is None else r["label_index"] for r in kept], np.int64)
        self._predicted = np.asarray([r["predicted_index"] for r in kept], np.int64)
        self._confidence = np.asarray([r["predicted_probability"] for r in kept], np.float64)
        self._input = np.asarray([r["input_index"] for r in kept], np.int64)
        # Missing scores (and faithfulness without metrics) are NaN: every comparison leaves them out.
        self._scores = {
            name: np.asarray([np.nan if r.get(name) is None else r[name] for r in kept], np.float64)
            for name in SCORE_SORTS
        }
        self._scores["faithfulness"] = np.asarray(
            [np.nan if (f := faithfulness(r)) is None else f for r in kept], np.float64
        )
        self._by_path: dict[str, list[int]] = {}
        for position, row in enumerate(kept):
            self._by_path.setdefault(row["path"], []).append(position)

    def filter(self, wanted: RowFilter) -> list[dict]:
        """The explained rows ``wanted`` keeps, in its order: what :func:`filter_rows` returns.

        Raises:
            GradCamError: as :func:`filter_rows`.
        """
        if wanted.outcome not in OUTCOMES:
            raise GradCamError(f"Unknown outcome {wanted.outcome!r}: expected one of {', '.join(OUTCOMES)}.")
        if wanted.sort not in SORTS:
            raise GradCamError(f"Unknown sort {wanted.sort!r}: expected one of {', '.join(SORTS)}.")
        low, high = wanted.confidence
        if not 0.0 <= low <= high <= 1.0:
            raise GradCamError(f"Confidence range {low}..{high} is not valid: expected 0 <= low <= high <= 1.")
        for name, bounds in (("entropy", wanted.entropy), ("mistakenness", wanted.mistakenness)):
            if bounds is not None and not bounds[0] <= bounds[1]:
                raise GradCamError(
                    f"{name.capitalize()} range {bounds[0]}..{bounds[1]} is not valid: expected low <= high."
                )
        keep = (self._confidence >= low) & (self._confidence <= high)
        if wanted.method is not None:
            keep &= self._method == self._methods.get(str(wanted.method), -1)
        labelled = self._label >= 0
        correct = labelled & (self._label == self._predicted)
        if wanted.outcome == "correct":
            keep &= correct
        elif wanted.outcome == "incorrect":
            keep &= labelled & ~correct
        if wanted.true_class is not None:
            keep &= self._label == wanted.true_class
        if wanted.predicted_class is not None:
            keep &= self._predicted == wanted.predicted_class
        for column, bounds in (("entropy", wanted.entropy), ("mistakenness", wanted.mistakenness)):
            if bounds is not None:  # NaN (no score) compares False: left out
                keep &= (self._scores[column] >= bounds[0]) & (self._scores[column] <= bounds[1])
        if wanted.members is not None:
            inside = np.zeros(len(keep), bool)
            for path in wanted.members:
                inside[self._by_path.get(path, [])] = True
            keep &= inside
        kept = np.flatnonzero(keep)
        order = self._order(kept, wanted)
        return [self.rows[i] for i in self._ok[order].tolist()]

    def _order(self, kept: np.ndarray, wanted: RowFilter) -> np.ndarray:
        """``kept`` (positions, in the rows' order) sorted as ``wanted`` says: by the score with the
        input's number breaking ties (lower number first when descending), rows without the score
        last in the rows' order; or by the input's number alone (a stable sort)."""
        index = self._input[kept]
        if wanted.sort == "input":
            return kept[np.argsort(-index if wanted.descending else index, kind="stable")]
        values = self._confidence[kept] if wanted.sort == "confidence" else self._scores[wanted.sort][kept]
        scored = ~np.isnan(values)
        if wanted.sort == "faithfulness" and not scored.any():
            raise GradCamError(
                "These rows have no faithfulness figures: the run was made without --metrics. "
                "Sort by confidence, or run again with --metrics."
            )
        values, index, positions = values[scored], index[scored], kept[scored]
        # np.lexsort sorts by its last key first, stably.
        order = np.lexsort((index, -values)) if wanted.descending else np.lexsort((-index, values))
        return np.concatenate([positions[order], kept[~scored]])


__all__ = [
    "DEFAULT_RUNS_DIR",
    "OUTCOMES",
    "RUNS_ENV",
    "SCORE_SORTS",
    "SORTS",
    "RowFilter",
    "RowTable",
    "RunEntry",
    "faithfulness",
    "filter_rows",
    "list_runs",
    "read_run_image",
    "resolve_run",
    "run_info",
    "run_rows",
    "run_signature",
    "runs_root",
]
