"""The Dataset view (issue 12, "Audit a dataset"): open a run from the configured runs folder and
read its audit — per-class counts, accuracy and mean confidence, each predicted class's mean map,
the classes flagged as border / fixed-spot (a watermark or frame shortcut), SpRAy clusters — then
filter and sort its images in a grid of overlays and open one in the explorer; or run a small ZIP
with the page's model and method.

The analysis is the library's (``gradcam.dataset.report.build_report``, ``gradcam.dataset.browse``);
this module only arranges it. Runs are opened by name inside the runs folder only
(:func:`gradcam.dataset.browse.resolve_run`); an image opened in the explorer travels as the run's
name and the input's number (link parameters ``run`` and ``item``), and is read on the server from
the run's own source. Nothing here imports Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

import gradcam
from gradcam import limits
from gradcam.dataset.browse import (
    RUNS_ENV,
    RowFilter,
    RowTable,
    faithfulness,
    list_runs,
    read_run_image,
    resolve_run,
    run_info,
    run_rows,
    run_signature,
)
from gradcam.dataset.errors import RunAccessError
from gradcam.errors import GradCamError
from gradcam.images import decode_image
from gradcam.words import percent
from gradcam_app import links, loaders
from gradcam_app.settings import runs_folder
from gradcam_app.state import bound, page_state
from gradcam_app.views import DatasetInput
from gradcam_app.views import dataset_explore as explore
from gradcam_app.widgets import USER_MODEL, upload_limit

GRID_COLUMNS = 4
PAGE_SIZE = 12
#: Longest side of a grid picture and of a mean map on the page.
THUMB_SIDE = 256
#: Predicted classes whose mean maps are drawn (the largest first); the table lists them all.
MEAN_MAPS_SHOWN = 12
FLAG_WORDS = {
    "border": "its maps sit in the border band (a frame or edge shortcut?)",
    "fixed_spot": "its maps peak in one off-centre spot (a watermark or logo shortcut?)",
}


def dataset_view(view: DatasetInput) -> None:
    root = runs_folder()
    # The folder's path is the server's business, not a viewer's: the operator's help says how to set it.
    st.caption(
        "Runs are opened from this server's runs folder only.",
        help=f"Whoever runs the server chooses the folder: the environment variable `{RUNS_ENV}`, or `runs_dir` "
        "in `.streamlit/secrets.toml` (default: `runs` in the folder the app starts in).",
    )
    zip_run_ui(view, root)
    name = choose_run(root)
    if name is None:
        return
    st.button(
        "Compare this run with another",
        key="dataset_compare_runs",
        icon=":material/compare:",
        help="The Compare runs view: this run beside another over the same images (another model, method or layer).",
        on_click=view.open_link,
        args=(compare_link(view, name),),
    )
    try:
        path = resolve_run(root, name)
        rows, report, info = audit_cached(str(path), run_signature(path), choose_method(path))
    except GradCamError as exc:
        st.error(str(exc))
        return
    notice, page_state().dataset_notice = page_state().dataset_notice, None
    if notice:
        st.success(notice)
    # A class reclustered with the number of clusters a person chose (beside its eigengap plot):
    # its clusters replace the eigengap's everywhere below (the list, the grid's filter, the map).
    report = explore.chosen_clusters(path, run_signature(path), report)
    summary_ui(report, info)
    if not report["complete"]:
        finish_ui(view, root, name, path)
    classes_ui(path, report)
    explorer_ui(view, name, path, rows, report, info)
    if report["complete"]:
        explore.duplicates_ui(path, run_signature(path), rows, thumbnail)
    errors_ui(rows, report["method"])


#: Set by an Explain button inside the explorer fragment: the next run is the whole page's.
OPEN_PENDING = "dataset_open_pending"


def open_in_explorer(view: DatasetInput, link: links.View) -> None:
    """An Explain button's callback: apply the link, and ask for a run of the whole page (a button
    inside a fragment reruns only the fragment, which cannot switch the view)."""
    view.open_link(link)
    st.session_state[OPEN_PENDING] = True


@st.fragment
def explorer_ui(view: DatasetInput, name: str, path: Path, rows: list[dict], report: dict, info: dict) -> None:
    """The map, the grid it filters and the selection's downloads. A fragment: a selection on the
    map, a filter or a page of the grid reruns this part only, not the audit above it."""
    if st.session_state.pop(OPEN_PENDING, False):
        st.rerun(scope="app")
    signature = run_signature(path)
    index = grid_index(str(path), signature, report["method"], rows, report)
    selected = explore.map_ui(path, signature, rows, report)
    if selected is not None and len(selected) == 1 and next(iter(selected)) in index.by_input:
        row = index.by_input[next(iter(selected))]
        st.button(
            f"Explain {row['path']}",
            key="dataset_map_open",
            icon=":material/search:",
            on_click=open_in_explorer,
            args=(view, explorer_link(view, name, row, info)),
        )
    shown = grid_filters_ui(index, report, selected)
    if shown is not None:
        grid_ui(view, name, path, shown, info)
        explore.selection_downloads_ui(path, shown)


# -- opening a run ---------------------------------------------------------------------------------
def choose_run(root: Path) -> str | None:
    """The run picker over the runs folder; a link's run is checked inside it first (refused with a
    message when it leads outside). Returns the chosen run's name, or None when there is none."""
    state = page_state()
    runs = list_runs(root)
    labels = {entry.name: entry.label for entry in runs}
    wanted, state.pending_run = state.pending_run, None
    if wanted is not None:
        try:
            resolve_run(root, wanted)
        except RunAccessError as exc:
            st.error(f"Link parameter run={wanted!r} refused. {exc}")
        else:
            labels.setdefault(wanted, wanted)
            state.dataset_run = wanted
            st.session_state.pop("dataset_run", None)
    if state.dataset_run and state.dataset_run not in labels and _inside(root, state.dataset_run):
        labels[state.dataset_run] = state.dataset_run  # a nested run a link opened
    if not labels:
        st.info(
            "No runs in this server's runs folder yet. Run a ZIP above, or make one on the server with "
            "`python -m gradcam dataset run SRC --out RUNS_FOLDER/NAME` and reload this page."
        )
        return None
    names = list(labels)
    if state.dataset_run not in names:
        state.dataset_run = names[0]
    return bound(
        "dataset_run",
        "dataset_run",
        lambda: st.selectbox(
            f"Run ({len(runs)} in the runs folder, newest first)", names, key="dataset_run", format_func=labels.get
        ),
        valid=lambda v: v in names,
    )


def _inside(root: Path, name: str) -> bool:
    try:
        resolve_run(root, name)
    except RunAccessError:
        return False
    return True


def choose_method(path: Path, where=st, key: str = "dataset_method") -> str | None:
    """Which method's maps of the run at ``path`` to show, picked in ``where`` (a column or the
    page) when the run has several (None: a run without maps)."""
    methods = run_info(path)["methods"]
    if len(methods) < 2:
        return methods[0] if methods else None
    return where.selectbox(
        "Maps of",
        methods,
        key=key,
        format_func=lambda m: gradcam.METHODS[m].label if m in gradcam.METHODS else m,
    )


@st.cache_resource(show_spinner="Reading the run…", max_entries=4)
def audit_cached(path: str, signature: tuple, method: str | None) -> tuple[list[dict], dict, dict]:
    """The run's rows, its report (mean maps as arrays) and what the explorer needs to reproduce a
    map; ``signature`` (:func:`run_signature`) changes when the run does. Read-only for callers."""
    from gradcam.dataset.report import build_report

    report = build_report(path, method, write=False, partial=True, arrays=True)
    return run_rows(path), report, run_info(path)


# -- the audit ---------------------------------------------------------------------------------------
#: Shares in the audit tables, shown as percentages (the values are multiplied by 100 first, so the
#: columns still sort as numbers).
PERCENT_COLUMNS = {
    name: st.column_config.NumberColumn(name, format="%.1f%%")
    for name in ("accuracy", "mean confidence", "precision", "border share")
}


def as_percent(share: float | None) -> float | None:
    """A share (0 to 1) as a number of percent for :data:`PERCENT_COLUMNS` (None stays empty)."""
    return None if share is None else round(float(share) * 100.0, 4)


def summary_ui(report: dict, info: dict) -> None:
    counts = report["counts"]
    accuracy = report["accuracy"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Inputs", counts["inputs"])
    c2.metric("Explained", counts["ok"])
    c3.metric("Errors", counts["errors"])
    c4.metric(
        "Accuracy",
        f"{accuracy:.1%}" if accuracy is not None else "no labels",
        help=f"over the {counts['labelled']} labelled images"
        if accuracy is not None
        else "The run has no labels file: run with --labels (or upload a labels CSV) to get accuracy.",
    )
    method = gradcam.METHODS[report["method"]].label if report["method"] in gradcam.METHODS else report["method"]
    st.caption(f"Model **{report['model']}** · {method}" + (f" at `{info['layer']}`" if info.get("layer") else ""))
    if not report["complete"]:
        st.warning(
            f"This run is unfinished (interrupted, or still running): showing the {counts['inputs']} rows "
            "committed so far. Run the same `python -m gradcam dataset run` command again to finish it (a run "
            "made from an uploaded ZIP can be finished here); maps are compared at "
            f"{report['input_size'][1]}×{report['input_size'][0]} until then."
        )


def finish_ui(view: DatasetInput, root: Path, name: str, path: Path) -> None:
    """For an unfinished run made from an uploaded ZIP: finish it here, with its own model, method and
    labels (committed rows are kept); or say that it is still working."""
    import model_zoo
    from gradcam.dataset.upload import is_resumable, is_running, resume_zip_upload, run_spec

    if not is_resumable(path):
        if is_running(path):
            st.info("This run is working now (in another tab or process): reload the page to see its progress.")
        return
    if not st.button(
        "Finish this run",
        key="dataset_finish_run",
        help="Explain the images this run has not "
        "explained yet, with the model, method and labels it was started with.",
    ):
        return
    bar = st.progress(0.0, text="Finishing the run…")

    def progress(done: int, total: int, seconds: float) -> None:
        bar.progress(done / max(total, 1), text=f"{done} of {total} images explained · {seconds:.0f} s")

    # the page's model when the run was made with it (no second load), else the run's own
    loaded = view.loaded.zoo
    try:
        same = (run_spec(path).model or model_zoo.DEFAULT_MODEL) == loaded.name
        summary = resume_zip_upload(root, name, model=loaded if same else None, progress=progress)
    except GradCamError as exc:
        st.error(str(exc))
        return
    finally:
        bar.empty()
    # drawn again from the top, now finished; the notice is said there once
    page_state().dataset_notice = (
        f"Run **{name}** finished: {summary.computed} more images explained, "
        f"{summary.already_done} kept ({summary.seconds:.1f} s)."
    )
    st.rerun()


def classes_ui(path: Path, report: dict) -> None:
    """Per-class tables, the flagged classes, mean maps and SpRAy clusters."""
    if report["labels"]:
        st.markdown("**By true class** (labelled images)")
        st.dataframe(
            [
                {
                    "class": f"{c['name']} ({c['index']})",
                    "images": c["count"],
                    "accuracy": as_percent(c["accuracy"]),
                    "mean confidence": as_percent(c["mean_confidence"]),
                }
                for c in report["labels"]
            ],
            hide_index=True,
            column_config=PERCENT_COLUMNS,
        )
    else:
        st.caption("No labels in this run: accuracy and the correct / incorrect filter need a labels file.")
    classes = report["classes"]
    if not classes:
        st.info("No image of this run was explained yet, so there is nothing to audit.")
        return
    st.markdown("**By predicted class**")
    st.dataframe(
        [
            {
                "class": f"{c['name']} ({c['index']})",
                "images": c["count"],
                "mean confidence": as_percent(c["mean_confidence"]),
                "precision": as_percent(c["precision"]),
                "border share": as_percent(c["border_share"]),
                "flags": ", ".join(c["flags"]),
            }
            for c in classes
        ],
        hide_index=True,
        column_config=PERCENT_COLUMNS,
    )
    flags_ui(report)
    mean_maps_ui(classes)
    clusters_ui(path, report)


def flags_ui(report: dict) -> None:
    flagged = [c for c in report["classes"] if c["flags"]]
    thresholds = report["thresholds"]
    for entry in flagged:
        st.warning(
            f"**{entry['name']}** is flagged: "
            + "; ".join(FLAG_WORDS.get(f, f) for f in entry["flags"])
            + ". Look at its mean map and clusters below.",
            icon=":material/flag:",
        )
    if not flagged:
        st.caption(
            f"No class flagged as border or fixed-spot (classes of at least {thresholds['min_class_size']} "
            "images are checked)."
        )


def mean_maps_ui(classes: list[dict]) -> None:
    st.markdown("**Mean map of each predicted class** (at the model's input size; own scale each)")
    shown = classes[:MEAN_MAPS_SHOWN]
    for start in range(0, len(shown), GRID_COLUMNS):
        for column, entry in zip(st.columns(GRID_COLUMNS), shown[start : start + GRID_COLUMNS]):
            flags = f" · ⚑ {', '.join(entry['flags'])}" if entry["flags"] else ""
            column.image(
                map_picture(entry["mean_array"]),
                width="stretch",
                caption=f"{entry['name']} · {entry['count']} images{flags}",
            )
    if len(classes) > MEAN_MAPS_SHOWN:
        st.caption(f"{len(classes) - MEAN_MAPS_SHOWN} smaller classes are in the table only.")


def clusters_ui(path: Path, report: dict) -> None:
    """SpRAy's clusters of one class at a time: its eigengap plot beside the number of clusters
    (the eigengap's choice, or a person's), then each cluster's mean map. One class at a time: a
    run predicting hundreds of classes would otherwise draw thousands of pictures."""
    clustered = [c for c in report["classes"] if c["clusters"]]
    if not clustered:
        st.caption("No SpRAy clusters: a class needs at least 4 explained images to be clustered.")
        return
    st.markdown(
        f"**SpRAy clusters** of a class's maps ({len(clustered)} classes clustered; spectral clustering). The "
        "eigengap plot suggests the number of clusters; choose another beside it to cluster the class again. "
        "Filter the grid below by a cluster to see its images."
    )
    entry = explore.spray_ui(path, report["method"], clustered)
    st.markdown(f"*{entry['name']}*: {len(entry['clusters'])} cluster(s) of {entry['count']} images")
    for start in range(0, len(entry["clusters"]), GRID_COLUMNS):
        for column, cluster in zip(st.columns(GRID_COLUMNS), entry["clusters"][start : start + GRID_COLUMNS]):
            column.image(
                map_picture(cluster["mean_array"]),
                width="stretch",
                caption=f"cluster {cluster['cluster']} · {cluster['size']} images · e.g. "
                + ", ".join(cluster["representatives"]),
            )


def map_picture(heatmap: np.ndarray) -> bytes:
    """A mean map coloured on its own scale, at display size, as JPEG."""
    top = float(heatmap.max())
    scaled = heatmap / top if top > 0 else heatmap
    return loaders.jpeg_bytes(gradcam.colorize(gradcam.render.fit_for_display(scaled, THUMB_SIDE)))


# -- the grid ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridIndex:
    """What the grid's filters need of one run and method, computed once (a selection on the map
    reruns the filters; on a 20,000-image run, each pass of Python over the rows cost tens of
    milliseconds, a dozen of them a large part of the 1 s the selection may take).

    Attributes:
        table: the rows as columns (:class:`gradcam.dataset.browse.RowTable`).
        by_input: the method's explained rows by input index.
        names: class names by index (predicted classes and labels).
        labelled, metrics, scored: whether any row has a label, faithfulness figures, scores.
        true_classes: the labels present, sorted.
        entropy_top: the entropy slider's top (the largest entropy rounded up to 0.1).
    """

    table: RowTable
    by_input: dict[int, dict]
    names: dict[int, str]
    labelled: bool
    metrics: bool
    scored: bool
    true_classes: list[int]
    entropy_top: float


@st.cache_resource(max_entries=4, show_spinner=False)
def grid_index(path: str, signature: tuple, method: str, _rows: list[dict], _report: dict) -> GridIndex:
    """The :class:`GridIndex` of a run's rows of ``method`` (keyed on the run and method; the
    underscored arguments follow from them, as :func:`audit_cached` returns them). Read-only."""
    ok = [r for r in _rows if r["method"] == method and r["status"] == "ok"]
    names = {r["predicted_index"]: r["predicted_name"] for r in ok}
    names.update({c["index"]: c["name"] for c in _report["labels"]})
    entropies = [r["entropy"] for r in ok if r.get("entropy") is not None]
    return GridIndex(
        table=RowTable([r for r in _rows if r["method"] == method]),
        by_input={r["input_index"]: r for r in ok},
        names=names,
        labelled=any(r["label_index"] is not None for r in ok),
        metrics=any(faithfulness(r) is not None for r in ok),
        scored=bool(entropies),
        true_classes=sorted({r["label_index"] for r in ok if r["label_index"] is not None}),
        entropy_top=max(float(np.ceil(max(entropies) * 10) / 10), 0.1) if entropies else 0.1,
    )


def grid_filters_ui(index: GridIndex, report: dict, selected: set[int] | None = None) -> list[dict] | None:
    """The filters and sort; returns the rows they keep (None after a message when a filter cannot
    apply). ``selected``: input indices selected on the map (None: no selection)."""
    method = report["method"]
    if not index.by_input:
        return None
    names, labelled, metrics = index.names, index.labelled, index.metrics
    st.markdown("**Images**")
    c1, c2, c3 = st.columns(3)
    outcome = c1.radio(
        "Outcome",
        ["all", "correct", "incorrect"],
        horizontal=True,
        key="dataset_outcome",
        disabled=not labelled,
        help=None if labelled else "Needs a labels file.",
    )
    true_class = c2.selectbox(
        "True class",
        [None] + index.true_classes,
        key="dataset_true",
        format_func=lambda i: "any" if i is None else f"{names.get(i, i)} ({i})",
    )
    predicted = c3.selectbox(
        "Predicted class",
        [None] + sorted(names),
        key="dataset_predicted",
        format_func=lambda i: "any" if i is None else f"{names[i]} ({i})",
    )
    c4, c5, c6 = st.columns(3)
    confidence = c4.slider(
        "Confidence of the predicted class", 0.0, 1.0, (0.0, 1.0), step=0.05, key="dataset_confidence"
    )
    clusters = {(c["index"], k["cluster"]): (c["name"], k) for c in report["classes"] for k in c["clusters"]}
    cluster = c5.selectbox(
        "SpRAy cluster",
        [None] + list(clusters),
        key="dataset_cluster",
        format_func=lambda key: (
            "any" if key is None else f"{clusters[key][0]} · cluster {key[1]} ({clusters[key][1]['size']} images)"
        ),
    )
    scored = index.scored
    sorts = (
        ["confidence"]
        + (["entropy", "margin"] if scored else [])
        + (["mistakenness", "label_probability"] if scored and labelled else [])
        + (["faithfulness"] if metrics else [])
        + ["input"]
    )
    sort = c6.selectbox(
        "Sort by",
        sorts,
        key="dataset_sort",
        format_func=SORT_WORDS.get,
        help=None if metrics else "Faithfulness needs a run made with --metrics.",
    )
    entropy, mistaken = None, None
    if scored:
        c7, c8 = st.columns(2)
        top = index.entropy_top
        chosen = c7.slider("Entropy (nats)", 0.0, top, (0.0, top), step=0.05, key="dataset_entropy")
        entropy = None if chosen == (0.0, top) else (float(chosen[0]), float(chosen[1]))
        if labelled:
            chosen = c8.slider(
                "Mistakenness",
                0.0,
                1.0,
                (0.0, 1.0),
                step=0.05,
                key="dataset_mistakenness",
                help="FiftyOne's (m · exp(−entropy) + 1) / 2: near 1 when the model confidently contradicts the label.",
            )
            mistaken = None if chosen == (0.0, 1.0) else (float(chosen[0]), float(chosen[1]))
    descending = st.toggle("Highest first", value=True, key="dataset_descending")
    wanted = RowFilter(
        method=method,
        outcome=outcome if labelled else "all",
        true_class=true_class,
        predicted_class=predicted,
        confidence=(float(confidence[0]), float(confidence[1])),
        members=_members(index, clusters[cluster][1]["members"] if cluster is not None else None, selected),
        entropy=entropy,
        mistakenness=mistaken,
        sort=sort,
        descending=descending,
    )
    try:
        return index.table.filter(wanted)
    except GradCamError as exc:
        st.error(str(exc))
        return None


def _members(index: GridIndex, cluster: list[str] | None, selected: set[int] | None) -> frozenset[str] | None:
    """The paths a cluster and a map selection both allow (None: no such filter)."""
    paths = None if cluster is None else set(cluster)
    if selected is not None:
        chosen = {index.by_input[i]["path"] for i in selected if i in index.by_input}
        paths = chosen if paths is None else paths & chosen
    return None if paths is None else frozenset(paths)


SORT_WORDS = {
    "confidence": "confidence",
    "faithfulness": "faithfulness (insertion − deletion AUC)",
    "input": "the run's order",
    "entropy": "entropy (hardness)",
    "margin": "margin (top-1 − top-2)",
    "mistakenness": "mistakenness (label probably wrong)",
    "label_probability": "probability of the label",
}


def grid_ui(view: DatasetInput, name: str, path: Path, shown: list[dict], info: dict) -> None:
    """A page of overlays (image and its map from the run), each with a button that opens it in the explorer."""
    if not shown:
        st.info("No image matches these filters. Widen the confidence range or set a filter back to 'any'.")
        return
    pages = math.ceil(len(shown) / PAGE_SIZE)
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="dataset_page"))
    chunk = shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    st.caption(
        f"{len(shown)} images match · showing {len(chunk)} · click **Explain** to open one in the explorer "
        "with the run's model, method and class"
    )
    signature = run_signature(path)
    for start in range(0, len(chunk), GRID_COLUMNS):
        for column, row in zip(st.columns(GRID_COLUMNS), chunk[start : start + GRID_COLUMNS]):
            with column:
                picture, note = thumbnail(str(path), signature, row["input_index"], row["heatmap_path"])
                st.image(picture, caption=item_caption(row) + (f" · {note}" if note else ""), width="stretch")
                st.button(
                    "Explain",
                    key=f"dataset_open_{row['input_index']}_{row['method']}",
                    icon=":material/search:",
                    on_click=open_in_explorer,
                    args=(view, explorer_link(view, name, row, info)),
                )


def item_caption(row: dict) -> str:
    text = f"{row['path']} · {row['predicted_name']} {percent(row['predicted_probability'])}"
    if row["label_index"] is not None:
        text += " · ✓" if row["label_index"] == row["predicted_index"] else f" · ✗ label {row['label']}"
    if row.get("entropy") is not None:
        text += f" · entropy {row['entropy']:.2f}"
    score = faithfulness(row)
    return text + (f" · faithfulness {score:.2f}" if score is not None else "")


@st.cache_data(show_spinner=False, max_entries=256)
def thumbnail(path: str, signature: tuple, input_index: int, heatmap_path: str) -> tuple[bytes, str]:
    """The image with its map from the run, at grid size, as JPEG; the map alone (and why) when the
    image cannot be read any more."""
    heatmap = np.load(Path(path) / heatmap_path).astype(np.float32)
    small_map = gradcam.render.fit_for_display(heatmap, THUMB_SIDE)
    try:
        _, data = read_run_image(path, input_index)
        pixels = decode_image(data).pixels
    except GradCamError:
        return loaders.jpeg_bytes(gradcam.colorize(small_map)), "image unreadable now: map only"
    small = gradcam.render.fit_for_display(pixels, THUMB_SIDE)
    return loaders.jpeg_bytes(gradcam.render.overlay(small, small_map, "jet", 0.5)), ""


def explorer_link(view: DatasetInput, name: str, row: dict, info: dict) -> links.View:
    """The explorer's view of one row: the run's model (else the page's), method, layer and class,
    the run's name and the input's number, and the page's display settings."""
    state = page_state()
    model = info["model"] if info["model"] in view.model_options else view.model_option
    uses_layer = gradcam.METHODS[row["method"]].uses_layer if row["method"] in gradcam.METHODS else False
    return links.View(
        model=model,
        method=row["method"],
        layer=info["layer"] if uses_layer else None,
        target=str(row["target_index"]),
        view="explain",
        **display_fields(state),
        run=name,
        item=row["input_index"],
    )


def display_fields(state) -> dict:
    """The page's display settings (colour map, opacity, top share, smoothing) as a link's fields."""
    return {
        "colormap": state.colormap,
        "alpha": float(state.alpha),
        "top_percent": int(state.top_percent),
        "aug_smooth": bool(state.smooth),
    }


def compare_link(view: DatasetInput, name: str) -> links.View:
    """The Compare runs view with ``name`` as run A, keeping the page's model, method and display."""
    state = page_state()
    return links.View(
        model=view.model_option,
        method=view.settings.method,
        view="runs",
        **display_fields(state),
        run=name,
    )


def errors_ui(rows: list[dict], method: str) -> None:
    errors = [r for r in rows if r["method"] == method and r["status"] == "error"]
    if errors:
        with st.expander(f"{len(errors)} input(s) could not be explained"):
            for row in errors:
                st.markdown(f"- `{row['path']}`: {row['error']}")


# -- running a ZIP ---------------------------------------------------------------------------------------
def zip_run_ui(view: DatasetInput, root: Path) -> None:
    """Upload a small dataset as a ZIP and explain it with the page's model and method, into a new
    run folder under the runs folder, which then opens."""
    size_mb = limits.MAX_DATASET_UPLOAD_BYTES / 2**20
    with st.expander(
        f"Run a small dataset: a ZIP of at most {limits.MAX_DATASET_UPLOAD_IMAGES} images and {size_mb:.0f} MB"
    ):
        if view.model_option == USER_MODEL:
            st.info(
                "Dataset runs from the page use a zoo model (a run must name a model it can load again). For "
                "your own model, run `python -m gradcam dataset run SRC --out RUN --model your.keras` into "
                "the server's runs folder."
            )
            return
        settings = view.settings
        method = gradcam.METHODS[settings.method].label
        st.caption(
            f"Every file in the ZIP is explained with **{view.loaded.zoo.label}** and **{method}** (the "
            "sidebar's choices) for its top class; a file that is not an image becomes an error row. Larger "
            "datasets: `python -m gradcam dataset run`."
            + (" Augmentation smoothing is not used for dataset runs." if settings.aug_smooth else "")
        )
        archive = st.file_uploader(
            "Images as a ZIP", type=["zip"], key="dataset_zip", **upload_limit(limits.MAX_DATASET_UPLOAD_BYTES)
        )
        labels = st.file_uploader(
            "Labels (optional): a CSV with the columns path,label; path as in the ZIP, label "
            "a class name, index or WordNet id",
            type=["csv"],
            key="dataset_labels",
        )
        if not st.button("Explain every image", key="dataset_run_zip", disabled=archive is None, type="primary"):
            return
        name = run_zip(view, root, archive, labels)
        if name is not None:
            state = page_state()
            state.dataset_run = name
            st.session_state["dataset_run"] = name  # the run picker, drawn below, opens the new run


def run_zip(view: DatasetInput, root: Path, archive, labels) -> str | None:
    """Run the uploaded ZIP with a progress bar; the new run's name, or None after an error message."""
    from gradcam.dataset import ModelSpec
    from gradcam.dataset.upload import run_zip_upload

    bar = st.progress(0.0, text="Checking the ZIP…")

    def progress(done: int, total: int, seconds: float) -> None:
        bar.progress(done / max(total, 1), text=f"{done} of {total} images explained · {seconds:.0f} s")

    settings = view.settings
    try:
        name, summary = run_zip_upload(
            root,
            archive.getvalue(),
            archive.name,
            model=view.loaded.zoo,
            spec=ModelSpec(view.loaded.zoo.name),
            method=settings.method,
            layer=settings.layer,
            labels=labels.getvalue() if labels is not None else None,
            progress=progress,
        )
    except GradCamError as exc:
        st.error(str(exc))
        return None
    finally:
        bar.empty()
    st.success(
        f"Run **{name}**: {summary.inputs} inputs, {summary.ok} explained, {summary.errors} errors "
        f"({summary.seconds:.1f} s). It is open below."
    )
    return name
