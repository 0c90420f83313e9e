"""Screenshots for docs/meeting-room.md, taken with headless Chromium against the real app.

    python scripts/make_meeting_room_screenshots.py            # writes docs/images/meeting-room-*.png

Starts the app (``python -m gradcam_app.serve``) on a free local port with a photo store in a
temporary folder, drives Debian's Chromium (/usr/bin/chromium, or $GRADCAM_CHROMIUM) through
Playwright at a projector's 1280×720, and stops the server. Every picture is of the offline
EfficientNet-Lite0 on the shipped samples; nothing is drawn by hand.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
VIEWPORT = {"width": 1280, "height": 720}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(store: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, GRADCAM_PHOTO_STORE_DIR=str(store), PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "gradcam_app.serve", "--server.headless", "true", "--server.port", str(port)]
        + ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGTERM)
    raise SystemExit("the app did not start in 120 s")


def idle(page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop/)"
    )
    time.sleep(1.0)  # pictures finish painting


def next_step(page) -> None:
    """The Right arrow, once the presenter bar's Next button is drawn (its shortcut is bound then)."""
    page.locator(".st-key-gc_next button:enabled").wait_for(state="visible")
    page.keyboard.press("ArrowRight")


def portrait() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(ROOT / "sample_images" / "coffee.jpg").convert("RGB").rotate(90, expand=True).save(buffer, "JPEG")
    return buffer.getvalue()


def sample_report() -> str:
    """The HTML report of a class the model all but rules out on cat_and_coffee.jpg (the summary and
    its caveat), as the app's Report download writes it."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import gradcam
    import model_zoo
    from gradcam.images import decode_image
    from gradcam.report import html_report

    model = model_zoo.load_model(model_zoo.DEFAULT_MODEL)
    explainer = gradcam.Explainer(model)
    pixels = decode_image((ROOT / "sample_images" / "cat_and_coffee.jpg").read_bytes()).pixels
    low = int(np.argsort(-explainer.explain(pixels, None).probabilities)[99])  # rank 100
    return html_report(explainer.explain(pixels, low), image=pixels, model=model, image_name="cat_and_coffee.jpg")


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("GRADCAM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        process, url = start(Path(folder) / "photos")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.set_default_timeout(180_000)

                page.goto(url + "/")
                page.get_by_text("Heatmap · Egyptian cat").first.wait_for()
                idle(page)
                page.screenshot(path=str(OUT / "meeting-room-1280x720.png"))

                page.locator('[data-testid="stSidebar"]').get_by_text("Upload", exact=True).click()
                chooser = page.locator('[data-testid="stSidebar"] input[type="file"]').first
                chooser.wait_for(state="attached")
                chooser.set_input_files(
                    files=[{"name": "my_coffee.jpg", "mimeType": "image/jpeg", "buffer": portrait()}]
                )
                page.get_by_text("Original · 400×600").first.wait_for()
                page.get_by_text("Heatmap · ").first.wait_for()
                idle(page)
                page.wait_for_function("() => location.search.includes('photo=')")
                link = page.url
                page.screenshot(path=str(OUT / "meeting-room-upload.png"))

                shared = browser.new_context(viewport=VIEWPORT).new_page()
                shared.set_default_timeout(180_000)
                shared.goto(link + "&present=1")
                shared.get_by_text("1 / 4 · The photo").wait_for()
                idle(shared)
                shared.screenshot(path=str(OUT / "meeting-room-present-photo.png"))
                next_step(shared)
                shared.get_by_text("2 / 4 · Top class").wait_for()
                shared.get_by_text("Heatmap · ").first.wait_for()
                idle(shared)
                shared.screenshot(path=str(OUT / "meeting-room-present-top.png"))
                next_step(shared)
                shared.get_by_text("3 / 4 · Class: ", exact=False).wait_for()
                idle(shared)
                next_step(shared)
                shared.get_by_text("4 / 4 · Compare classes", exact=False).wait_for()
                shared.get_by_text(re.compile(r"^Why .+ rather than ")).first.wait_for()
                idle(shared)
                shared.screenshot(path=str(OUT / "meeting-room-present-contrast.png"))

                shared.goto(url + "/?photo=" + "ab" * 32)
                shared.get_by_text("no longer on the server", exact=False).wait_for()
                idle(shared)
                shared.screenshot(path=str(OUT / "meeting-room-photo-gone.png"))
                report = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
                report.set_content(sample_report())
                report.screenshot(path=str(OUT / "meeting-room-report.png"))
                browser.close()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    for path in sorted(OUT.glob("meeting-room-*.png")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
