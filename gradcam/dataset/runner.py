"""``run_dataset``: plan a run, resume it if it was interrupted, run an engine, write the results."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..errors import GradCamError
from .errors import RunFolderError
from .results import RunFolder
from .sources import Source, open_source, read_labels, resolve_label
from .work import METRIC_STEPS, ModelSpec, PlanItem, WorkOptions, weights_sha256

if TYPE_CHECKING:
    from ..explainer import Explainer

ENGINES = ("local", "ray")
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class RunSummary:
    """What a call of :func:`run_dataset` did."""

    run: str
    inputs: int
    rows: int
    ok: int
    errors: int
    computed: int  # inputs explained by this call (0 when the run was already complete)
    already_done: int  # inputs found committed by an earlier, interrupted call
    already_complete: bool
    seconds: float


def run_dataset(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    spec: ModelSpec | None = None,
    methods: tuple[str, ...] | list[str] = ("gradcam",),
    target: str = "top",
    layer: str | None = None,
    labels: str | os.PathLike | None = None,
    batch_size: int = 16,
    metrics: bool = False,
    engine: str = "local",
    ray_address: str | None = None,
    concurrency: int = 2,
    model=None,
    progress: Callable[[int, int, float], None] | None = None,
    embeddings: bool = True,
) -> RunSummary:
    """Explain every input of ``src`` into the run folder ``out``, or continue an interrupted run.

    Args:
        src: a folder (recursive), a .zip, or a .csv/.parquet list with a ``path`` column.
        out: the run folder (created); rerunning the same call continues or does nothing.
        spec: how to load the model (default: the offline EfficientNet-Lite0).
        methods: method keys (``gradcam.METHODS``); one row per input and method.
        target: "top" (the top prediction), "label" (the labelled class), a class index / name, or a
            class group ("group:dog", "group:NAME=440+907"; rows then carry the group's name and
            summed probability, and its most probable member as ``target_index``).
        layer: the layer path for CAM methods; default each method's default (the last spatial layer).
        labels: CSV ``path,label``; a label is a class index, a class name or a WordNet id.
        batch_size: inputs per batch (and per shard, the unit of resume).
        metrics: also compute deletion and insertion areas per image (slow: 2 x 21 forward passes).
        engine: "local" (in this process) or "ray".
        ray_address: join this Ray cluster (engine "ray"); None starts a local Ray.
        concurrency: Ray actors (engine "ray").
        model: an already loaded model matching ``spec`` (saves loading it again; local engine).
        progress: callable(done, total, seconds) after each batch.
        embeddings: keep each input's pooled vector (``RUN/embeddings/``, see
            :meth:`gradcam.Explainer.embeddings`) for the map and the duplicate search; False only
            to measure what they cost.

    Returns:
        A :class:`RunSummary`.

    Raises:
        DatasetSourceError, RunFolderError, EngineUnavailableError, GradCamError (a bad method,
        layer or target class): before any input is processed.
    """
    from .. import Explainer, get_method

    started = time.perf_counter()
    spec = spec or ModelSpec()
    if engine not in ENGINES:
        raise GradCamError(f"Unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}.")
    if batch_size < 1:
        raise GradCamError(f"--batch-size must be 1 or more; got {batch_size}.")
    methods = tuple(dict.fromkeys(get_method(m).key for m in methods)) or ("gradcam",)
    if engine == "ray":
        from .engine_ray import import_ray

        import_ray()  # says how to install Ray before anything else is done
    folder = RunFolder(out)
    source = open_source(src)
    label_texts = read_labels(labels) if labels is not None else {}
    fingerprint = _fingerprint(source, spec, methods, target, layer, label_texts, metrics)
    manifest = folder.read_manifest()
    if manifest is not None and manifest.get("fingerprint") != fingerprint["hash"]:
        differing = [k for k in fingerprint["fields"] if manifest.get("fields", {}).get(k) != fingerprint["fields"][k]]
        raise RunFolderError(
            f"{out} holds another run (different {', '.join(differing) or 'inputs'}). Use a new --out folder, "
            "or delete this one to start again."
        )
    total = len(source.paths) * len(methods)
    if manifest is not None and folder.is_complete():
        info = json.loads(folder.run_json_path.read_text())
        counts = info["counts"]
        return RunSummary(
            str(out),
            len(source.paths),
            counts["rows"],
            counts["ok"],
            counts["errors"],
            0,
            len(source.paths),
            True,
            time.perf_counter() - started,
        )

    model = model if model is not None else spec.load()
    explainer = Explainer(model)
    if layer is not None:
        explainer.layer_path(layer)  # a wrong layer stops the run here, listing the valid ones
    target_index = None if target in ("top", "label") else _fixed_target(explainer, str(target))
    plan = _plan(source, label_texts, explainer, target, target_index)
    if manifest is None:
        folder.write_manifest(
            {
                "version": MANIFEST_VERSION,
                "fingerprint": fingerprint["hash"],
                "fields": fingerprint["fields"],
                "inputs": list(source.paths),
            }
        )
    folder.clean_temporaries()
    done = folder.done()
    pending = [item for item in plan if not all((item.input_index, m) in done for m in methods)]
    already = len(plan) - len(pending)
    options = WorkOptions(
        methods=methods,
        layer=layer,
        metrics=metrics,
        batch_size=batch_size,
        source=source,
        run=str(folder.root),
        spec=spec,
        embeddings=embeddings,
    )
    counter = {"done": already}
    work_started = time.perf_counter()

    def advance(count: int) -> None:
        counter["done"] += count
        if progress is not None:
            progress(counter["done"], len(plan), time.perf_counter() - work_started)

    cluster = None
    if pending:
        if engine == "local":
            from .engine_local import run_local

            run_local(pending, options, model, advance, explainer)
        else:
            from .engine_ray import run_ray

            cluster = run_ray(pending, options, advance, address=ray_address, concurrency=concurrency)
    work_seconds = time.perf_counter() - work_started

    table = folder.gather(list(methods))
    keys = list(zip(table.column("input_index").to_pylist(), table.column("method").to_pylist()))
    missing = len(plan) * len(methods) - len(set(keys))
    if missing:
        raise RunFolderError(
            f"{missing} of {total} rows are missing after the run (a worker failed); run the "
            "same command again to finish them."
        )
    statuses = table.column("status").to_pylist()
    ok = statuses.count("ok")
    info = {
        "model": {
            "name": getattr(model, "name", None),
            "label": getattr(model, "label", None),
            "spec": asdict(spec),
            "weights_file_sha256": getattr(model, "weights_sha256", None),
            "weights_sha256": weights_sha256(model),
            "input_size": list(explainer.input_size),
            "classes": len(explainer.class_names),
            "class_names": explainer.class_names,
        },
        "methods": list(methods),
        "layer": layer or explainer.default_layer,
        "embeddings": {
            "layer": explainer.default_layer,
            "pooling": "mean over the layer's locations (the head's input on a pooling + dense head)",
            "dtype": "float16",
        }
        if embeddings
        else None,
        "target": target,
        "options": {
            "batch_size": batch_size,
            "metrics": metrics,
            "metric_steps": METRIC_STEPS if metrics else None,
            "labels": os.path.abspath(labels) if labels is not None else None,
        },
        "source": {"path": source.root, "kind": source.kind, "skipped_hidden": source.skipped_hidden},
        "engine": {"name": engine, **(cluster or {})},
        "counts": {
            "inputs": len(plan),
            "rows": len(keys),
            "ok": ok,
            "errors": len(statuses) - ok,
            "computed_now": len(pending),
            "resumed_from": already,
        },
        "timings": {
            "seconds": round(time.perf_counter() - started, 3),
            "work_seconds": round(work_seconds, 3),
            "images_per_second": round(len(pending) / work_seconds, 3) if pending and work_seconds else None,
        },
        "versions": _versions(engine),
    }
    folder.write_results(table, info)
    return RunSummary(
        str(out),
        len(plan),
        len(keys),
        ok,
        len(statuses) - ok,
        len(pending),
        already,
        False,
        time.perf_counter() - started,
    )


def _fixed_target(explainer: Explainer, text: str):
    """``--target`` given as a class (index or name, made an index) or a class group
    (``group:dog``, ``group:NAME=440+907``: a :class:`gradcam.Group`), checked on the model."""
    if text.strip().lower().startswith("group:"):
        from ..targets import decode_target

        group = decode_target(text)
        explainer.check_target(group)  # an unknown group names the closest ones
        return group
    return explainer.class_index(int(text) if text.strip().isdigit() else text)


def _plan(source: Source, labels: dict[str, str], explainer: Explainer, target: str, target_index):
    plan = []
    for index, path in enumerate(source.paths):
        text = labels.get(path)
        label_index, error = None, ""
        if text is not None:
            try:
                label_index = resolve_label(text, explainer)
            except GradCamError as problem:
                error = f"{path}: unknown label {text!r} in the labels file ({' '.join(str(problem).split())})"
        chosen = target_index
        if target == "label":
            chosen = label_index
            if text is None and not error:
                error = f"{path}: --target label, but the labels file has no label for this path. Add a row for it."
        plan.append(PlanItem(index, path, text, label_index, chosen, error))
    return plan


def _fingerprint(source: Source, spec: ModelSpec, methods, target, layer, labels, metrics) -> dict:
    """What must match for a rerun to continue this run (batch size and engine may change)."""
    fields = {
        "source": source.root,
        "kind": source.kind,
        "inputs": hashlib.sha256("\n".join(source.paths).encode()).hexdigest(),
        "model": json.dumps(asdict(spec), sort_keys=True),
        "methods": list(methods),
        "target": str(target),
        "layer": layer,
        "metrics": bool(metrics),
        "labels": hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest(),
    }
    return {"fields": fields, "hash": hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()}


def _versions(engine: str) -> dict:
    import keras
    import numpy
    import pyarrow
    import tensorflow

    from .. import __version__

    versions = {
        "gradcam": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "pyarrow": pyarrow.__version__,
    }
    if engine == "ray" and "ray" in sys.modules:
        versions["ray"] = sys.modules["ray"].__version__
    return versions
