"""The gallery ZIP: every uploaded image explained for its top class, in one archive."""
from __future__ import annotations

import streamlit as st

from gradcam import export
from gradcam.errors import GradCamError
from gradcam_app import loaders
from gradcam_app.downloads import provenance_for
from gradcam_app.loaders import ImageItem, Loaded
from gradcam_app.state import page_state
from gradcam_app.views import ViewInput
from gradcam_app.widgets import Settings, blend


def gallery_zip_ui(loaded: Loaded, items: list[ImageItem], settings: Settings) -> None:
    if len(items) < 2:
        return
    st.divider()
    if not st.button(f"Explain all {len(items)} images and build a ZIP", key="build_zip"):
        return
    state = page_state()
    display = {"colormap": state.colormap, "alpha": float(state.alpha), "top_fraction": state.top_percent / 100}
    files: dict[str, bytes] = {}
    for number, item in enumerate(items, 1):
        try:
            decoded = loaders.decode_cached(item.key, item.name, item.data)
            (e,), _ = loaders.run_explain(loaded, item, decoded.pixels, settings.method, settings.layer,
                                          settings.aug_smooth, [None])
        except GradCamError as exc:
            files[f"{number:02d}_{export.safe_stem(item.name)}_ERROR.txt"] = (str(exc) + "\n").encode()
            continue
        stem = f"{number:02d}_{export.safe_stem(item.name)}"
        view = ViewInput(loaded, item, decoded, settings, e.probabilities, ())
        files[f"{stem}_overlay.png"] = export.png_bytes(
            blend(decoded.pixels, e.heatmap, display["colormap"], display["alpha"], display["top_fraction"]))
        files[f"{stem}_heatmap.npy"] = export.npy_bytes(e.heatmap)
        files[f"{stem}.json"] = export.json_bytes(provenance_for(e, view, display))
    st.download_button(f"ZIP of {len(items)} images (each its top class)", export.zip_bytes(files),
                       file_name="gradcam_gallery.zip", mime="application/zip", on_click="ignore",
                       key="dl_zip", icon=":material/folder_zip:")

