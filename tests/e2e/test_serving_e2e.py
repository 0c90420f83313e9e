"""Serving, measured in Chromium from the server process's start: a fresh server with a cold result
cache, the same with a warm one (the page before TensorFlow), and a minimal Streamlit page (a title
and one 224x224 image) started and measured the same way in the same run. Two gradcam-app servers
on two ports share one cache folder: what one computed the other shows without computing.

Timings are printed in the terminal summary under the labels the issue names."""

from __future__ import annotations

import time

import pytest

from .conftest import ARTIFACTS, new_page, record_median, stop_server
from .serving import computations_in, start_minimal, timed_app_server, wait_for_default_view

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPEAT = 5


def heatmap_on_screen(page, url: str, label: str | None = None) -> None:
    """Open ``url`` and wait until a heatmap's picture has loaded (its caption visible, its image
    decoded by the browser)."""
    page.goto(url + "/")
    text = f"Heatmap · {label}" if label else "Heatmap ·"
    page.get_by_text(text, exact=bool(label)).first.wait_for(state="visible", timeout=180_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stImage"]')]
              .filter(e => e.innerText.includes('Heatmap ·'))
              .some(e => { const i = e.querySelector('img'); return i && i.complete && i.naturalWidth > 0; })""",
        timeout=180_000,
    )


def test_fresh_server_first_heatmap_cold_and_warm_cache_against_a_minimal_page(browser, tmp_path):
    minimal, cold, warm = [], [], []
    for number in range(REPEAT):
        # -- the minimal page, from its process's start to its image on screen
        started = time.monotonic()
        process, url, log = start_minimal(tmp_path, ARTIFACTS / f"minimal-{number}.log")
        context = browser.new_context(viewport={"width": 1500, "height": 1100})
        try:
            page = new_page(context)
            page.goto(url + "/")
            page.get_by_text("Minimal image").wait_for(state="visible", timeout=60_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('img')].some(i => i.complete && i.naturalWidth === 224)"
            )
            minimal.append(time.monotonic() - started)
        finally:
            context.close()
            stop_server(process, log)

        # -- the app with an empty result cache, then again on the cache that first start filled
        folder = tmp_path / f"results-{number}"
        for kind, samples in (("cold", cold), ("warm", warm)):
            log_path = ARTIFACTS / f"streamlit-{kind}-{number}.log"
            process, url, log, started = timed_app_server(log_path, {"GRADCAM_RESULT_CACHE_DIR": str(folder)})
            context = browser.new_context(viewport={"width": 1500, "height": 1100})
            try:
                page = new_page(context)
                heatmap_on_screen(page, url, "Egyptian cat")
                samples.append(time.monotonic() - started)
                if kind == "cold":
                    wait_for_default_view(folder)
            finally:
                context.close()
                stop_server(process, log)
            text = log_path.read_text(errors="replace")
            if kind == "warm":
                # The map came from the cache, drawn before TensorFlow had finished importing, and
                # nothing computed it before it was on screen.
                assert "early map shown tensorflow=False" in text, f"see {log_path}"
    floor = record_median("minimal Streamlit page: first image", minimal, "server process start -> image on screen")
    record_median("fresh server, cold cache: first heatmap", cold, "server process start -> heatmap on screen")
    hot = record_median("fresh server, warm cache: first heatmap", warm, "server process start -> heatmap on screen")
    record_median(
        "fresh server, warm cache: over the minimal page", [w - m for w, m in zip(warm, minimal)], "target 1 s"
    )
    assert hot > 0 and floor > 0


def test_two_servers_share_one_cache_folder(browser, tmp_path):
    """Server A computes a view; server B, on the same folder, shows it without computing. Then
    both compute different views of the same photos at once, writing the cache together; a third
    server reads every map back from the cache, undamaged, without computing."""
    from gradcam.result_cache import ResultCache

    folder = str(tmp_path / "shared")
    env = {"GRADCAM_RESULT_CACHE_DIR": folder, "GRADCAM_APP_WARM_UP": "0"}
    logs = [ARTIFACTS / "streamlit-replica-a.log", ARTIFACTS / "streamlit-replica-b.log"]
    servers = [timed_app_server(path, env) for path in logs]
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        page = new_page(context)
        heatmap_on_screen(page, servers[0][1] + "/?sample=coffee.jpg&class=cup", "cup")
        # A computed the photo's top prediction (the page's probabilities) and the cup's map.
        assert computations_in(logs[0]) == 2
        page2 = new_page(context)
        heatmap_on_screen(page2, servers[1][1] + "/?sample=coffee.jpg&class=cup", "cup")
        # B read both from the shared folder: it computed nothing.
        assert computations_in(logs[1]) == 0, f"see {logs[1]}"
        # Both at once, on the same photo and classes: both write the same keys together.
        pages = [new_page(context) for _ in range(4)]
        views = ["espresso", "coffee mug", "espresso", "coffee mug"]
        for number, (view_page, name) in enumerate(zip(pages, views)):
            view_page.goto(servers[number % 2][1] + f"/?sample=coffee.jpg&class={name.replace(' ', '%20')}")
        for view_page, name in zip(pages, views):
            view_page.get_by_text(f"Heatmap · {name}", exact=True).first.wait_for(timeout=180_000)
    finally:
        context.close()
        for process, _, log, _ in servers:
            stop_server(process, log)
    cache = ResultCache(folder)
    assert cache.damaged == 0
    maps = [key for key in cache._store if ":x:" in key]
    assert len(maps) >= 4, maps  # the top prediction, cup, espresso, coffee mug
    for key in maps:
        assert cache.get_explanation(key) is not None, "a map was damaged by two writers"
    assert cache.damaged == 0
    cache.close()
    # A third server shows every one of those views from the cache, computing nothing.
    path = ARTIFACTS / "streamlit-replica-c.log"
    process, url, log, _ = timed_app_server(path, env)
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        page = new_page(context)
        for name in ("cup", "espresso", "coffee mug"):
            heatmap_on_screen(page, url + f"/?sample=coffee.jpg&class={name.replace(' ', '%20')}", name)
    finally:
        context.close()
        stop_server(process, log)
    assert computations_in(path) == 0, f"server C computed maps that were in the cache; see {path}"
