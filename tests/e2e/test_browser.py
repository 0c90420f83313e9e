"""End-to-end: a real Chromium drives the app as `python3 run.py app` serves it (gradcam_app.serve).

Flows: first open shows a sample explained; upload a photo and wait for its heatmap; change the
class and see the heatmap change; change the colour map with no model call; compare two classes;
download the overlay PNG and the provenance JSON and check their content; open a deep link.
Timings are printed (and listed in the terminal summary), never asserted.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from .conftest import (
    ARTIFACTS,
    ROOT,
    browser_seconds,
    download,
    new_page,
    record,
    record_median,
    start_server,
    stop_server,
    wait_idle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SAMPLES = ROOT / "sample_images"
REPEAT = 5  # each timing is the median of this many measurements


def variants(name: str, count: int, size: tuple[int, int] | None = None) -> list[bytes]:
    """``count`` JPEGs of a sample photo (optionally resized), each cropped a little differently
    (1.5% more off the left each time), so that each upload is a new image with its own heatmap
    rather than a cache hit or an identical picture."""
    with Image.open(SAMPLES / name) as picture:
        base = picture.convert("RGB")
    out = []
    for number in range(1, count + 1):
        left = int(base.width * 0.015 * number)
        copy = base.crop((left, 0, base.width, base.height)).resize(size or base.size, Image.BICUBIC)
        buffer = io.BytesIO()
        copy.save(buffer, format="JPEG", quality=92)
        out.append(buffer.getvalue())
    return out


def fresh_uploader(page) -> None:
    """An empty uploader: switch the source to Sample and back to Upload (the uploader keeps adding
    files otherwise, and a page that is not drawn forgets them)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Sample", exact=True).click()
    page.locator('[data-testid="stSidebar"] input[type="file"]').first.wait_for(state="detached")
    wait_heatmap(page)
    sidebar.get_by_text("Upload", exact=True).click()
    page.get_by_text("Upload one or several images").first.wait_for(state="visible")
    wait_idle(page)


def upload_timings(page, files: list[bytes], name: str, label: str) -> tuple[list[float], list[float]]:
    """Seconds from choosing each file to its heatmap on screen (each on an empty uploader, so that
    each measurement is one new image, not a gallery): by the browser's clock and by the test's."""
    samples, test_clock = [], []
    for number, data in enumerate(files):
        if number:
            fresh_uploader(page)
        chooser = page.locator('[data-testid="stSidebar"] input[type="file"]').first
        chooser.wait_for(state="attached")
        started = time.monotonic()
        chooser.set_input_files(files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
        page.get_by_text(f"Heatmap · {label}", exact=True).first.wait_for(state="visible")
        src = wait_src_change(page, heatmap_image, "")
        test_clock.append(time.monotonic() - started)
        samples.append(browser_seconds(page, src))
        wait_idle(page)
    return samples, test_clock


def class_change_timings(page, count: int) -> tuple[list[float], list[float], str]:
    """Seconds from clicking a top-k button (2nd, 3rd, ... in turn) to the new heatmap, by the
    browser's clock and by the test's, and the last class clicked."""
    samples, test_clock, name = [], [], ""
    for number in range(count):
        before = heatmap_image(page).get_attribute("src")
        button = page.locator('[data-testid="stButton"] button').filter(has_text="%").nth(1 + number % 4)
        name = button.inner_text().split(" · ")[0].strip()
        started = time.monotonic()
        button.click()
        src = wait_src_change(page, heatmap_image, before)
        page.get_by_text(f"Heatmap · {name}", exact=True).first.wait_for(state="visible")
        test_clock.append(time.monotonic() - started)
        samples.append(browser_seconds(page, src))
        wait_idle(page)
    return samples, test_clock, name


def colormap_timings(page, count: int) -> tuple[list[float], list[float]]:
    """Seconds from picking another colour map in the open list to the redrawn heatmap, by the
    browser's clock, and by the test's from the click that opens the list."""
    samples, test_clock = [], []
    for number in range(count):
        name = ("magma", "inferno", "plasma", "turbo", "viridis")[(number - count) % 5]  # viridis last
        before = heatmap_image(page).get_attribute("src")
        picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Colour map")
        started = time.monotonic()
        picker.click()
        page.get_by_role("option", name=name, exact=True).click()
        src = wait_src_change(page, heatmap_image, before)
        test_clock.append(time.monotonic() - started)
        samples.append(browser_seconds(page, src))
        wait_idle(page)
    return samples, test_clock


def record_both(label: str, timings: tuple, note: str = "") -> None:
    """The browser's clock under ``label``, the test's clock (Playwright's own time to find, check
    and click elements included, as measured up to the last stop) under ``label (test clock)``."""
    record_median(label, timings[0], note)
    record_median(f"{label} (test clock)", timings[1], note)


def heatmap_image(page):
    return page.locator('[data-testid="stImage"]').filter(has_text="Heatmap ·").locator("img").first


def wait_heatmap(page, label: str | None = None, timeout: float = 120_000):
    text = f"Heatmap · {label}" if label else "Heatmap ·"
    page.get_by_text(text, exact=bool(label)).first.wait_for(state="visible", timeout=timeout)
    wait_idle(page)


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
    record(
        "first page to first heatmap (this session's first load)",
        cold,
        "includes TF import, model build/convert and first trace when the server is fresh",
    )
    page.get_by_text("Top predictions").wait_for()
    page.get_by_text("What the model saw").wait_for()
    page.wait_for_selector(".gc-probs", timeout=30_000)  # the class probabilities' bars
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
            docs / "screenshot.png", optimize=True
        )
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

    # -- upload a photo: time from choosing the file to its heatmap on screen (coffee.jpg, then
    # copies differing in one pixel, so that each one is explained anew)
    page.locator('[data-testid="stSidebar"]').get_by_text("Upload", exact=True).click()
    files = [(SAMPLES / "coffee.jpg").read_bytes(), *variants("coffee.jpg", REPEAT - 1)]
    record_both(
        "upload -> heatmap visible",
        upload_timings(page, files, "coffee.jpg", "espresso"),
        "coffee.jpg, Grad-CAM, model cached",
    )
    shot(page, "02_uploaded")

    # -- change the class with one click on a top-k button: the heatmap changes
    before = heatmap_image(page).get_attribute("src")
    *timings, name = class_change_timings(page, REPEAT)
    record_both("class change -> new heatmap", timings, "top-k buttons 2 to 5")
    after = heatmap_image(page).get_attribute("src")
    assert after != before
    shot(page, "03_class_changed")

    # -- colour map change: a fragment redraw, no model computation, no full page run
    computed, runs = computations(), server_log().count("[gradcam-app] page run")
    record_both("colour map change -> redrawn", colormap_timings(page, REPEAT), "fragment only")
    wait_idle(page)
    assert computations() == computed, "a colour map change must not call the model"
    assert server_log().count("[gradcam-app] page run") == runs, "a colour map change must not rerun the page"
    shot(page, "04_viridis")

    # -- downloads: overlay PNG, provenance JSON and the HTML report
    png = tmp_path / "overlay.png"
    download(page, "Overlay PNG", png)
    with Image.open(png) as picture:
        assert picture.format == "PNG"
        assert picture.size == Image.open(SAMPLES / "coffee.jpg").size
        assert picture.mode == "RGB"
    record_path = tmp_path / "record.json"
    for _ in range(10):  # the redraw streams the pictures first and the download buttons last
        download(page, "Provenance JSON", record_path)
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
    # the HTML report is built on click (a deferred download), after class and colour-map redraws
    report = tmp_path / "report.html"
    download(page, "Report", report)
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>") and "data:image/jpeg;base64," in text and name in text

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
    samples, test_clock = [], []
    for klass in ("cup", "coffee mug", "espresso", "consomme", "cup"):
        started = time.monotonic()
        page.goto(
            page.base_url + f"/?model=efficientnet-lite0&sample=coffee.jpg&class={klass.replace(' ', '%20')}"
            "&method=gradcam%2B%2B"
        )
        page.get_by_text(f"Heatmap · {klass}", exact=True).first.wait_for(state="visible", timeout=120_000)
        src = wait_src_change(page, heatmap_image, "")
        test_clock.append(time.monotonic() - started)
        samples.append(browser_seconds(page, src, since_input=False))
        wait_idle(page)
    record_both("deep link -> heatmap", (samples, test_clock), "coffee.jpg, Grad-CAM++, a new page each time")
    assert "method=gradcam%2B%2B" in page.url or "method=gradcam++" in page.url
    assert "class=cup" in page.url
    shot(page, "06_deep_link")


def test_concept_pair_compares_two_groups_and_the_link_reopens_it(page):
    page.goto(page.base_url + "/?model=efficientnet-lite0&sample=cat_and_coffee.jpg&view=classes")
    button = page.get_by_role("button", name="Alcohol or gambling?")
    button.wait_for(timeout=120_000)
    wait_idle(page)
    started = time.monotonic()
    button.click()
    page.get_by_text("Why alcohol rather than gambling", exact=False).first.wait_for(timeout=60_000)
    record("concept pair -> 2 group maps + contrast", time.monotonic() - started, "alcohol vs gambling, Grad-CAM")
    wait_idle(page)
    assert wait_count(page.get_by_text("of the strongest"), 2)
    page.wait_for_function("() => decodeURIComponent(location.search).includes('group:alcohol')", timeout=30_000)
    link = page.url
    page.goto(link)  # a new page from the link: the same two groups come back
    page.get_by_text("Why alcohol rather than gambling", exact=False).first.wait_for(timeout=120_000)
    shot(page, "07_concept_pair")


def _to_compare_classes_through_a_class(page) -> tuple[str, str]:
    """Open coffee.jpg, pick the second top class, then switch to Compare classes: three views, one
    history entry each. Returns (the first URL, the class picked)."""
    page.goto(page.base_url + "/?sample=coffee.jpg")
    wait_heatmap(page, "espresso")
    start = page.url
    history = page.evaluate("() => window.history.length")
    button = page.locator('[data-testid="stButton"] button').filter(has_text="%").nth(1)
    name = button.inner_text().split(" · ")[0].strip()
    button.click()
    wait_heatmap(page, name)
    page.wait_for_function("() => location.search.includes('class=')")
    page.get_by_text("Compare classes", exact=True).click()
    page.get_by_text("peak 100% of the strongest").first.wait_for()
    wait_idle(page)
    assert page.evaluate("() => window.history.length") <= history + 2, "one history entry per change"
    return start, name


def test_browser_back_returns_to_the_previous_view(page):
    _, name = _to_compare_classes_through_a_class(page)
    page.go_back()  # back to the explain view of the chosen class
    wait_heatmap(page, name)
    assert "view=explain" in page.url and "class=" in page.url


def test_two_quick_backs_return_two_views(page):
    """The second Back is pressed as soon as the first one's map shows, while that run may still be
    finishing. Once an intermittent failure (one fresh-clone CI run of 13 timed out waiting for the
    top prediction's map, when a page run took about a second); since the page runs got faster
    (Keras' session kept, the heap frozen; the README's browser timings) it passed in 37 of 37 runs, with one or two
    CPU-burning processes beside it and on a single shared core, so it is a plain test again."""
    start, name = _to_compare_classes_through_a_class(page)
    page.go_back()  # back to the explain view of the chosen class
    wait_heatmap(page, name)
    page.go_back()  # back to the top prediction
    wait_heatmap(page, "espresso", timeout=60_000)
    page.wait_for_function("() => !location.search.includes('class=')")
    assert page.url == start


def test_first_page_on_a_fresh_server(browser, tmp_path):
    """A new server each time (weights already converted, an empty result cache of its own, as
    before the cache existed: tests/e2e/test_serving_e2e.py measures the warm start): page open to
    first heatmap."""
    samples, test_clock = [], []
    for number in range(REPEAT):
        process, url, log = start_server(
            ARTIFACTS / f"streamlit-fresh-{number}.log",
            {"GRADCAM_RESULT_CACHE_DIR": str(tmp_path / f"results-{number}")},
        )
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        try:
            page = new_page(context)
            page.set_default_timeout(120_000)
            started = time.monotonic()
            page.goto(url + "/")
            page.get_by_text("Heatmap ·").first.wait_for(state="visible")
            src = wait_src_change(page, heatmap_image, "")
            test_clock.append(time.monotonic() - started)
            samples.append(browser_seconds(page, src, since_input=False))
        finally:
            context.close()
            stop_server(process, log)
    record_both("first page to first heatmap", (samples, test_clock), "a freshly started server each time")


def test_large_photo_stays_quick(page, tmp_path):
    """A 4000x3000 JPEG: upload, class and colour-map changes; the page draws at display size."""
    page.goto(page.base_url + "/")
    wait_heatmap(page)
    page.locator('[data-testid="stSidebar"]').get_by_text("Upload", exact=True).click()
    files = variants("coffee.jpg", REPEAT, size=(4000, 3000))
    record_both(
        "large photo: upload -> heatmap visible",
        upload_timings(page, files, "large.jpg", "espresso"),
        "4000x3000 JPEG, Grad-CAM",
    )
    *timings, _ = class_change_timings(page, REPEAT)
    record_both("large photo: class change -> new heatmap", timings)
    record_both("large photo: colour map change -> redrawn", colormap_timings(page, REPEAT))
    widths = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=\"stImage\"] img')].map(i => i.naturalWidth)"
    )
    assert widths and max(widths) <= 1000, f"pictures are sent at display size, not 4000 px: {widths}"
