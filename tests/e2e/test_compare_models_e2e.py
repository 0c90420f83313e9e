"""End-to-end: the Compare models view in a real Chromium. A deep link opens EfficientNet-Lite0 and
Lite1 side by side; the shared scale is switched on; the page's own URL reopens the same comparison."""

from __future__ import annotations

import time

import pytest

import model_zoo

from .conftest import record
from .test_browser import shot, wait_count, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def wait_comparison(page, timeout: float = 120_000):
    page.get_by_text("Agreement between the maps").first.wait_for(state="visible", timeout=timeout)
    wait_idle(page)


def test_compare_models_from_a_deep_link_and_back_from_the_pages_own_link(page):
    statuses = {info.name: info.status for info in model_zoo.list_models()}
    if statuses.get("efficientnet-lite1") not in (model_zoo.READY, model_zoo.NEEDS_CONVERSION):
        pytest.skip("EfficientNet-Lite1's weights package is not installed")
    started = time.monotonic()
    page.goto(page.base_url + "/?sample=coffee.jpg&view=models&models=efficientnet-lite0,efficientnet-lite1")
    wait_comparison(page)
    record("deep link -> two models compared", time.monotonic() - started, "coffee.jpg, Lite0 + Lite1, Grad-CAM")
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("EfficientNet-Lite0", exact=True).count() >= 1
    assert main.get_by_text("EfficientNet-Lite1", exact=True).count() >= 1
    assert main.get_by_text("EfficientNet-Lite0 ↔ EfficientNet-Lite1").count() == 1
    # The panels' captions can arrive after the agreement line: wait for them rather than count at once.
    assert wait_count(main.locator('[data-testid="stImage"]').filter(has_text="top-1: espresso"), 2)
    assert "ρ = +" in main.inner_text()

    page.get_by_text("One shared colour scale").click()
    page.get_by_text("1 = the strongest map among the models").wait_for(state="visible", timeout=60_000)
    wait_idle(page)
    deadline = time.monotonic() + 20
    while "shared=1" not in page.url and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "shared=1" in page.url and "view=models" in page.url and "models=efficientnet-lite0" in page.url
    shot(page, "20_compare_models")

    link = page.url
    page.goto("about:blank")
    page.goto(link)
    wait_comparison(page)
    assert page.get_by_text("1 = the strongest map among the models").count() == 1
    assert page.locator('[data-testid="stMain"]').get_by_text("EfficientNet-Lite0 ↔ EfficientNet-Lite1").count() == 1
