"""Audit a dataset: explain every image of a folder, ZIP or list, resumably, on one machine or on
Ray, then analyse the maps (per-class accuracy, border / fixed-spot classes, SpRAy clusters).

    from gradcam.dataset import run_dataset, build_report
    run_dataset("photos/", "runs/photos", methods=["gradcam"], labels="labels.csv")
    report = build_report("runs/photos")        # also writes report.json, PNG mean maps, report.html

The command line: ``python -m gradcam dataset run SRC --out RUN`` and ``... dataset report RUN``.
The web app's Dataset view browses the runs of one folder (:mod:`gradcam.dataset.browse`) and runs
small uploaded ZIPs (:mod:`gradcam.dataset.upload`).
"""

from .browse import RowFilter, filter_rows, list_runs, resolve_run, runs_root
from .errors import DatasetSourceError, EngineUnavailableError, RunAccessError, RunFolderError
from .results import COLUMN_NAMES, RunFolder, border_share, load_embeddings, load_results
from .runner import ENGINES, RunSummary, run_dataset
from .work import ModelSpec


def __getattr__(name: str):
    if name == "build_report":  # the report pulls in scipy; load it on first use
        from .report import build_report

        return build_report
    raise AttributeError(f"module 'gradcam.dataset' has no attribute {name!r}")


__all__ = [
    "COLUMN_NAMES",
    "ENGINES",
    "DatasetSourceError",
    "EngineUnavailableError",
    "ModelSpec",
    "RowFilter",
    "RunAccessError",
    "RunFolder",
    "RunFolderError",
    "RunSummary",
    "border_share",
    "build_report",
    "filter_rows",
    "list_runs",
    "load_embeddings",
    "load_results",
    "resolve_run",
    "run_dataset",
    "runs_root",
]
