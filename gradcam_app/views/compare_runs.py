"""The "Compare runs" view (issue 21, "two runs side by side"): two runs of the runs folder over
the same inputs (other models, methods or layers), paired by the inputs' bytes. It shows the
agreement rate and the mean map agreement, the inputs found in one run only, agreement per class,
the inputs where the runs disagree most as pictures side by side (run A's overlay beside run
B's), and ``comparison.parquet`` to download.

The comparison is the library's (:func:`gradcam.dataset.comparison.compare_runs`, as
``gradcam dataset compare RUN_A RUN_B --out DIR`` makes it); it is written into run A's folder
(``RUN_A/comparisons/...``) and read back from there while both runs are unchanged, so a link
to a comparison already made opens it at once. The link carries the two runs as ``run`` and
``run_b``; run A is the run the Dataset view has open, and that view links here.
"""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from gradcam.dataset.browse import list_runs, resolve_run, run_rows, run_signature
from gradcam.dataset.errors import RunAccessError
from gradcam.errors import GradCamError
from gradcam_app.settings import runs_folder
from gradcam_app.state import bound, page_state
from gradcam_app.views import DatasetInput
from gradcam_app.views.dataset import PERCENT_COLUMNS, as_percent, choose_method, thumbnail

#: Inputs of "where the runs disagree most" drawn as pictures (the table lists all of them).
PAIRS_DRAWN = 8


def run_picker(column, label: str, widget: str, field: str, options: list[str]) -> str:
    """A run picker in ``column`` bound to the page state's ``field`` (the link's run), which
    starts at the first of ``options`` when it holds none of them."""
    state = page_state()
    if getattr(state, field) not in options:
        setattr(state, field, options[0])
    return bound(widget, field, lambda: column.selectbox(label, options, key=widget), valid=lambda v: v in options)


def compare_runs_view(view: DatasetInput) -> None:
    root = runs_folder()
    st.caption("Two runs over the same images (other models, methods or layers), paired by the images' bytes.")
    names = [entry.name for entry in list_runs(root)]
    state = page_state()
    for field, pending, widget in (
        ("dataset_run", "pending_run", "compare_run_a"),
        ("compare_run_b", "pending_run_b", "compare_run_b"),
    ):
        wanted = getattr(state, pending)
        setattr(state, pending, None)
        if wanted is None:
            continue
        try:
            resolve_run(root, wanted)
        except RunAccessError as exc:
            st.error(f"Link parameter {'run' if field == 'dataset_run' else 'run_b'}={wanted!r} refused. {exc}")
            continue
        if wanted not in names:
            names.append(wanted)  # a nested run a link names
        setattr(state, field, wanted)
        st.session_state.pop(widget, None)  # the picker starts from the link's run
    if len(names) < 2:
        st.info(
            "Comparing needs two runs in this server's runs folder: make a second one over the same images with "
            "another model, method or layer (`python -m gradcam dataset run SRC --out RUNS_FOLDER/NAME`)."
        )
        return
    c1, c2 = st.columns(2)
    first = run_picker(c1, "Run A", "compare_run_a", "dataset_run", names)
    second = run_picker(c2, "Run B", "compare_run_b", "compare_run_b", [n for n in names if n != first])
    try:
        path_a, path_b = resolve_run(root, first), resolve_run(root, second)
        method_a = choose_method(path_a, c1, "compare_method_a")
        method_b = choose_method(path_b, c2, "compare_method_b")
    except GradCamError as exc:
        st.error(str(exc))
        return
    out = comparison_folder(path_a, second, method_a, method_b)
    report = stored_comparison(out, path_a, path_b)
    if report is None:
        if not st.button("Compare", key="compare_runs_go", type="primary", help="Reads every map of both runs once"):
            st.caption(
                "Not compared yet (or a run changed since). The comparison is kept in run A's folder, so it "
                "is made once."
            )
            return
        from gradcam.dataset.comparison import compare_runs

        try:
            with st.spinner("Comparing the two runs, input by input…"):
                report = compare_runs(path_a, path_b, out, method_a=method_a, method_b=method_b)
        except GradCamError as exc:
            st.error(str(exc))
            return
    report_ui(report, first, second, path_a, path_b, out)


def comparison_folder(path_a: Path, name_b: str, method_a: str | None, method_b: str | None) -> Path:
    """Where the comparison of run A (its ``method_a`` maps) with run ``name_b`` is kept: inside run A."""
    methods = f"--{method_a}--{method_b}" if method_a and method_b else ""
    return path_a / "comparisons" / (name_b.replace("/", "__") + methods)


def stored_comparison(out: Path, path_a: Path, path_b: Path) -> dict | None:
    """The comparison kept in ``out``, when it was made after both runs last changed (None: make it)."""
    meta = out / "comparison.json"
    if not meta.exists() or not (out / "comparison.parquet").exists():
        return None
    made = meta.stat().st_mtime_ns
    if any(run_signature(p)[0] != "complete" or run_signature(p)[1] > made for p in (path_a, path_b)):
        return None
    return json.loads(meta.read_text())


@st.cache_resource(show_spinner=False, max_entries=4)
def rows_by_path(path: str, signature: tuple, method: str) -> dict[str, dict]:
    """A run's explained rows of ``method`` by input path. Read-only for callers."""
    return {r["path"]: r for r in run_rows(path) if r["method"] == method and r["status"] == "ok"}


def report_ui(report: dict, first: str, second: str, path_a: Path, path_b: Path, out: Path) -> None:
    """The comparison's figures, tables and pictures, and its Parquet file."""
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Inputs in both", report["paired"])
    rate = report["agreement_rate"]
    m2.metric("Predictions agree", "–" if rate is None else f"{rate:.0%}")
    rho = report["mean_map_agreement"]
    m3.metric("Mean map agreement", "–" if rho is None else f"{rho:+.2f}", help="Spearman's rho on a 56×56 grid")
    m4.metric("In one run only", f"{report['only_in_a']['count']} / {report['only_in_b']['count']}")
    st.caption(
        f"Run A: {report['run_a']['model']} · {report['run_a']['method']} · run B: {report['run_b']['model']} · "
        f"{report['run_b']['method']}"
    )
    st.markdown("**Per class** (run A's prediction)")
    st.dataframe(
        [
            {
                "class": f"{c['name']} ({c['index']})",
                "images": c["count"],
                "predictions agree": as_percent(c["agreement_rate"]),
                "mean map agreement": c["mean_map_agreement"],
            }
            for c in report["per_class"]
        ],
        hide_index=True,
        column_config=PERCENT_COLUMNS
        | {"predictions agree": st.column_config.NumberColumn("predictions agree", format="%.1f%%")},
    )
    disagreeing = report["most_disagreeing"]
    st.markdown("**Where the runs disagree most** (different predictions first, then the least agreeing maps)")
    pairs_ui(disagreeing[:PAIRS_DRAWN], first, second, path_a, path_b, report)
    st.dataframe(disagreeing, hide_index=True)
    st.download_button(
        "Download comparison.parquet",
        (out / "comparison.parquet").read_bytes(),
        file_name=f"comparison-{Path(first).name}-{Path(second).name}.parquet",
        key="compare_runs_download",
    )
    if report["only_in_a"]["paths"] or report["only_in_b"]["paths"]:
        st.caption(
            f"In {first} only: {', '.join(report['only_in_a']['paths'][:20]) or 'none'}. "
            f"In {second} only: {', '.join(report['only_in_b']['paths'][:20]) or 'none'}."
        )


def pairs_ui(pairs: list[dict], first: str, second: str, path_a: Path, path_b: Path, report: dict) -> None:
    """Each input twice, side by side: run A's overlay, run B's overlay (each run's own map)."""
    if not pairs:
        st.caption("No input is in both runs.")
        return
    sig_a, sig_b = run_signature(path_a), run_signature(path_b)
    rows_a = rows_by_path(str(path_a), sig_a, report["run_a"]["method"])
    rows_b = rows_by_path(str(path_b), sig_b, report["run_b"]["method"])
    for pair in pairs:
        rho = pair["map_agreement"]
        verdict = "same prediction" if pair["prediction_agrees"] else "**different predictions**"
        left, right, words = st.columns([1, 1, 2])
        words.markdown(
            f"`{pair['path']}`  \n{verdict}: {pair['predicted_name_a']} / {pair['predicted_name_b']}  \n"
            f"map agreement {'–' if rho is None else f'{rho:+.2f}'} (Spearman's rho, 56×56)"
        )
        for column, rows, path, signature, key, name in (
            (left, rows_a, path_a, sig_a, "path", first),
            (right, rows_b, path_b, sig_b, "path_b", second),
        ):
            # path_b is missing from a comparison made before it was kept: the same path in run B, if any
            row = rows.get(pair.get(key) or pair["path"])
            if row is None:
                column.caption(f"{name}: {pair.get(key) or pair['path']} (not in this run now)")
                continue
            picture, note = thumbnail(str(path), signature, row["input_index"], row["heatmap_path"])
            side = "A" if key == "path" else "B"
            column.image(
                picture,
                caption=f"{side} · {name}: {row['predicted_name']}" + (f" · {note}" if note else ""),
                width="stretch",
            )
