"""The Dataset view's explorer (issue 21): the map of a run linked to its grid, the selection's
downloads, SpRAy's eigengap plot beside the number of clusters, and duplicate pairs side by side.
(Two runs compared are a view of their own: :mod:`gradcam_app.views.compare_runs`.)

The map is a Vega-Lite scatter plot (``st.vega_lite_chart``) with Streamlit's selection events: a box (drag) selects the
points inside it, a click selects one point (Vega-Lite has no lasso; Plotly would, but it is not a
dependency here and its hover cannot show pictures). The selection filters the grid below; one
selected point also gets an "Explain" button, as in the grid. Hovering a point shows its
path, classes and scores, and its image with its overlay on runs of at most
:data:`HOVER_PICTURES` explained images (each picture travels inside the chart).

Computing is the library's (:mod:`gradcam.dataset.layout`, :mod:`gradcam.dataset.duplicates`,
:mod:`gradcam.dataset.comparison`); this module arranges it.
"""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

import gradcam
from gradcam.errors import GradCamError

#: Runs with at most this many explained images get a picture in each point's hover.
HOVER_PICTURES = 300
#: Longest side of a hover picture.
HOVER_SIDE = 96
#: Most images a selection's ZIP holds.
ZIP_LIMIT = 200
#: Duplicate pairs shown side by side.
PAIRS_SHOWN = 12
COLOURS = {
    "class": "predicted class",
    "outcome": "correct or incorrect",
    "cluster": "SpRAy cluster",
    "entropy": "entropy",
}
LAYOUTS = {"embedding": "what the network sees (embeddings)", "explanation": "where it looks (explanations)"}
CHART_KEY = "dataset_map_chart"


@st.cache_resource(show_spinner="Laying out the map…", max_entries=4)
def map_cached(path: str, signature: tuple, method: str, recompute_token: int) -> list[dict]:
    """The run's map (:func:`gradcam.dataset.layout.compute_map`), read back or computed.
    Shared, not copied (a copy of 20,000 points per selection cost a third of a second): read-only."""
    from gradcam.dataset.layout import compute_map

    return compute_map(path, method, recompute=recompute_token > 0).to_pylist()


def stored_map(path: Path, method: str) -> bool:
    """Whether the run holds a map of ``method`` already."""
    import json

    meta = path / "map.json"
    return meta.exists() and (path / "map.parquet").exists() and json.loads(meta.read_text()).get("method") == method


def point_records(
    points: list[dict], rows: list[dict], report: dict, layout: str, colour: str, pictures: dict[int, str]
) -> list[dict]:
    """One record per point of the chosen layout, with what the chart colours and shows on hover.

    ``pictures``: data URIs of hover pictures by input index (empty on large runs)."""
    by_index = {r["input_index"]: r for r in rows if r["method"] == report["method"] and r["status"] == "ok"}
    cluster_of = {}
    for entry in report["classes"]:
        for cluster in entry["clusters"]:
            for member in cluster["members"]:
                cluster_of[member] = f"{entry['name']} · {cluster['cluster']}"
    records = []
    for point in points:
        row = by_index.get(point["input_index"])
        x, y = point[f"{layout}_x"], point[f"{layout}_y"]
        if row is None or x is None or y is None:
            continue
        labelled = row["label_index"] is not None
        outcome = (
            ("correct" if row["label_index"] == row["predicted_index"] else "incorrect") if labelled else "no label"
        )
        record = {
            "input_index": row["input_index"],
            "x": x,
            "y": y,
            "path": row["path"],
            "class": row["predicted_name"],
            "outcome": outcome,
            "cluster": cluster_of.get(row["path"], "none"),
            "entropy": row.get("entropy"),
            "confidence": row["predicted_probability"],
            "label": row["label"] or "",
        }
        if row["input_index"] in pictures:
            record["image"] = pictures[row["input_index"]]
        records.append(record)
    return records


def map_spec(records: list[dict], colour: str) -> dict:
    """The Vega-Lite spec of the scatter: box selection ("box"), click selection ("pick"), hover
    tooltip. Written as a plain dict rather than through Altair, whose validation of a spec
    with 20,000 inline points took 39 s here; the points travel as a table beside it."""
    if colour == "entropy":
        color = {"field": "entropy", "type": "quantitative", "scale": {"scheme": "viridis"}, "title": "entropy (nats)"}
    else:
        color = {"field": colour, "type": "nominal", "title": COLOURS[colour], "legend": {"symbolLimit": 20}}
    tooltip = [
        {"field": "path", "type": "nominal"},
        {"field": "class", "type": "nominal"},
        {"field": "label", "type": "nominal"},
        {"field": "confidence", "type": "quantitative", "format": ".2f"},
        {"field": "entropy", "type": "quantitative", "format": ".2f"},
        {"field": "cluster", "type": "nominal"},
    ]
    if records and "image" in records[0]:
        tooltip.append({"field": "image", "type": "nominal"})  # vega-tooltip draws "image" as a picture
    # Padding keeps the outermost points inside the frame, whole.
    scale = {"zero": False, "padding": 12}
    return {
        "mark": {"type": "circle", "size": 36, "opacity": 0.8},
        "params": [
            {"name": "box", "select": {"type": "interval", "encodings": ["x", "y"]}},
            {"name": "pick", "select": {"type": "point", "fields": ["input_index"], "on": "click"}},
        ],
        "encoding": {
            "x": {"field": "x", "type": "quantitative", "axis": None, "scale": scale},
            "y": {"field": "y", "type": "quantitative", "axis": None, "scale": scale},
            "color": color,
            "tooltip": tooltip,
        },
        "height": 420,
    }


#: The name of the chart's table in its spec.
POINTS = "points"


@dataclass(frozen=True)
class ChartData:
    """The map chart of one run, layout and colour, made once: its spec, its table already as
    Arrow IPC bytes (Streamlit passes bytes through instead of converting 20,000 rows at every
    selection), and the columns a box selection is tested against.

    Attributes:
        spec: the Vega-Lite spec, its table named :data:`POINTS` under ``datasets``.
        input_index, x, y: (n,) arrays of the points, in the table's order.
    """

    spec: dict
    input_index: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def empty(self) -> bool:
        return len(self.input_index) == 0


@st.cache_resource(max_entries=4, show_spinner=False)
def chart_data(
    path: str,
    signature: tuple,
    method: str,
    token: int,
    layout: str,
    colour: str,
    chosen: tuple,
    _points: list[dict],
    _rows: list[dict],
    _report: dict,
    _pictures: dict[int, str],
) -> ChartData:
    """The chart's :class:`ChartData`, built once per run, map, layout, colour and the classes
    clustered with a chosen number of clusters (``chosen``: (class, k) pairs); keyed on those, the
    underscored arguments follow from them. Read-only for callers: on a 20,000-image run,
    building the table again on every selection cost more than the selection."""
    import pyarrow as pa

    records = point_records(_points, _rows, _report, layout, colour, _pictures)
    table = pa.Table.from_pylist(records)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    spec = map_spec(records, colour) | {"data": {"name": POINTS}, "datasets": {POINTS: sink.getvalue().to_pybytes()}}

    def column(name: str, kind) -> np.ndarray:
        return np.asarray([r[name] for r in records], kind)

    return ChartData(spec, column("input_index", np.int64), column("x", np.float64), column("y", np.float64))


def selected_indices(event, chart: ChartData) -> set[int] | None:
    """The input indices a chart event selects (None: nothing selected). A box keeps the points
    of ``chart`` inside its x and y ranges; a click keeps the points it names."""
    selection = (event or {}).get("selection") or {}
    chosen: set[int] | None = None
    box = selection.get("box") or {}
    if box.get("x") and box.get("y"):
        (x0, x1), (y0, y1) = sorted(box["x"]), sorted(box["y"])
        inside = (chart.x >= x0) & (chart.x <= x1) & (chart.y >= y0) & (chart.y <= y1)
        chosen = set(chart.input_index[inside].tolist())
    picked = {int(p["input_index"]) for p in selection.get("pick") or [] if "input_index" in p}
    if picked:
        chosen = picked if chosen is None else chosen | picked
    return chosen


@st.cache_data(show_spinner="Drawing the hover pictures…", max_entries=4)
def hover_pictures(path: str, signature: tuple, items: tuple[tuple[int, str], ...]) -> dict[int, str]:
    """Data URIs of small overlays (image and map) by input index, for the chart's hover."""
    from gradcam.dataset.browse import read_run_image
    from gradcam.images import decode_image
    from gradcam_app import loaders

    pictures = {}
    for index, heatmap_path in items:
        heatmap = np.load(Path(path) / heatmap_path).astype(np.float32)
        small_map = gradcam.render.fit_for_display(heatmap, HOVER_SIDE)
        try:
            pixels = decode_image(read_run_image(path, index)[1]).pixels
            picture = gradcam.render.overlay(gradcam.render.fit_for_display(pixels, HOVER_SIDE), small_map, "jet", 0.5)
        except GradCamError:
            picture = gradcam.colorize(small_map)
        pictures[index] = "data:image/jpeg;base64," + base64.b64encode(loaders.jpeg_bytes(picture)).decode()
    return pictures


def map_ui(path: Path, signature: tuple, rows: list[dict], report: dict) -> set[int] | None:
    """The map of the run and its selection; returns the selected input indices (None: none)."""
    method = report["method"]
    if not report["complete"]:
        st.caption("The map of the dataset needs a finished run.")
        return None
    st.markdown("**Map of the dataset** (each point an image; drag a box or click a point to filter the grid)")
    stored = stored_map(path, method)
    c1, c2, c3 = st.columns([2, 2, 1])
    layout = c1.radio("Layout", list(LAYOUTS), format_func=LAYOUTS.get, horizontal=True, key="dataset_map_layout")
    colour = c2.selectbox("Colour by", list(COLOURS), format_func=COLOURS.get, key="dataset_map_colour")
    token = st.session_state.get("dataset_map_recompute", 0)
    if not stored and not c3.button("Compute the map", key="dataset_map_compute", help="t-SNE; stored in the run"):
        st.caption("No map stored in this run yet (or `gradcam dataset map RUN` from the command line).")
        return None
    if stored and c3.button("Recompute", key="dataset_map_again", help="Lay the map out again (t-SNE)"):
        token = st.session_state["dataset_map_recompute"] = token + 1
    try:
        points = map_cached(str(path), signature, method, token)
    except GradCamError as exc:
        st.error(str(exc))
        return None
    pictures = {}
    if report["counts"]["ok"] <= HOVER_PICTURES:  # a pass over the rows only for a small run
        ok = [r for r in rows if r["method"] == method and r["status"] == "ok"]
        pictures = hover_pictures(str(path), signature, tuple((r["input_index"], r["heatmap_path"]) for r in ok))
    chosen = tuple((c["index"], len(c["clusters"])) for c in report["classes"] if "auto_k" in c)
    chart = chart_data(str(path), signature, method, token, layout, colour, chosen, points, rows, report, pictures)
    if chart.empty:
        st.info("This layout has no points (the run kept no embeddings: made before they existed?).")
        return None
    event = st.vega_lite_chart(
        chart.spec,
        on_select="rerun",
        selection_mode=["box", "pick"],
        key=CHART_KEY,
        width="stretch",
    )
    chosen = selected_indices(event, chart)
    if chosen is not None:
        st.caption(f"{len(chosen)} images selected on the map: the grid below shows them only.")
    return chosen


#: The largest number of clusters a person may choose for a class (and never more than its images).
MAX_CHOSEN_CLUSTERS = 12
#: Session state: the numbers of clusters people chose, by (run folder, method, class index).
CHOSEN_K = "dataset_chosen_k"


@st.cache_resource(show_spinner="Clustering the class again…", max_entries=32)
def recluster_cached(path: str, signature: tuple, method: str, class_index: int, k: int) -> dict:
    """:func:`gradcam.dataset.report.recluster_class` (mean maps as arrays), once per run, method,
    class and k. Read-only for callers."""
    from gradcam.dataset.report import recluster_class

    return recluster_class(path, class_index, k, method, arrays=True)


def chosen_clusters(path: Path, signature: tuple, report: dict) -> dict:
    """``report`` with each class whose number of clusters a person chose (:func:`spray_ui`)
    clustered again with that number; its entry keeps the eigengap's choice as ``auto_k``. The
    report itself is shared (cached) and not changed: a changed copy is returned."""
    chosen = st.session_state.get(CHOSEN_K, {})
    wanted = {index: k for (run, method, index), k in chosen.items() if run == str(path) and method == report["method"]}
    if not wanted:
        return report
    classes = []
    for entry in report["classes"]:
        k = wanted.get(entry["index"])
        if k is None or not entry["clusters"] or k == len(entry["clusters"]):
            classes.append(entry)
            continue
        try:
            again = recluster_cached(str(path), signature, report["method"], entry["index"], k)
        except GradCamError as exc:
            st.error(str(exc))
            classes.append(entry)
            continue
        auto = len(entry["clusters"])
        classes.append(entry | {"clusters": again["clusters"], "eigenvalues": again["eigenvalues"], "auto_k": auto})
    return report | {"classes": classes}


def _k_key(path: Path, method: str, index: int) -> str:
    """The number input's key for one class of one run (a run's own key: a class index of another
    run must not carry its number over)."""
    import zlib

    return f"dataset_k_{zlib.crc32(f'{path}|{method}'.encode()):08x}_{index}"


def _remember_k(key: str, slot: tuple) -> None:
    st.session_state.setdefault(CHOSEN_K, {})[slot] = int(st.session_state[key])


def spray_ui(path: Path, method: str, clustered: list[dict]) -> dict:
    """A class picker and the number of clusters beside the class's eigengap plot (SpRAy's
    smallest Laplacian eigenvalues: the largest gap after the k-th suggests k). Returns the
    chosen class's entry (reclustered when a person chose its k: see :func:`chosen_clusters`)."""
    by_index = {c["index"]: c for c in clustered}
    plot, choice = st.columns([3, 1])
    index = choice.selectbox(
        "Class",
        list(by_index),
        key="dataset_eigengap_class",
        format_func=lambda i: f"{by_index[i]['name']} ({by_index[i]['count']} images)",
    )
    entry = by_index[index]
    auto = entry.get("auto_k", len(entry["clusters"]))
    slot = (str(path), method, index)
    top = min(entry["count"], MAX_CHOSEN_CLUSTERS)
    key = _k_key(path, method, index)
    k = choice.number_input(
        "Number of clusters",
        min_value=1,
        max_value=top,
        value=min(st.session_state.get(CHOSEN_K, {}).get(slot, auto), top),
        step=1,
        key=key,
        on_change=_remember_k,
        args=(key, slot),
        help=f"The eigengap suggests {auto}: the largest gap between the k-th and (k+1)-th smallest eigenvalue "
        "of the maps' graph Laplacian. Choose another number to cluster this class again (1 to "
        f"{top}).",
    )
    choice.caption(f"eigengap's choice: {auto}" + ("" if k == auto else f" · yours: {k}"))
    with plot:
        eigengap_chart(entry["eigenvalues"], auto, int(k))
    return entry


def eigengap_chart(eigenvalues: list[float], auto: int, chosen: int) -> None:
    """The smallest eigenvalues against k, with the eigengap's k (red) and a chosen k (blue, dashed)."""
    import altair as alt

    values = [{"k": i + 1, "eigenvalue": v} for i, v in enumerate(eigenvalues)]
    marks = [{"k": auto, "which": "eigengap's choice"}] + (
        [{"k": chosen, "which": "your choice"}] if chosen != auto else []
    )
    line = alt.Chart(alt.Data(values=values)).mark_line(point=True).encode(x="k:O", y="eigenvalue:Q")
    rule = (
        alt.Chart(alt.Data(values=marks))
        .mark_rule(strokeWidth=2)
        .encode(
            x="k:O",
            color=alt.Color(
                "which:N",
                scale=alt.Scale(domain=["eigengap's choice", "your choice"], range=["red", "#1f77b4"]),
                title=None,
            ),
            strokeDash=alt.StrokeDash("which:N", legend=None),
        )
    )
    st.altair_chart((line + rule).properties(height=180), width="stretch")


def selection_downloads_ui(path: Path, shown: list[dict]) -> None:
    """The grid's rows (the selection, after the filters) as CSV, or as a ZIP of images and overlays."""
    if not shown:
        return
    c1, c2 = st.columns(2)
    # Both files are made when their button is pressed (a callable), not on every selection.
    c1.download_button(
        f"Download these {len(shown)} as CSV",
        lambda: selection_csv(shown),
        file_name=f"{path.name}-selection.csv",
        mime="text/csv",
        key="dataset_selection_csv",
    )
    if len(shown) > ZIP_LIMIT:
        c2.caption(f"A ZIP holds at most {ZIP_LIMIT} images: narrow the selection to download pictures.")
        return
    c2.download_button(
        f"Download these {len(shown)} as a ZIP of images and overlays",
        lambda: selection_zip(path, shown),
        file_name=f"{path.name}-selection.zip",
        mime="application/zip",
        key="dataset_selection_zip",
    )


def selection_csv(rows: list[dict]) -> bytes:
    """path, label, prediction and scores of each row, as CSV bytes."""
    columns = [
        "path",
        "label",
        "predicted_name",
        "predicted_index",
        "predicted_probability",
        "entropy",
        "margin",
        "label_probability",
        "mistakenness",
        "method",
        "heatmap_path",
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buffer.getvalue().encode()


def selection_zip(path: Path, rows: list[dict]) -> bytes:
    """The rows' images as read from the run's source and their overlays (PNG), plus the CSV."""
    from PIL import Image

    from gradcam.dataset.browse import read_run_image
    from gradcam.images import decode_image

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("selection.csv", selection_csv(rows))
        for row in rows[:ZIP_LIMIT]:
            heatmap = np.load(path / row["heatmap_path"]).astype(np.float32)
            stem = f"{row['input_index']:07d}-{Path(row['path']).stem}"
            try:
                name, data = read_run_image(path, row["input_index"])
                pixels = decode_image(data).pixels
            except GradCamError:
                picture = gradcam.colorize(heatmap)
            else:
                archive.writestr(f"images/{stem}{Path(name).suffix}", data)
                picture = gradcam.render.overlay(pixels, heatmap, "jet", 0.5)
            png = io.BytesIO()
            Image.fromarray(picture).save(png, "PNG")
            archive.writestr(f"overlays/{stem}.png", png.getvalue())
    return buffer.getvalue()


def duplicates_ui(path: Path, signature: tuple, rows: list[dict], thumbnail) -> None:
    """Duplicate pairs of the run side by side (RUN/duplicates.parquet), or a button to find them."""
    from gradcam.dataset.duplicates import DEFAULT_THRESHOLD, find_duplicates, read_duplicates

    st.markdown("**Duplicates** (the same bytes, or embeddings at least this similar)")
    c1, c2 = st.columns([3, 1])
    threshold = c1.slider("Threshold (cosine)", 0.5, 1.0, DEFAULT_THRESHOLD, 0.01, key="dataset_dup_threshold")
    table = read_duplicates(path)
    if c2.button("Find duplicates", key="dataset_dup_find"):
        try:
            table = find_duplicates(path, threshold=threshold)
        except GradCamError as exc:
            st.error(str(exc))
            return
    if table is None:
        st.caption("No duplicate search in this run yet (or `gradcam dataset duplicates RUN`).")
        return
    pairs = table.to_pylist()
    st.caption(f"{len(pairs)} pairs ({sum(p['kind'] == 'exact' for p in pairs)} exact).")
    by_path = {r["path"]: r for r in rows if r["status"] == "ok"}
    for pair in pairs[:PAIRS_SHOWN]:
        columns = st.columns(2)
        for column, side in zip(columns, ("path_a", "path_b")):
            row = by_path.get(pair[side])
            if row is None:  # the other run's input (a leak check): named, not drawn
                column.caption(pair[side])
                continue
            picture, _ = thumbnail(str(path), signature, row["input_index"], row["heatmap_path"])
            column.image(picture, caption=f"{pair[side]} · {pair['kind']} {pair['similarity']:.3f}", width="stretch")
