"""The gallery ZIP: every uploaded image explained for its top class, in one archive (the
library's gallery ZIP: the same provenance schema as a single download)."""

from __future__ import annotations

import streamlit as st

from gradcam import export
from gradcam.errors import GradCamError
from gradcam.sensitivity import compare_to_top
from gradcam_app import loaders
from gradcam_app.downloads import bundle_for
from gradcam_app.loaders import ImageItem, Loaded
from gradcam_app.state import page_state
from gradcam_app.views import ViewInput
from gradcam_app.widgets import Settings


def gallery_zip_ui(loaded: Loaded, items: list[ImageItem], settings: Settings) -> None:
    if len(items) < 2:
        return
    st.divider()
    if not st.button(f"Explain all {len(items)} images and build a ZIP", key="build_zip"):
        return
    state = page_state()
    display = {"colormap": state.colormap, "alpha": float(state.alpha), "top_fraction": state.top_percent / 100}
    entries: list = []
    for item in items:
        try:
            decoded = loaders.decode_cached(item.key, item.name, item.data)
            (e,), _ = loaders.run_explain(
                loaded, item, decoded.pixels, settings.method, settings.layer, settings.aug_smooth, [None]
            )
        except GradCamError as exc:
            entries.append(export.GalleryFailure(item.name, str(exc)))
            continue
        # Each map is its image's top class: its record says so ("top class", similarity 1).
        view = ViewInput(loaded, item, decoded, settings, e.probabilities, ())
        entries.append(bundle_for(e, view, display, compare_to_top(e, e)))
    st.download_button(
        f"ZIP of {len(items)} images (each its top class)",
        export.gallery_zip(entries),
        file_name="gradcam_gallery.zip",
        mime="application/zip",
        on_click="ignore",
        key="dl_zip",
        icon=":material/folder_zip:",
    )
