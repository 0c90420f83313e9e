"""Browser tests: Playwright (from PyPI) driving Debian's Chromium against `streamlit run`.

Skipped, loudly, when Chromium or Playwright is missing. The server runs on a free local port for
the whole session and is always stopped. Timings are collected in ``TIMINGS`` and printed in the
terminal summary (visible without ``-s``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMINGS: list[tuple[str, float, str, str]] = []  # name, value, note, unit
SKIP_REASONS: list[str] = []


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("GRADCAM_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def _skip(reason: str):
    SKIP_REASONS.append(reason)
    print(f"\n*** E2E SKIPPED: {reason} ***", file=sys.stderr)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(name: str, value: float, note: str = "", unit: str = "s") -> None:
    """Keep one figure for the terminal summary: seconds unless ``unit`` says otherwise ("x" for a
    ratio, "GB", or "" for a count)."""
    TIMINGS.append((name, value, note, unit))
    print(f"[timing] {name}: {value:.2f} {unit} {note}")


def record_median(name: str, samples: list[float], note: str = "") -> float:
    """Record the median of repeated measurements (the spread goes into the note)."""
    ordered = sorted(samples)
    median = float(statistics.median(ordered))
    spread = f"median of {len(ordered)}: " + ", ".join(f"{s:.2f}" for s in ordered)
    record(name, median, f"{note}; {spread}" if note else spread)
    return median


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        _skip(
            "Chromium not found (/usr/bin/chromium): install it with "
            "`apt-get update && apt-get install -y chromium` to run the browser tests"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip("the playwright Python package is not installed (pip install -e '.[test]', or python3 run.py test)")
    return path


def server_flags(port: int) -> list[str]:
    """Streamlit's flags for a test server on ``port``: headless, local only, nothing sent out,
    no file watcher (the app's and the minimal page's servers alike)."""
    return [
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def start_server(log_path: Path, extra_env: dict[str, str] | None = None):
    """The app as `python3 run.py app` serves it (`gradcam_app.serve`: `streamlit run` on the page,
    the default model warmed up in the background) on a free port: (process, url, log file), once
    healthy. ``extra_env``: more environment variables for the server (its runs folder)."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(log_path, "w")
    env = dict(
        os.environ, PYTHONUNBUFFERED="1", GRADCAM_ALLOW_MODEL_UPLOAD="1", GRADCAM_APP_TRACE="1", **(extra_env or {})
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gradcam_app.serve",
            *server_flags(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not become healthy in 90 s; see {log.name}")
            time.sleep(0.1)
    except BaseException:
        stop_server(process, log)
        raise
    return process, url, log


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until Streamlit has finished running the script (no 'running' status widget)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.match(/Running|Stop/)",
        timeout=timeout,
    )


def download(page, button: str, path: Path, tries: int = 5) -> None:
    """Click a download button and save the file. The files are built on the server when clicked; a
    download that the browser cancels because the page was redrawing its buttons at that moment
    is tried again (at most ``tries`` times)."""
    for attempt in range(tries):
        wait_idle(page)
        with page.expect_download() as info:
            page.get_by_role("button", name=button).click()
        try:
            info.value.save_as(path)
            return
        except Exception as error:  # playwright's Error: "Download.save_as: canceled"
            if "canceled" not in str(error) or attempt == tries - 1:
                raise
            time.sleep(0.5)


def stop_server(process, log) -> None:
    """Stop a server started by :func:`start_server` (its whole process group) and close its log."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    log.close()


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    """The server's runs folder (GRADCAM_RUNS_DIR), empty at the start; tests make runs in it."""
    folder = tmp_path_factory.mktemp("e2e-runs") / "runs"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def server(chromium, runs_dir):
    """The app on a free port (see start_server), opening runs from ``runs_dir``; yields its URL;
    always killed."""
    process, url, log = start_server(ARTIFACTS / "streamlit-server.log", {"GRADCAM_RUNS_DIR": str(runs_dir)})
    try:
        yield url
    finally:
        stop_server(process, log)


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


#: Installed in every page before its own scripts: the browser's own clock (performance.now(), in
#: ms since the page's navigation started) of the person's last input (a pointer press, a key, a
#: file chosen) and of every picture that finished loading. The timings are read from it, so they
#: are what the browser saw, without Playwright's own time to find, check and click an element.
PAGE_CLOCK = """
window.__gc = {input: null, loads: []};
for (const kind of ['pointerdown', 'keydown', 'change']) {
  document.addEventListener(kind, (e) => {
    if (kind !== 'change' || (e.target && e.target.type === 'file')) window.__gc.input = performance.now();
  }, true);
}
document.addEventListener('load', (e) => {
  if (e.target && e.target.tagName === 'IMG') window.__gc.loads.push([e.target.src, performance.now()]);
}, true);
"""


def new_page(context):
    """A page of ``context`` with the page clock (see PAGE_CLOCK) installed."""
    context.add_init_script(PAGE_CLOCK)
    return context.new_page()


def browser_seconds(page, src: str, since_input: bool = True, timeout: float = 30.0) -> float:
    """Seconds, by the browser's clock, from the last input (or, with ``since_input=False``, from
    the navigation's start) to the load of the picture whose ``src`` attribute is ``src``."""
    deadline = time.monotonic() + timeout
    while True:
        found = page.evaluate(
            """([src, sinceInput]) => {
            const after = sinceInput ? window.__gc.input : 0;
            const hit = window.__gc.loads.filter(([url, t]) => t >= after && (url === src || url.endsWith(src))).pop();
            if (!hit) return null;
            return (hit[1] - after) / 1000;
        }""",
            [src, since_input],
        )
        if found is not None:
            return float(found)
        if time.monotonic() > deadline:
            raise AssertionError(f"the picture {src} never finished loading")
        time.sleep(0.02)


@pytest.fixture()
def page(browser, server):
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    page = new_page(context)
    page.set_default_timeout(60_000)
    page.base_url = server
    try:
        yield page
    finally:
        context.close()
