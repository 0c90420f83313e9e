"""Helpers of the serving tests (fresh servers, the load test, two servers on one cache): a minimal
Streamlit page to measure against, servers timed from their process start, and the memory of a
server with all its processes. Not a test file: test_serving_e2e.py and test_load_e2e.py use it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from .conftest import ARTIFACTS, ROOT, _free_port, server_flags, start_server, stop_server

#: A title and one 224x224 image: the floor of Streamlit and Chromium on this machine.
MINIMAL_PAGE = """
import numpy as np
import streamlit as st

st.title("Minimal page")
y, x = np.mgrid[0:224, 0:224]
st.image(np.dstack([x, y, 255 - x]).astype(np.uint8), caption="Minimal image")
"""


def start_minimal(folder: Path, log_path: Path):
    """``streamlit run`` of :data:`MINIMAL_PAGE` with the app's server flags: (process, url, log)."""
    script = folder / "minimal_page.py"
    script.write_text(MINIMAL_PAGE)
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(log_path, "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(script),
            *server_flags(port),
            "--client.toolbarMode",
            "minimal",
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url, log
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(process, log)
            raise RuntimeError(f"the minimal page's server did not start; see {log_path}")
        time.sleep(0.05)


def timed_app_server(log_path: Path, env: dict[str, str]):
    """The app as gradcam-app serves it (tests/e2e/conftest.start_server), with the monotonic time
    just before its process was started: (process, url, log, started)."""
    started = time.monotonic()
    process, url, log = start_server(log_path, env)
    return process, url, log, started


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (read from /proc)."""
    children, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def tree_cpu(pid: int) -> float:
    """CPU seconds (user and system) used so far by process ``pid`` and all its descendants."""
    children, total, todo = _children(), 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


class PeakMemory:
    """Samples :func:`tree_rss` of a process every ``interval`` seconds in a thread; ``peak`` and
    ``last`` in bytes. A context manager."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval = pid, interval
        self.peak = self.last = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last = tree_rss(self.pid)
            self.peak = max(self.peak, self.last)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


def wait_for_default_view(folder: Path, timeout: float = 180.0) -> None:
    """Wait until the result cache in ``folder`` holds the model's facts and at least one map
    (the server's warm-up stores the default view)."""
    from gradcam.result_cache import ResultCache

    cache = ResultCache(folder)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            keys = list(cache._store)
            if any(":m:" in k for k in keys) and any(":x:" in k for k in keys):
                return
            time.sleep(0.2)
    finally:
        cache.close()
    raise AssertionError(f"the default view never reached the result cache in {folder}")


def computations_in(log_path: Path) -> int:
    """Maps the server computed, from its trace (one "compute" line per queued computation)."""
    return log_path.read_text(errors="replace").count("[gradcam-app] compute ")
