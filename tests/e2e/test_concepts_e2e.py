"""End-to-end: the concepts view ("What parts does the model see?") in a real Chromium. A deep
link opens it with k = 3; the overlay, its legend (each concept named by the classes it votes for)
and the per-concept maps appear; moving the k slider to 5 redraws the legend with five concepts."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import record
from .test_browser import shot, wait_idle

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def legend_entries(page):
    """The legend's lines ("Concept 1 · espresso 98%, ...")."""
    return page.locator('[data-testid="stMarkdownContainer"] p').filter(has_text="Concept ").filter(has_text="%")


def test_concepts_view_from_a_link_shows_the_legend_and_follows_k(page):
    started = time.monotonic()
    page.goto(page.base_url + "/?sample=cat_and_coffee.jpg&view=concepts&k=3")
    page.get_by_text("Each pixel coloured by its strongest concept").first.wait_for(state="visible", timeout=120_000)
    legend_entries(page).nth(2).wait_for(state="visible")
    wait_idle(page)
    record("concepts view: link -> overlay and legend", time.monotonic() - started, "cat_and_coffee.jpg, k = 3")
    assert page.get_by_role("radio", name="What parts does the model see?", exact=True).is_checked()
    entries = legend_entries(page)
    assert entries.count() == 3
    text = " ".join(entries.all_inner_texts())
    assert "Egyptian cat" in text and "espresso" in text
    assert page.get_by_text(re.compile(r"Concept 3 · \d+% of the picture")).first.is_visible()  # the maps beside
    shot(page, "09_concepts_view")

    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Number of concepts").get_by_role("slider")
    started = time.monotonic()
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Tab")  # the slider sends its value when it loses focus
    page.wait_for_function("() => location.search.includes('k=5')", timeout=60_000)
    page.get_by_text(re.compile(r"Concept 5 · \d+% of the picture")).first.wait_for(state="visible", timeout=60_000)
    wait_idle(page)
    record("concepts view: k 3 -> 5 redrawn", time.monotonic() - started)
    assert legend_entries(page).count() == 5
