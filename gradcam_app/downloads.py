"""The download buttons. Their files come from the library's lazy export bundle and are built when
a person clicks (Streamlit's deferred downloads), never on every run: a 12-megapixel overlay PNG
alone takes seconds and ~30 MB."""

from __future__ import annotations

import streamlit as st

import gradcam
from gradcam import export

#: (label, kind, widget key) of the single-map downloads, in the order they appear.
BUTTONS = (
    ("Overlay PNG", "png", "dl_png"),
    ("Heatmap .npy", "npy", "dl_npy"),
    ("Provenance JSON", "json", "dl_json"),
    ("HTML report", "html", "dl_html"),
)


def bundle_for(explanation, view, display: dict, sensitivity=None) -> export.ExportBundle:
    """The lazy export bundle (PNG, NPY, provenance JSON, HTML report) of one map on the page."""
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
        sensitivity=sensitivity,
    )


#: Up to this many pixels the PNG, .npy and JSON are built with the page (tens of milliseconds);
#: larger photos get them built on click. (Deferred downloads are not yet seen as downloads by the
#: browser tests, so ordinary photos keep plain ones.)
EAGER_PIXELS = 2_000_000


def explanation_buttons(view, explanation, display: dict, sensitivity=None) -> None:
    """Overlay PNG, heatmap .npy, provenance JSON and the self-contained HTML report, side by side
    (``sensitivity``: the map's class sensitivity, which the JSON and the report carry)."""
    bundle = bundle_for(explanation, view, display, sensitivity)
    builders = {"png": bundle.png, "npy": bundle.heatmap_npy, "json": bundle.provenance_json, "html": bundle.html}
    height, width = view.decoded.pixels.shape[:2]
    if height * width <= EAGER_PIXELS:
        builders = {kind: build() if kind != "html" else build for kind, build in builders.items()}
    for column, (label, kind, key) in zip(st.columns(len(BUTTONS)), BUTTONS):
        column.download_button(
            label,
            builders[kind],
            file_name=bundle.filename(kind),
            mime=bundle.mime(kind),
            key=key,
            on_click="ignore",
            icon=":material/download:",
            width="stretch",
            help="A one-page report with the pictures inline, to send to someone" if kind == "html" else None,
        )
