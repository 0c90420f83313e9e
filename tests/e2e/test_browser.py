"""End-to-end: a real Chromium drives `streamlit run streamlit_app.py`.

Flows: first open shows a sample explained; upload a photo and wait for its heatmap; change the
class and see the heatmap change; change the colour map with no model call; compare two classes;
download the overlay PNG and the provenance JSON and check their content; open a deep link.
Timings are printed (and listed in the terminal summary), never asserted.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from .conftest import ARTIFACTS, ROOT, record

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SAMPLES = ROOT / "sample_images"


def heatmap_image(page):
    return page.locator('[data-testid="stImage"]').filter(has_text="Heatmap ·").locator("img").first


def wait_heatmap(page, label: str | None = None, timeout: float = 120_000):
    text = f"Heatmap · {label}" if label else "Heatmap ·"
    page.get_by_text(text, exact=bool(label)).first.wait_for(state="visible", timeout=timeout)
    wait_idle(page)


def wait_idle(page, timeout: float = 120_000):
    """Wait until Streamlit has finished running the script (no 'running' status widget)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop/)",
        timeout=timeout)


def wait_count(locator, expected: int, timeout: float = 30.0) -> bool:
    """True once the locator matches exactly ``expected`` elements, False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if locator.count() == expected:
            return True
        time.sleep(0.2)
    return locator.count() == expected


def wait_src_change(page, locator_fn, old: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            src = locator_fn(page).get_attribute("src", timeout=2000)
        except Exception:
            src = None
        if src and src != old:
            return src
        time.sleep(0.02)
    raise AssertionError("the picture did not change")


def server_log() -> str:
    return (ARTIFACTS / "streamlit-server.log").read_text(errors="replace")


def computations() -> int:
    return server_log().count("[gradcam-app] compute ")


def shot(page, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_first_open_shows_a_sample_explained(page, request):
    started = time.monotonic()
    page.goto(page.base_url + "/")
    wait_heatmap(page)
    cold = time.monotonic() - started
    record("first page to first heatmap (this session's first load)", cold,
           "includes TF import, model build/convert and first trace when the server is fresh")
    page.get_by_text("Top predictions").wait_for()
    page.get_by_text("What the model saw").wait_for()
    page.wait_for_selector('[data-testid="stVegaLiteChart"], .vega-embed', timeout=30_000)
    time.sleep(0.5)
    path = shot(page, "01_first_open")
    # The README screenshot (the first-open page, as a newcomer sees it) is refreshed only on
    # request, so that a test run leaves the committed files as they are.
    if os.environ.get("GRADCAM_UPDATE_SCREENSHOT") != "1":
        return
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    with Image.open(path) as picture:
        picture.convert("RGB").crop((0, 0, picture.width, min(picture.height, 1100))).save(
            docs / "screenshot.png", optimize=True)
    for step in ("smaller", "fewer colours"):  # keep the committed picture under 400 KB
        if (docs / "screenshot.png").stat().st_size <= 400_000:
            break
        with Image.open(docs / "screenshot.png") as picture:
            picture.load()
        if step == "smaller":
            picture = picture.resize((picture.width * 4 // 5, picture.height * 4 // 5), Image.LANCZOS)
        else:
            picture = picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        picture.save(docs / "screenshot.png", optimize=True)


def test_upload_class_change_colormap_compare_and_downloads(page, tmp_path):
    page.goto(page.base_url + "/")
    wait_heatmap(page)

    # -- upload a photo: time from choosing the file to its heatmap on screen
    page.locator('[data-testid="stSidebar"]').get_by_text("Upload", exact=True).click()
    chooser = page.locator('[data-testid="stSidebar"] input[type="file"]').first
    chooser.wait_for(state="attached")
    started = time.monotonic()
    chooser.set_input_files(str(SAMPLES / "coffee.jpg"))
    wait_heatmap(page, "espresso")
    record("upload -> heatmap visible (model cached)", time.monotonic() - started, "coffee.jpg, Grad-CAM")
    shot(page, "02_uploaded")

    # -- change the class with one click on a top-k button: the heatmap changes
    before = heatmap_image(page).get_attribute("src")
    second = page.locator('[data-testid="stButton"] button').filter(has_text="%").nth(1)
    name = second.inner_text().split(" · ")[0].strip()
    started = time.monotonic()
    second.click()
    wait_heatmap(page, name)
    after = wait_src_change(page, heatmap_image, before)
    record("class change -> new heatmap", time.monotonic() - started, f"espresso -> {name}")
    assert after != before
    shot(page, "03_class_changed")

    # -- colour map change: a fragment redraw, no model computation, no full page run
    computed, runs = computations(), server_log().count("[gradcam-app] page run")
    before = heatmap_image(page).get_attribute("src")
    started = time.monotonic()
    colormap = page.locator('[data-testid="stSelectbox"]').filter(has_text="Colour map")
    colormap.click()
    page.get_by_role("option", name="viridis", exact=True).click()
    wait_src_change(page, heatmap_image, before)
    record("colour map change -> redrawn", time.monotonic() - started, "fragment only")
    wait_idle(page)
    assert computations() == computed, "a colour map change must not call the model"
    assert server_log().count("[gradcam-app] page run") == runs, "a colour map change must not rerun the page"
    shot(page, "04_viridis")

    # -- downloads: overlay PNG and provenance JSON
    with page.expect_download() as info:
        page.get_by_role("button", name="Overlay PNG").click()
    png = tmp_path / "overlay.png"
    info.value.save_as(png)
    with Image.open(png) as picture:
        assert picture.format == "PNG"
        assert picture.size == Image.open(SAMPLES / "coffee.jpg").size
        assert picture.mode == "RGB"
    record_path = tmp_path / "record.json"
    for _ in range(10):  # the redraw streams the pictures first and the download buttons last
        with page.expect_download() as info:
            page.get_by_role("button", name="Provenance JSON").click()
        info.value.save_as(record_path)
        data = json.loads(record_path.read_text())
        if data["display"].get("colormap") == "viridis":
            break
        time.sleep(0.3)
    assert data["model"]["name"] == "efficientnet-lite0"
    assert len(data["model"]["weights_sha256"]) == 64
    assert data["image"]["name"] == "coffee.jpg"
    assert data["explanation"]["method"] == "gradcam"
    assert data["explanation"]["target_name"] == name
    assert data["explanation"]["layer"]
    assert data["display"]["colormap"] == "viridis"
    assert data["versions"]["tensorflow"] and data["versions"]["streamlit"]
    assert data["probabilities_top"][0]["name"] == "espresso"

    # -- compare two classes on one scale, plus "why A rather than B"
    started = time.monotonic()
    page.get_by_text("Compare classes", exact=True).click()
    page.get_by_text("peak 100% of the strongest").first.wait_for(timeout=60_000)
    page.get_by_text("Why espresso rather than", exact=False).first.wait_for(timeout=60_000)
    record("switch to compare classes -> 3 maps", time.monotonic() - started, "2 classes + contrast")
    wait_idle(page)
    # Captions can arrive after the panels' titles: wait for them rather than count at once.
    assert wait_count(page.get_by_text("of the strongest"), 2)
    assert wait_count(page.get_by_text("own scale", exact=True), 1)
    shot(page, "05_compare_classes")


def test_deep_link_reproduces_a_view(page):
    started = time.monotonic()
    page.goto(page.base_url + "/?model=efficientnet-lite0&sample=coffee.jpg&class=tea%20cup&method=gradcam%2B%2B")
    wait_heatmap(page, "tea cup")
    record("deep link -> heatmap", time.monotonic() - started, "coffee.jpg, tea cup, Grad-CAM++")
    assert "method=gradcam%2B%2B" in page.url or "method=gradcam++" in page.url
    assert "class=tea" in page.url
    shot(page, "06_deep_link")
