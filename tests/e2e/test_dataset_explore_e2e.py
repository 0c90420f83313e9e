"""End-to-end: the Dataset view's map (issue 21) in a real Chromium. A run made by the library (the
offline EfficientNet-Lite0, nine small files) opens from a link; "Compute the map" draws the
scatter plot; a box dragged with the mouse over part of it selects those points, and the grid
below shows only them (Streamlit's chart selection event, as a person makes it)."""

from __future__ import annotations

import time

import pytest

from tests.helpers import dataset_runs

from .conftest import ARTIFACTS, record

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IDLE = (
    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
    " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop/)"
)


def test_a_box_dragged_on_the_map_filters_the_grid(page, runs_dir, lite0):
    dataset_runs.make_run(runs_dir.parent, "e2e-explore", model=lite0[0])
    page.goto(page.base_url + "/?view=dataset&run=e2e-explore")
    buttons = page.locator('[class*="st-key-dataset_open_"] button')  # the grid's Explain buttons
    buttons.nth(7).wait_for(state="visible")
    page.wait_for_function(IDLE, timeout=120_000)
    assert buttons.count() == 8
    page.get_by_role("button", name="Compute the map").first.click()
    chart = page.locator('.st-key-dataset_map_chart [data-testid="stVegaLiteChart"]').first
    chart.wait_for(state="visible", timeout=180_000)
    page.wait_for_function(IDLE, timeout=120_000)
    chart.scroll_into_view_if_needed()
    time.sleep(1.0)  # Vega draws after the element appears
    surface = chart.locator("canvas, svg").first
    box = surface.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100
    # The left half of the plot, top to bottom: some points, not all (t-SNE spreads 8 points).
    x0, y0 = box["x"] + 5, box["y"] + 5
    x1, y1 = box["x"] + box["width"] * 0.5, box["y"] + box["height"] - 5
    started = time.monotonic()
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()
    page.get_by_text("images selected on the map").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_function(IDLE, timeout=120_000)
    record("dataset map: box -> filtered grid (9 inputs)", time.monotonic() - started)
    caption = page.get_by_text("images selected on the map").first.inner_text()
    selected = int(caption.split(" images selected")[0].split()[-1])
    page.screenshot(path=str(ARTIFACTS / "09_dataset_map_selection.png"), full_page=True)
    assert 0 < selected < 8, caption
    assert buttons.count() == selected
