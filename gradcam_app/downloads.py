"""The download buttons. Their files are built when a person clicks (Streamlit's deferred
downloads), never on every run: a 12-megapixel overlay PNG alone takes seconds and ~30 MB."""
from __future__ import annotations

from typing import Any

import streamlit as st

import gradcam
from gradcam import export
from gradcam_app.widgets import blend


def provenance_for(explanation, view, display: dict) -> dict:
    """The provenance record of one map on the page (the library's schema)."""
    info = gradcam.METHODS[explanation.method]
    return export.provenance(explanation, model=view.loaded.zoo, image_name=view.item.name,
                             image_sha256=view.item.sha256, image_size=view.decoded.original_size,
                             method_label=info.label, method_paper=info.paper,
                             options={"aug_smooth": view.settings.aug_smooth}, display=display)


def _bundle(view, explanation, display: dict) -> Any | None:
    """The library's lazy export bundle, when this version of the library has one."""
    make = getattr(export, "export_bundle", None)
    if make is None:
        return None
    return make(explanation, image=view.decoded.pixels, image_name=view.item.name,
                image_sha256=view.item.sha256, model=view.loaded.zoo, display=display)


def explanation_buttons(view, explanation, display: dict) -> None:
    """Overlay PNG, heatmap .npy, provenance JSON and (with the library's bundle) the HTML report."""
    bundle = _bundle(view, explanation, display)
    common = {"on_click": "ignore", "icon": ":material/download:", "width": "stretch"}
    if bundle is not None:
        files = [("Overlay PNG", bundle.png, bundle.filename("png"), "image/png", "dl_png"),
                 ("Heatmap .npy", bundle.heatmap_npy, bundle.filename("npy"), "application/octet-stream", "dl_npy"),
                 ("Provenance JSON", bundle.provenance_json, bundle.filename("json"), "application/json", "dl_json"),
                 ("HTML report", bundle.html, bundle.filename("html"), "text/html", "dl_html")]
    else:
        pixels, heatmap = view.decoded.pixels, explanation.heatmap
        colormap, alpha, fraction = display["colormap"], display["alpha"], display["top_fraction"]
        stem = f"{export.safe_stem(view.item.name)}_{export.safe_stem(explanation.target_name)}_{explanation.method}"
        files = [("Overlay PNG", lambda: export.png_bytes(blend(pixels, heatmap, colormap, alpha, fraction)),
                  f"{stem}_overlay.png", "image/png", "dl_png"),
                 ("Heatmap .npy", lambda: export.npy_bytes(heatmap), f"{stem}_heatmap.npy",
                  "application/octet-stream", "dl_npy"),
                 ("Provenance JSON", lambda: export.json_bytes(provenance_for(explanation, view, display)),
                  f"{stem}.json", "application/json", "dl_json")]
    for column, (label, data, name, mime, key) in zip(st.columns(len(files)), files):
        column.download_button(label, data, file_name=name, mime=mime, key=key, **common)
