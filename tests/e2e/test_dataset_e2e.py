"""End-to-end: the Dataset view (issue 12) in a real Chromium. A run made by the library (the
offline EfficientNet-Lite0, nine small files) in the server's runs folder opens from a link, its
grid of overlays shows, and Explain on the first picture opens that image in the explorer with
the run's model, method and class, where its heatmap appears and another class can be picked."""

from __future__ import annotations

import time

import pytest

from gradcam.dataset import RowFilter, filter_rows
from gradcam.dataset.browse import run_rows
from tests.helpers import dataset_runs

from .conftest import record
from .test_browser import shot, wait_heatmap, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_dataset_view_grid_clicks_through_to_the_explorer(page, runs_dir, lite0):
    run = dataset_runs.make_run(runs_dir.parent, "e2e-photos", model=lite0[0])
    first = filter_rows(run_rows(run), RowFilter(method="gradcam"))[0]  # the view's default: most confident first
    started = time.monotonic()
    page.goto(page.base_url + "/?view=dataset&run=e2e-photos")
    page.get_by_text("Mean map of each predicted class").first.wait_for(state="visible")
    buttons = page.locator('[class*="st-key-dataset_open_"] button')  # the grid's Explain buttons
    buttons.nth(7).wait_for(state="visible")
    wait_idle(page)
    record("dataset view: link -> grid of 8 overlays", time.monotonic() - started, "9 inputs, one not an image")
    assert buttons.count() == 8
    page.get_by_text(f"{first['path']} · {first['predicted_name']}").first.wait_for(state="visible")
    shot(page, "07_dataset_view")

    started = time.monotonic()
    buttons.first.click()
    wait_heatmap(page, first["predicted_name"])
    record("dataset view: Explain -> heatmap in the explorer", time.monotonic() - started)
    page.get_by_text(f"Input {first['input_index']} of the dataset run").first.wait_for(state="visible")
    page.wait_for_function("() => location.search.includes('run=e2e-photos') && location.search.includes('item=')")
    assert f"item={first['input_index']}" in page.url and "view=explain" in page.url
    assert page.get_by_role("radio", name="Explain", exact=True).is_checked(), "the view picker follows"
    # The page goes on from there: another class of the same image, still in the explorer.
    button = page.locator('[data-testid="stButton"] button').filter(has_text="%").nth(1)
    other = button.inner_text().split(" · ")[0].strip()
    button.click()
    wait_heatmap(page, other)
    assert page.get_by_role("radio", name="Explain", exact=True).is_checked()
    shot(page, "08_dataset_explained")
