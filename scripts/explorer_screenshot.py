"""The Dataset explorer's picture in docs/images/dataset-explorer.png, on a real run.

    .venv/bin/python scripts/explorer_screenshot.py [--count 70]

Makes ``--count`` photos (random crops of the seven sample photos, resized, JPEG; the same
generator as benchmarks/bench_dataset.py) with a labels file (each crop labelled with its source
photo's class, one in ten on purpose with another's), runs the offline EfficientNet-Lite0 over
them with the local engine, lays out the map (t-SNE), starts the app in Chromium on that run,
drags a box over part of the map, and saves the page.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_dataset import make_photos  # noqa: E402

from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, start_server, stop_server  # noqa: E402

#: The label of each sample photo's crops (its Lite0 top-1 class, sample_images/SOURCES.md).
LABELS = [
    "bobsleigh",
    "Egyptian Mau",
    "Egyptian Mau",
    "espresso",
    "espresso",
    "military uniform",
    "drilling rig",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=70)
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "dataset-explorer.png"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from gradcam.dataset import run_dataset
    from gradcam.dataset.layout import compute_map

    work = Path(tempfile.mkdtemp(prefix="explorer-shot-"))
    try:
        src = work / "photos"
        paths = make_photos(src, args.count)
        lines = ["path,label"]
        for i, path in enumerate(paths):
            label = LABELS[(i + (3 if i % 10 == 9 else 0)) % len(LABELS)]
            lines.append(f"{path.relative_to(src).as_posix()},{label}")
        (work / "labels.csv").write_text("\n".join(lines) + "\n")
        runs = work / "runs"
        run_dataset(src, runs / "photos", labels=work / "labels.csv", batch_size=16)
        compute_map(runs / "photos", algorithm="tsne")
        process, url, log = start_server(work / "server.log", {"GRADCAM_RUNS_DIR": str(runs)})
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
                page = browser.new_context(viewport={"width": 1500, "height": 1300}).new_page()
                page.set_default_timeout(600_000)
                page.goto(f"{url}/?view=dataset&run=photos")
                chart = page.locator('.st-key-dataset_map_chart [data-testid="stVegaLiteChart"]').first
                chart.wait_for(state="visible")
                chart.scroll_into_view_if_needed()
                time.sleep(3)
                box = chart.locator("canvas, svg").first.bounding_box()
                page.mouse.move(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05)
                page.mouse.down()
                page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55, steps=8)
                page.mouse.up()
                page.get_by_text("images selected on the map").first.wait_for(state="visible")
                time.sleep(4)
                page.locator(".st-key-dataset_map_layout").first.scroll_into_view_if_needed()
                time.sleep(1)
                Path(args.out).parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.out, full_page=False)
                browser.close()
        finally:
            stop_server(process, log)
        print(f"Wrote {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
