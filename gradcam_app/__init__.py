"""Grad-CAM Explorer's web app: the Streamlit page and its views.

The engine (``gradcam``) explains and the zoo (``model_zoo``) loads models; this package only
arranges them on a page. ``streamlit_app.py`` at the repository root is the entry point for
``streamlit run``; the ``gradcam-app`` console script serves the same page from an installed
package.
"""

from __future__ import annotations

from pathlib import Path


def samples_dir() -> Path:
    """The folder of sample photos: inside the installed package, else the repository's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sample_images", here.parent / "sample_images"):
        if candidate.is_dir():
            return candidate
    return here.parent / "sample_images"
