"""How long from a box selection on the Dataset view's map to the redrawn grid, in a real browser?

    .venv/bin/python benchmarks/make_large_run.py /tmp/large/runs          # once: a 20,000-input run
    .venv/bin/python benchmarks/bench_explorer_browser.py /tmp/large/runs --run large [--drags 6]

Starts the app (as the browser tests do, Debian's Chromium through Playwright) on the runs
folder, opens the run's Dataset view, waits for its map, then drags ``--drags`` boxes of
different sizes over the map. Each figure is the browser's own clock from the mouse button's
release to the moment the grid below shows the new selection with every picture loaded and
Streamlit idle (target: at most 1 s). The first open (the audit of the whole run, read once
and cached) is reported apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import ARTIFACTS, CHROMIUM_ARGS, chromium_path, start_server, stop_server  # noqa: E402

CLOCK = "window.__up = null; document.addEventListener('pointerup', () => { window.__up = performance.now(); }, true);"
IDLE = (
    "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop/)"
)
#: True (the time) once the selection caption differs from ``previous``, no element of the page is
#: stale (Streamlit marks each element of the rerun part ``data-stale`` until the rerun sends it
#: again, and removes those it does not send when the rerun ends), Streamlit is idle and every
#: picture of the page has loaded. (Without the stale test, a figure could be read when the new
#: caption had arrived but the grid below it had not.)
DONE = (
    "(previous) => { const c = [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
    ".map(e => e.innerText).find(t => t.includes('images selected on the map'));"
    " if (!c || c === previous) return null; if (!(" + IDLE + ")) return null;"
    " if (document.querySelector('[data-stale=\"true\"]')) return null;"
    " const imgs = [...document.querySelectorAll('[data-testid=\"stImage\"] img')];"
    " if (!imgs.every(i => i.complete && i.naturalWidth > 0)) return null;"
    " return [performance.now(), c]; }"
)

#: The grid's count of matching images (0 when it says none match), read once a selection is done.
MATCHING = (
    "() => { const t = [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
    ".map(e => e.innerText).find(t => t.includes('images match'));"
    " return t ? parseInt(t.split(' images match')[0].split(' ').pop()) : 0; }"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs_dir")
    parser.add_argument("--run", default="large")
    parser.add_argument("--drags", type=int, default=6)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    process, url, log = start_server(ARTIFACTS / "bench-explorer-server.log", {"GRADCAM_RUNS_DIR": args.runs_dir})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
            page.add_init_script(CLOCK)
            page.set_default_timeout(600_000)
            started = time.monotonic()
            page.goto(f"{url}/?view=dataset&run={args.run}")
            chart = page.locator('.st-key-dataset_map_chart [data-testid="stVegaLiteChart"]').first
            chart.wait_for(state="visible")
            page.wait_for_function("() => " + IDLE)
            first_open = time.monotonic() - started
            chart.scroll_into_view_if_needed()
            time.sleep(2)
            box = chart.locator("canvas, svg").first.bounding_box()
            samples, previous = [], ""
            for i in range(args.drags):
                fraction = 0.15 + 0.12 * i
                x0, y0 = box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05
                page.mouse.move(x0, y0)
                page.mouse.down()
                page.mouse.move(x0 + box["width"] * fraction, y0 + box["height"] * fraction, steps=6)
                page.mouse.up()
                done = page.wait_for_function(DONE, arg=previous, polling=10).json_value()
                released = page.evaluate("window.__up")
                seconds = (done[0] - released) / 1000
                previous = done[1]
                samples.append(seconds)
                selected = int(done[1].split(" images selected")[0].split()[-1])
                shown = page.evaluate(MATCHING)
                if shown != selected:  # the grid must show the new selection, not the previous one
                    raise SystemExit(f"drag {i + 1}: the grid says {shown} images match, the map {selected}")
                print(f"drag {i + 1}: {seconds:.3f} s ({done[1].split(':')[0]}; the grid shows them)")
                time.sleep(1)
            page.screenshot(path=str(ARTIFACTS / "bench_explorer_20000.png"), full_page=False)
            browser.close()
        print(
            f"\n{args.run}: first open (audit of the run, map drawn) {first_open:.1f} s; selection -> grid: median "
            f"{statistics.median(samples):.3f} s, max {max(samples):.3f} s over {len(samples)} drags "
            f"(target <= 1 s); CPU {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        stop_server(process, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
