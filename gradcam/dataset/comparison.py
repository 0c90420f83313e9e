"""Two runs side by side: the same inputs (paired by ``sha256``, the bytes' digest) through two
models, two methods or two layers.

``compare_runs(RUN_A, RUN_B, OUT)`` writes ``OUT/comparison.parquet``, one row per input in both
runs:

- ``sha256``, ``path`` (run A's path; ``path_b`` is run B's, which may differ);
- ``predicted_index_a``, ``predicted_index_b`` and ``prediction_agrees`` (the same class: by
  index when both models have the same class list, by name otherwise);
- ``map_agreement``: Spearman's rank correlation of the two heatmaps on a 56x56 grid, the very
  function :func:`gradcam.compare_models` uses (:func:`gradcam.compare.rank_correlation`); null
  when a map is flat (no positive evidence);
- ``entropy_a``, ``entropy_b`` (:mod:`gradcam.dataset.scores`), then ``path_b``,
  ``predicted_name_a``, ``predicted_name_b``.

and ``OUT/comparison.json`` (the report: agreement rate, mean map agreement, agreement per class,
the inputs where the runs disagree most, the inputs found in one run only) with
``OUT/comparison.html``. Inputs in one run only are counted and listed, never an error.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np

from .errors import RunFolderError
from .results import RunFolder, write_atomic

COLUMNS = (
    "sha256",
    "path",
    "predicted_index_a",
    "predicted_index_b",
    "prediction_agrees",
    "map_agreement",
    "entropy_a",
    "entropy_b",
    "path_b",
    "predicted_name_a",
    "predicted_name_b",
)
#: Inputs listed as those where the runs disagree most.
MOST_DISAGREEING = 20


def _run(run: str | os.PathLike, method: str | None) -> tuple[RunFolder, dict, list[dict], str]:
    import pyarrow.parquet as pq

    folder = RunFolder(run)
    if not folder.is_complete():
        raise RunFolderError(
            f"{run}: not a finished run (results.parquet and run.json are missing). Finish it with "
            "'gradcam dataset run SRC --out RUN' first."
        )
    info = json.loads(folder.run_json_path.read_text())
    method = method or info["methods"][0]
    if method not in info["methods"]:
        raise RunFolderError(f"{run}: the run has no {method!r} maps; it has {', '.join(info['methods'])}.")
    rows = [r for r in pq.read_table(folder.results_path).to_pylist() if r["method"] == method]
    return folder, info, rows, method


def compare_runs(
    run_a: str | os.PathLike,
    run_b: str | os.PathLike,
    out: str | os.PathLike,
    *,
    method_a: str | None = None,
    method_b: str | None = None,
) -> dict:
    """Compare two finished runs input by input; writes ``OUT/comparison.parquet``,
    ``comparison.json`` and ``comparison.html`` (see the module docstring) and returns the report.

    Args:
        run_a, run_b: finished run folders (any models, methods, layers).
        out: the folder to write into (created).
        method_a, method_b: which method's maps of each run (default each run's first).

    Raises:
        RunFolderError: a run that is not finished, or lacks the method asked for.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..compare import AGREEMENT_GRID, rank_correlation

    folder_a, info_a, rows_a, method_a = _run(run_a, method_a)
    folder_b, info_b, rows_b, method_b = _run(run_b, method_b)
    same_classes = info_a["model"]["class_names"] == info_b["model"]["class_names"]

    def by_hash(rows: list[dict]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for row in rows:
            if row["status"] == "ok" and row["sha256"]:
                found.setdefault(row["sha256"], row)  # a file twice in one run: its first copy
        return found

    ok_a, ok_b = by_hash(rows_a), by_hash(rows_b)
    shared = [h for h in ok_a if h in ok_b]
    records = []
    for digest in shared:
        a, b = ok_a[digest], ok_b[digest]
        map_a = np.load(folder_a.root / a["heatmap_path"]).astype(np.float32)
        map_b = np.load(folder_b.root / b["heatmap_path"]).astype(np.float32)
        agrees = (
            a["predicted_index"] == b["predicted_index"]
            if same_classes
            else a["predicted_name"].strip().lower() == b["predicted_name"].strip().lower()
        )
        records.append(
            {
                "sha256": digest,
                "path": a["path"],
                "predicted_index_a": a["predicted_index"],
                "predicted_index_b": b["predicted_index"],
                "prediction_agrees": bool(agrees),
                "map_agreement": rank_correlation(map_a, map_b, AGREEMENT_GRID),
                "entropy_a": a.get("entropy"),
                "entropy_b": b.get("entropy"),
                "path_b": b["path"],
                "predicted_name_a": a["predicted_name"],
                "predicted_name_b": b["predicted_name"],
            }
        )
    schema = pa.schema(
        [
            ("sha256", pa.string()),
            ("path", pa.string()),
            ("predicted_index_a", pa.int64()),
            ("predicted_index_b", pa.int64()),
            ("prediction_agrees", pa.bool_()),
            ("map_agreement", pa.float64()),
            ("entropy_a", pa.float64()),
            ("entropy_b", pa.float64()),
            ("path_b", pa.string()),
            ("predicted_name_a", pa.string()),
            ("predicted_name_b", pa.string()),
        ]
    )
    table = pa.Table.from_pylist(records, schema=schema)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    write_atomic(out / "comparison.parquet", buffer.getvalue().to_pybytes())

    def only(ok: dict, other: dict, rows: list[dict]) -> list[str]:
        listed = [ok[h]["path"] for h in ok if h not in other]
        # Inputs that could not be read have no digest to pair by: they count as in one run only.
        return listed + [r["path"] for r in rows if r["status"] != "ok" or not r["sha256"]]

    only_a, only_b = only(ok_a, ok_b, rows_a), only(ok_b, ok_a, rows_b)
    report = {
        "run_a": {"path": str(folder_a.root), "model": info_a["model"]["name"], "method": method_a},
        "run_b": {"path": str(folder_b.root), "model": info_b["model"]["name"], "method": method_b},
        "paired": len(records),
        "agreement_rate": float(np.mean([r["prediction_agrees"] for r in records])) if records else None,
        "mean_map_agreement": _mean([r["map_agreement"] for r in records]),
        "per_class": _per_class(records),
        "most_disagreeing": _most_disagreeing(records),
        "only_in_a": {"count": len(only_a), "paths": only_a},
        "only_in_b": {"count": len(only_b), "paths": only_b},
        "grid": list(AGREEMENT_GRID),
    }
    write_atomic(out / "comparison.json", json.dumps(report, indent=1).encode())
    write_atomic(out / "comparison.html", _html(report).encode())
    return report


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def _per_class(records: list[dict]) -> list[dict]:
    """Per class predicted by run A: inputs, share whose run-B prediction agrees, mean map agreement."""
    groups: dict[int, list[dict]] = {}
    for record in records:
        groups.setdefault(record["predicted_index_a"], []).append(record)
    return [
        {
            "index": int(index),
            "name": group[0]["predicted_name_a"],
            "count": len(group),
            "agreement_rate": float(np.mean([r["prediction_agrees"] for r in group])),
            "mean_map_agreement": _mean([r["map_agreement"] for r in group]),
        }
        for index, group in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    ]


def _most_disagreeing(records: list[dict]) -> list[dict]:
    """Different predictions first, then the least agreeing maps (a flat map counts as least)."""

    def key(r: dict):
        rho = r["map_agreement"]
        return (r["prediction_agrees"], -2.0 if rho is None else rho, r["path"])

    # sha256 and path_b let a front end find the input in both runs (to draw the two maps).
    keys = ("path", "predicted_name_a", "predicted_name_b", "prediction_agrees", "map_agreement", "path_b", "sha256")
    return [{k: r[k] for k in keys} for r in sorted(records, key=key)[:MOST_DISAGREEING]]


def _html(report: dict) -> str:
    def cell(value) -> str:
        if value is None:
            return "–"
        return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))

    a, b = report["run_a"], report["run_b"]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Comparison of two runs</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;text-align:left}</style>",
        f"<h1>{html.escape(a['model'])} ({html.escape(a['method'])}) vs {html.escape(b['model'])} "
        f"({html.escape(b['method'])})</h1>",
        f"<p>{report['paired']} inputs in both runs; predictions agree on {cell(report['agreement_rate'])}; "
        f"mean map agreement (Spearman, 56x56) {cell(report['mean_map_agreement'])}. "
        f"In run A only: {report['only_in_a']['count']}; in run B only: {report['only_in_b']['count']}.</p>",
        "<h2>Per class (run A's prediction)</h2><table><tr><th>class</th><th>inputs</th><th>agreement</th>"
        "<th>mean map agreement</th></tr>",
    ]
    parts += [
        f"<tr><td>{html.escape(c['name'])} ({c['index']})</td><td>{c['count']}</td>"
        f"<td>{cell(c['agreement_rate'])}</td><td>{cell(c['mean_map_agreement'])}</td></tr>"
        for c in report["per_class"]
    ]
    parts.append(
        "</table><h2>Where the runs disagree most</h2><table><tr><th>path</th><th>run A</th><th>run B</th>"
        "<th>map agreement</th></tr>"
    )
    parts += [
        f"<tr><td>{html.escape(r['path'])}</td><td>{html.escape(r['predicted_name_a'])}</td>"
        f"<td>{html.escape(r['predicted_name_b'])}</td><td>{cell(r['map_agreement'])}</td></tr>"
        for r in report["most_disagreeing"]
    ]
    parts.append("</table>")
    for key, title in (("only_in_a", "In run A only"), ("only_in_b", "In run B only")):
        if report[key]["paths"]:
            parts.append(f"<h2>{title}</h2><p>{html.escape(', '.join(report[key]['paths']))}</p>")
    return "\n".join(parts)


__all__ = ["COLUMNS", "compare_runs"]
