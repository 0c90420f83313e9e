"""Driving the page with Streamlit's AppTest: open it (with a deep link's query), read its problems,
its heatmap and its overlay panels."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


APP = str(ROOT / "streamlit_app.py")


SAMPLES = ROOT / "sample_images"


def new_app(*, default_timeout: float = 240, **query) -> AppTest:
    """The page in AppTest, opened with a deep link's ``query`` (not yet run)."""
    at = AppTest.from_file(APP, default_timeout=default_timeout)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def problems(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


def heatmap(at: AppTest):
    """(caption, url) of the heatmap picture on the explain view."""
    for image in at.get("image"):
        for img in image.proto.imgs:
            if img.caption.startswith("Heatmap · "):
                return img.caption, img.url
    raise AssertionError("no heatmap on the page")


def overlay_panels(at: AppTest) -> list[str]:
    return [img.caption for image in at.get("image") for img in image.proto.imgs]
