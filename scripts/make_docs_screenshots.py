"""Take the documentation site's screenshots of the running web app (docs/images/app_*.png).

    .venv/bin/python scripts/make_docs_screenshots.py [--only NAME ...] [--out docs/images]

Starts the app as `python3 run.py app` serves it (``gradcam_app.serve`` on a free local port, with a
runs folder holding one small dataset run made here by the library), opens each view by its deep
link in Debian's headless Chromium (Playwright, as the browser tests do), waits until the page has
finished running, and saves a PNG per view. Needs Chromium (/usr/bin/chromium or $GRADCAM_CHROMIUM)
and Playwright (the ``test`` extra); nothing leaves this machine. Takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
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
SAMPLES = ROOT / "sample_images"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
#: Width of the saved pictures (the browser window is wider; they are scaled down to this).
WIDTH = 1280
#: Tallest saved picture: a full-page shot longer than this is cut at the bottom.
MAX_HEIGHT = 2200
#: The browser window's height: views are drawn in full up to this.
WINDOW_HEIGHT = 2400


def chromium() -> str:
    for candidate in (os.environ.get("GRADCAM_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    sys.exit("Chromium not found: apt-get install chromium, or set GRADCAM_CHROMIUM")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """``python -m gradcam_app.serve`` on a free port, once healthy: (process, URL)."""
    port = free_port()
    env = dict(os.environ, GRADCAM_RUNS_DIR=str(runs), PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "gradcam_app.serve", "--server.headless", "true", "--server.port", str(port)]
    command += ["--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the app exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    sys.exit(f"the app did not become healthy in 180 s; see {log}")


def stop_server(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def make_run(runs: Path) -> str:
    """A finished dataset run of the sample photos (each also cropped twice, so that classes have
    several images) in ``runs/samples``, made by the library with the offline EfficientNet-Lite0."""
    from PIL import Image

    from gradcam.dataset import run_dataset

    source = runs.parent / "samples-source"
    source.mkdir(parents=True, exist_ok=True)
    for path in sorted(SAMPLES.glob("*.jpg")):
        with Image.open(path) as picture:
            rgb = picture.convert("RGB")
        rgb.save(source / path.name, quality=90)
        for number, share in enumerate((0.06, 0.12), start=1):
            left = int(rgb.width * share)
            rgb.crop((left, 0, rgb.width, rgb.height)).save(source / f"{path.stem}_crop{number}.jpg", quality=90)
    run_dataset(source, runs / "samples", batch_size=8)
    return "samples"


def wait_idle(page, timeout: float = 240_000) -> None:
    """Until Streamlit has finished running the page (no 'Running' status), twice a second apart:
    a view that starts a second run (a fragment, a link written) is caught between the two."""
    script = (
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop/)"
    )
    for _ in range(2):
        page.wait_for_function(script, timeout=timeout)
        time.sleep(1.0)
    page.wait_for_function(script, timeout=timeout)


def content_height(picture) -> int:
    """Height down to the last row with anything drawn on it, plus a margin: Streamlit's page
    fills the (tall) window, so the bottom of a short view is blank."""
    import numpy as np

    gray = np.asarray(picture.convert("L"), dtype=np.int16)
    # A blank row is one colour in the sidebar and one in the main area (they differ).
    sidebar, main = gray[:, : gray.shape[1] // 6], gray[:, gray.shape[1] // 4 :]
    drawn = (np.ptp(sidebar, axis=1) > 8) | (np.ptp(main, axis=1) > 8)
    rows = np.flatnonzero(drawn)
    return int(rows[-1]) + 40 if rows.size else picture.height


def save(page, path: Path, element=None) -> None:
    """A screenshot of the window (or of ``element`` alone), blank bottom trimmed, scaled to WIDTH
    (never up) and cut at MAX_HEIGHT, as an optimised PNG."""
    from PIL import Image

    # The raw shot goes to the temporary folder, never into docs/ (mkdocs would copy it).
    raw = Path(tempfile.gettempdir()) / f"{path.stem}.raw.png"
    (element or page).screenshot(path=str(raw))
    with Image.open(raw) as shot:
        shot = shot.convert("RGB")
        shot = shot.crop((0, 0, shot.width, min(shot.height, content_height(shot))))
        width = min(WIDTH, shot.width)
        height = round(shot.height * width / shot.width)
        picture = shot.resize((width, height), Image.LANCZOS)
    raw.unlink()
    picture = picture.crop((0, 0, width, min(height, MAX_HEIGHT)))
    picture.save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)} ({picture.width}x{picture.height}, {path.stat().st_size // 1024} kB)")


def shoot_explain(page, url: str) -> None:
    page.goto(url + "/?sample=cat_and_coffee.jpg")
    page.get_by_text("Heatmap ·").first.wait_for(state="visible", timeout=240_000)


def shoot_faithfulness(page, url: str):
    """The faithfulness panel, computed; returns the panel (the picture is of it alone)."""
    page.goto(url + "/?sample=coffee.jpg")
    page.get_by_text("Heatmap ·").first.wait_for(state="visible", timeout=240_000)
    wait_idle(page)
    page.get_by_text("How faithful is this map?").first.click()
    page.get_by_role("button", name="Compute the figures").click()
    # The curves' titles appear once the figures are computed (the caption above mentions deletion).
    page.get_by_text("Deletion: most important pixels removed first").first.wait_for(state="visible", timeout=240_000)
    wait_idle(page)
    # The panel alone: the page above it is the Explain view's own shot.
    return page.locator('[data-testid="stExpander"]').filter(has_text="How faithful is this map?").first


def shoot_classes(page, url: str) -> None:
    page.goto(url + "/?sample=cat_and_coffee.jpg&view=classes")
    button = page.get_by_role("button", name="Alcohol or gambling?")
    button.wait_for(timeout=240_000)
    wait_idle(page)
    button.click()
    page.get_by_text("Why alcohol rather than gambling", exact=False).first.wait_for(timeout=240_000)


def wait_pictures(page, count: int, timeout: float = 240.0) -> None:
    """Until the page shows at least ``count`` pictures (st.image), all loaded."""
    deadline = time.monotonic() + timeout
    script = """() => Array.from(document.querySelectorAll('[data-testid="stImage"] img'))
        .filter((img) => img.complete && img.naturalWidth > 0).length"""
    while page.evaluate(script) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} pictures after {timeout:.0f} s")
        time.sleep(0.5)


def shoot_methods(page, url: str) -> None:
    page.goto(url + "/?sample=coffee.jpg&view=methods&methods=gradcam,gradcam%2B%2B,layercam,eigencam")
    page.get_by_text("Methods to compare").first.wait_for(state="visible", timeout=240_000)
    wait_pictures(page, 5)  # the photo and four maps


def shoot_layers(page, url: str) -> None:
    page.goto(url + "/?sample=cat_and_coffee.jpg&view=layers&fuse=1")
    page.get_by_text("mean of the layers' maps", exact=False).first.wait_for(state="visible", timeout=240_000)


def shoot_models(page, url: str) -> None:
    page.goto(url + "/?sample=coffee.jpg&view=models&models=efficientnet-lite0,efficientnet-lite1")
    page.get_by_text("ρ =", exact=False).first.wait_for(state="visible", timeout=240_000)


def shoot_concepts(page, url: str) -> None:
    page.goto(url + "/?sample=cat_and_coffee.jpg&view=concepts&k=4")
    page.get_by_text("reconstruction error", exact=False).first.wait_for(state="visible", timeout=240_000)


def shoot_dataset(page, url: str, run: str) -> None:
    page.goto(url + f"/?view=dataset&run={run}")
    page.get_by_text("Mean map of each predicted class").first.wait_for(state="visible", timeout=240_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--only", nargs="*", help="names of the shots to take (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="gradcam-docs-") as temp:
        runs = Path(temp) / "runs"
        runs.mkdir()
        # The dataset run takes a while to make: only when its view is shot.
        run = make_run(runs) if not args.only or "dataset" in args.only else ""
        shots = {
            "explain": lambda page, url: shoot_explain(page, url),
            "faithfulness": lambda page, url: shoot_faithfulness(page, url),
            "classes": lambda page, url: shoot_classes(page, url),
            "methods": lambda page, url: shoot_methods(page, url),
            "layers": lambda page, url: shoot_layers(page, url),
            "models": lambda page, url: shoot_models(page, url),
            "concepts": lambda page, url: shoot_concepts(page, url),
            "dataset": lambda page, url: shoot_dataset(page, url, run),
        }
        process, url = start_server(runs, Path(temp) / "server.log")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_ARGS)
                # Tall: Streamlit scrolls inside its own container, so a shot shows the window only.
                context = browser.new_context(viewport={"width": 1440, "height": WINDOW_HEIGHT})
                for name, shoot in shots.items():
                    if args.only and name not in args.only:
                        continue
                    page = context.new_page()
                    page.set_default_timeout(240_000)
                    started = time.monotonic()
                    element = shoot(page, url)  # a view's shot returns an element to show alone, or None
                    page.mouse.move(0, 0)  # no tooltip of the last button clicked in the picture
                    wait_idle(page)
                    save(page, args.out / f"app_{name}.png", element)
                    print(f"  {name}: {time.monotonic() - started:.1f} s", flush=True)
                    page.close()
                browser.close()
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
