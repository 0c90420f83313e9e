"""The meeting room in Chromium: the page at a projector's 1280×720, presentation mode stepped with
the arrow keys, and no request to any host but the app's own.

Uses the session's server and browser (tests/e2e/conftest.py); each test opens its own 1280×720
page. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from .conftest import ARTIFACTS, new_page, wait_idle

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_images"
PROJECTOR = {"width": 1280, "height": 720}


@pytest.fixture()
def projector(browser, server):
    """A 1280×720 page of its own context (nothing shared with other tests), with every requested
    URL recorded in ``page.requested``."""
    context = browser.new_context(viewport=PROJECTOR, accept_downloads=True)
    page = new_page(context)
    page.set_default_timeout(120_000)
    page.base_url = server
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    try:
        yield page
    finally:
        context.close()


def heatmap_box(page, label: str = "") -> dict:
    """The heatmap picture's box in the viewport, once it has loaded."""
    page.get_by_text(f"Heatmap · {label}", exact=bool(label)).first.wait_for(state="visible")
    wait_idle(page)
    image = page.locator('[data-testid="stImage"]').filter(has_text="Heatmap ·").locator("img").first
    image.wait_for(state="visible")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    return image.bounding_box()


def press(page, key: str) -> None:
    """Press the presenter bar's arrow key once its button is drawn and enabled. Streamlit binds a
    button's shortcut when the button's own code has loaded and drawn it; on a fresh page that can
    come after the bar's title is on screen, and a key pressed before is lost (as a person's would
    be: the button is not there yet)."""
    button = {"ArrowRight": "gc_next", "ArrowLeft": "gc_prev"}[key]
    page.locator(f".st-key-{button} button:enabled").wait_for(state="visible")
    page.keyboard.press(key)


def inside_viewport(box: dict) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= PROJECTOR["width"]
        and box["y"] + box["height"] <= PROJECTOR["height"]
    )


def portrait_jpeg() -> bytes:
    """A portrait photo (coffee.jpg turned on its side): taller than wide, the hardest case."""
    buffer = io.BytesIO()
    Image.open(SAMPLES / "coffee.jpg").convert("RGB").rotate(90, expand=True).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_heatmap_is_inside_a_1280x720_viewport_on_landing_and_after_an_upload(projector):
    page = projector
    page.goto(page.base_url + "/")
    box = heatmap_box(page, "Egyptian cat")
    page.screenshot(path=str(ARTIFACTS / "meeting_room_landing_1280x720.png"))
    assert inside_viewport(box), f"landing page: heatmap at {box}, viewport {PROJECTOR}"
    titles = page.get_by_text("Grad-CAM Explorer", exact=True).count()
    assert titles <= 1, "the title appears once"

    page.locator('[data-testid="stSidebar"]').get_by_text("Upload", exact=True).click()
    chooser = page.locator('[data-testid="stSidebar"] input[type="file"]').first
    chooser.wait_for(state="attached")
    chooser.set_input_files(files=[{"name": "portrait.jpg", "mimeType": "image/jpeg", "buffer": portrait_jpeg()}])
    page.get_by_text("Original · ").first.wait_for(state="visible")
    box = heatmap_box(page)
    page.screenshot(path=str(ARTIFACTS / "meeting_room_upload_1280x720.png"))
    assert inside_viewport(box), f"after an upload: heatmap at {box}, viewport {PROJECTOR}"
    top = page.locator('[class*="st-key-top_"] button').first.bounding_box()
    assert inside_viewport(top), "the top classes are on screen too"


def test_the_page_requests_nothing_from_other_hosts(projector):
    page = projector
    page.goto(page.base_url + "/?view=classes")
    page.get_by_text("Why ", exact=False).first.wait_for(state="visible")
    wait_idle(page)
    page.get_by_text("Explain", exact=True).first.click()
    heatmap_box(page)
    own = urlparse(page.base_url).netloc
    others = sorted(
        {
            url
            for url in page.requested
            if urlparse(url).scheme in ("http", "https", "ws", "wss") and urlparse(url).netloc != own
        }
    )
    assert len(page.requested) > 5, "the listener saw the page's own requests"
    assert others == [], f"requests to other hosts: {others}"
    icon = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert icon and all(urlparse(href).netloc in ("", own) or href.startswith("data:") for href in icon), icon


def test_presentation_mode_steps_through_a_sequence_with_the_arrow_keys(projector):
    page = projector
    page.goto(page.base_url + "/?present=1")
    page.get_by_text("1 / 4 · The photo").wait_for(state="visible")
    wait_idle(page)
    # the sidebar is hidden (by the presentation style, which can arrive a moment after the bar)
    page.locator('[data-testid="stSidebar"]').wait_for(state="hidden", timeout=15_000)
    page.screenshot(path=str(ARTIFACTS / "meeting_room_present_1.png"))
    press(page, "ArrowRight")
    page.get_by_text("2 / 4 · Top class").wait_for(state="visible")
    box = heatmap_box(page, "Egyptian cat")
    assert inside_viewport(box), f"presenting: heatmap at {box}"
    assert not page.locator(".st-key-colormap").is_visible(), "display controls are hidden"
    page.screenshot(path=str(ARTIFACTS / "meeting_room_present_2.png"))
    press(page, "ArrowRight")
    page.get_by_text("3 / 4 · Class: ", exact=False).wait_for(state="visible")
    press(page, "ArrowRight")
    page.get_by_text("4 / 4 · Compare classes", exact=False).wait_for(state="visible")
    page.get_by_text("Why Egyptian cat rather than tiger cat").first.wait_for(state="visible")
    wait_idle(page)
    assert "step=4" in page.url and "seq=" in page.url
    press(page, "ArrowLeft")
    page.get_by_text("3 / 4 · Class: ", exact=False).wait_for(state="visible")
    page.wait_for_function("() => location.search.includes('step=3')")
