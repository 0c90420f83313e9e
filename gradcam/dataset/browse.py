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


def read_run_image(run: str | os.PathLike, input_index: int) -> tuple[str, bytes]:
    """``(path, bytes)`` of input ``input_index`` of a run, read from the run's source (the folder,
    ZIP or list it was made from, as its manifest records).

    Raises:
        RunAccessError: no such input in this run.
        ImageError: the file cannot be read any more (the source moved or changed).
    """
    from .sources import Reader, Source

    manifest = RunFolder(run).read_manifest() or {}
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

    Raises:
        GradCamError: an unknown outcome or sort, a confidence range that is not within [0, 1] with
            low <= high, or a faithfulness sort on rows that have no metrics.
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
    if wanted.members is not None:  # a selection first: on a large run it is the cheapest cut
        rows = [r for r in rows if r["path"] in wanted.members]
    kept = [r for r in rows if r["status"] == "ok" and _keeps(r, wanted)]
    if wanted.sort in SCORE_SORTS:
        scored = [r for r in kept if r.get(wanted.sort) is not None]
        unscored = [r for r in kept if r.get(wanted.sort) is None]
        return sorted(scored, key=lambda r: (r[wanted.sort], -r["input_index"]), reverse=wanted.descending) + unscored
    if wanted.sort == "faithfulness":
        if not any(faithfulness(r) is not None for r in kept):
            raise GradCamError(
                "These rows have no faithfulness figures: the run was made without --metrics. "
                "Sort by confidence, or run again with --metrics."
            )
        scored = [r for r in kept if faithfulness(r) is not None]
        unscored = [r for r in kept if faithfulness(r) is None]
        return sorted(scored, key=lambda r: (faithfulness(r), -r["input_index"]), reverse=wanted.descending) + unscored
    if wanted.sort == "confidence":
        return sorted(kept, key=lambda r: (r["predicted_probability"], -r["input_index"]), reverse=wanted.descending)
    return sorted(kept, key=lambda r: r["input_index"], reverse=wanted.descending)


def _keeps(row: dict, wanted: RowFilter) -> bool:
    if wanted.method is not None and row["method"] != wanted.method:
        return False
    labelled = row["label_index"] is not None
    correct = labelled and row["label_index"] == row["predicted_index"]
    if (wanted.outcome == "correct" and not correct) or (wanted.outcome == "incorrect" and (not labelled or correct)):
        return False
    if wanted.true_class is not None and row["label_index"] != wanted.true_class:
        return False
    if wanted.predicted_class is not None and row["predicted_index"] != wanted.predicted_class:
        return False
    low, high = wanted.confidence
    if not low <= row["predicted_probability"] <= high:
        return False
    for column, bounds in (("entropy", wanted.entropy), ("mistakenness", wanted.mistakenness)):
        if bounds is not None and (row.get(column) is None or not bounds[0] <= row[column] <= bounds[1]):
            return False
    return wanted.members is None or row["path"] in wanted.members


__all__ = [
    "DEFAULT_RUNS_DIR",
    "OUTCOMES",
    "RUNS_ENV",
    "SCORE_SORTS",
    "SORTS",
    "RowFilter",
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
