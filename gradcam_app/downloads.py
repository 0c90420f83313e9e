"""The download buttons. Their files come from the library's lazy export bundle and are built when
a person clicks (Streamlit's deferred downloads), never on every run: a 12-megapixel overlay PNG
alone takes seconds and ~30 MB."""

from __future__ import annotations

import streamlit as st

import gradcam
from gradcam import export
from gradcam_app import share
from gradcam_app.state import page_state
from gradcam_app.views.trust import computed_report

#: (label, kind, widget key) of the single-map downloads, in the order they appear.
BUTTONS = (
    ("Overlay PNG", "png", "dl_png"),
    ("Heatmap .npy", "npy", "dl_npy"),
    ("Provenance JSON", "json", "dl_json"),
    ("Report", "html", "dl_html"),
)


def bundle_for(explanation, view, display: dict, evaluation=None, sensitivity=None) -> export.ExportBundle:
    """The lazy export bundle (PNG, NPY, provenance JSON, HTML report) of one map on the page
    (``evaluation``: its faithfulness figures, when computed; ``sensitivity``: its class sensitivity)."""
    info = gradcam.METHODS[explanation.method]
    return export.export_bundle(
        explanation,
        image=view.decoded.pixels,
        image_name=view.item.name,
        image_sha256=view.item.sha256,
        model=view.loaded.zoo,
        display=display,
        image_size=view.decoded.original_size,
        method_label=info.label,
        method_paper=info.paper,
        options={"aug_smooth": view.settings.aug_smooth},
        evaluation=evaluation,
        sensitivity=sensitivity,
        trust=computed_report(view, explanation),
    )


def evaluation_of(state, view, explanation):
    """The faithfulness figures the page computed for this very map (same image, model, layer,
    class and method), or None: read when the report is built, after the panel may have run."""
    from gradcam_app.views.faithfulness import explained_target

    if not state.faithfulness:
        return None
    context, results = state.faithfulness
    if tuple(context[:4]) != (view.item.key, view.loaded.key, view.settings.layer, explained_target(explanation)):
        return None
    return results.get(explanation.method)


def explanation_buttons(view, explanation, display: dict, sensitivity=None) -> None:
    """Overlay PNG, heatmap .npy, provenance JSON and the self-contained HTML report, side by side,
    each built when clicked (``sensitivity``: the map's class sensitivity, which the JSON and the report carry)."""
    bundle = bundle_for(explanation, view, display, sensitivity=sensitivity)
    state = page_state()  # a deferred download runs outside the page's run: the state is read then

    def report() -> bytes:
        found = evaluation_of(state, view, explanation)
        if found is None:
            return bundle.html()
        return bundle_for(explanation, view, display, found, sensitivity).html()

    # Every file is built when its button is pressed, not with the page: an eager PNG and .npy cost
    # each page run tens of milliseconds and kept about a megabyte per session on the server.
    builders = {"png": bundle.png, "npy": bundle.heatmap_npy, "json": bundle.provenance_json, "html": report}
    columns = st.columns(len(BUTTONS) + 1)
    with columns[-1]:
        share.copy_link_button()
    for column, (label, kind, key) in zip(columns, BUTTONS):
        column.download_button(
            label,
            builders[kind],
            file_name=bundle.filename(kind),
            mime=bundle.mime(kind),
            key=key,
            on_click="ignore",
            icon=":material/download:",
            width="stretch",
            help="A one-page report that opens with a plain summary, the pictures inline, to send to someone"
            if kind == "html"
            else None,
        )


def report_row(view, explanations: list, heatmaps: list, title: str, key: str, display: dict) -> None:
    """A compare view's "Report" download (every panel's map in one self-contained page, built when
    clicked) and the Copy link button beside it."""
    from gradcam.report import html_report

    if not explanations:
        return

    def build() -> bytes:
        first = explanations[0]
        info = gradcam.METHODS.get(first.method)
        record = export.provenance(
            first,
            model=view.loaded.zoo,
            image_name=view.item.name,
            image_sha256=view.item.sha256,
            image_size=view.decoded.original_size,
            display=display,
            method_label=info.label if info else first.method,
            method_paper=info.paper if info else "",
        )
        page = html_report(
            explanations,
            image=view.decoded.pixels,
            model=view.loaded.zoo,
            image_name=view.item.name,
            display=display,
            record=record,
            heatmaps=heatmaps,
            title=f"{title}: {view.item.name}",
        )
        return page.encode("utf-8")

    stem = export.safe_stem(view.item.name, "image")
    c1, c2, _ = st.columns([1, 1, 2])
    c1.download_button(
        "Report",
        build,
        file_name=f"{stem}_{key}_report.html",
        mime="text/html",
        key=f"dl_report_{key}",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
        help="A one-page report of this comparison that opens with a plain summary, to send to someone",
    )
    with c2:
        share.copy_link_button()
