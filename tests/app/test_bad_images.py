"""Every bad or awkward image of the hardening issue through the web app (Streamlit AppTest, no
browser): a refused file gets one error box with the one-line message and the rest of the page
keeps working (the previous image's result is still shown); a file that works joins the gallery
and is explained, with its decode notes shown."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.helpers.bad_inputs import ROOT, Refused, bad_inputs  # noqa: E402

pytestmark = pytest.mark.slow
GOOD = ("coffee.jpg", (ROOT / "sample_images" / "coffee.jpg").read_bytes(), "image/jpeg")


def heatmap_caption(at) -> str | None:
    for image in at.get("image"):
        for img in image.proto.imgs:
            if img.caption.startswith("Heatmap · "):
                return img.caption
    return None


def test_every_bad_input_gets_an_error_box_and_the_page_keeps_working(monkeypatch):
    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "1")
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=240)
    at.run()
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="uploads").set_value([GOOD]).run()
    assert heatmap_caption(at) == "Heatmap · espresso"
    failures = []
    for name, data, outcome in bad_inputs():
        at.file_uploader(key="uploads").set_value([GOOD, (name, data, "application/octet-stream")]).run()
        if at.exception:
            failures.append(f"{name}: exception {[str(e.value) for e in at.exception]}")
            continue
        errors = [str(e.value) for e in at.error]
        if isinstance(outcome, Refused):
            if (
                len(errors) != 1
                or not errors[0].startswith(f"{name}: ")
                or outcome.fragment not in errors[0]
                or "\n" in errors[0]
            ):
                failures.append(f"{name}: error boxes {errors}")
            if heatmap_caption(at) != "Heatmap · espresso":  # the good image's result is still there
                failures.append(f"{name}: the previous result is gone ({heatmap_caption(at)})")
            continue
        gallery = at.radio(key="gallery")
        label = f"2. {name}"
        if errors or gallery.options != ["1. coffee.jpg", label]:
            failures.append(f"{name}: errors {errors}, gallery {gallery.options}")
            continue
        gallery.set_value(label).run()
        caption = heatmap_caption(at)
        if at.exception or at.error or not caption:
            failures.append(f"{name}: not explained ({[str(e.value) for e in [*at.exception, *at.error]]})")
        elif outcome.note and not any(outcome.note in c.value for c in at.caption):
            failures.append(f"{name}: note {outcome.note!r} not shown")
        gallery.set_value("1. coffee.jpg").run()
    assert not failures, "\n".join(failures)
