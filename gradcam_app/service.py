"""The server's shared work, for every session at once: one result cache on disk, one work queue,
and the most recent results in memory.

* :func:`result_cache`: the library's on-disk :class:`gradcam.result_cache.ResultCache`, in
  ``$GRADCAM_RESULT_CACHE_DIR`` (default ``<GRADCAM_CACHE_DIR>/results``), shared with other
  server processes on the same folder and kept across restarts. ``GRADCAM_RESULT_CACHE=0`` turns
  it off (results then live in this process's memory only).
* :func:`work_queue`: the library's :class:`gradcam.work_queue.WorkQueue`: identical requests from
  several sessions are computed once, at most ``$GRADCAM_WORKERS`` (default: the cores) at once,
  the rest wait in line, and a line longer than ``$GRADCAM_QUEUE_MAX_WAIT`` seconds is refused
  with a message.
* :func:`recent` / :func:`remember`: finished explanations of this process, bounded in entries
  and bytes, so that a redraw finds its map without reading the disk.

Nothing here imports TensorFlow: a page can look up what is known before the model is loaded.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

from gradcam.result_cache import ResultCache
from gradcam.work_queue import WorkQueue

log = logging.getLogger(__name__)

#: Finished results kept in memory (each is a list of explanations), and the most bytes they hold.
#: Small: the result cache on disk is behind it (a read there takes milliseconds), so memory only
#: needs the maps of the pages being redrawn now. At 64 entries and 256 MB the soak test's server
#: grew 193 MB over 100 explanations.
RECENT_ENTRIES = 16
RECENT_MEGABYTES = 64

_lock = threading.Lock()
_state: dict[str, object] = {}
_recent: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
_recent_bytes = [0]


def result_cache() -> ResultCache | None:
    """The server's on-disk result cache (opened once per process), or None when it is switched
    off (``GRADCAM_RESULT_CACHE=0``) or its folder cannot be used (the reason is logged)."""
    with _lock:
        if "results" not in _state:
            cache = None
            if os.environ.get("GRADCAM_RESULT_CACHE", "1").strip().lower() not in ("0", "false", "no", "off"):
                try:
                    cache = ResultCache()
                except Exception as error:  # an unwritable folder: the app still works, from memory
                    log.warning("gradcam-app: no result cache on disk (%s: %s)", type(error).__name__, error)
            _state["results"] = cache
        return _state["results"]  # type: ignore[return-value]


def work_queue() -> WorkQueue:
    """The server's one work queue (created on first use)."""
    with _lock:
        if "queue" not in _state:
            _state["queue"] = WorkQueue()
        return _state["queue"]  # type: ignore[return-value]


def _nbytes(value: object) -> int:
    total = 0
    for item in value if isinstance(value, (list, tuple)) else [value]:
        for array in vars(item).values() if hasattr(item, "__dict__") else ():
            if isinstance(array, np.ndarray):
                total += array.nbytes
    return total


def recent(key: Hashable) -> object | None:
    """The result remembered under ``key`` in this process (marked recently used), or None."""
    with _lock:
        found = _recent.get(key)
        if found is None:
            return None
        _recent.move_to_end(key)
        return found[0]


def remember(key: Hashable, value: object) -> None:
    """Keep ``value`` under ``key``; the least recently used go past RECENT_ENTRIES or RECENT_MEGABYTES."""
    size = _nbytes(value)
    with _lock:
        old = _recent.pop(key, None)
        if old is not None:
            _recent_bytes[0] -= old[1]
        _recent[key] = (value, size)
        _recent_bytes[0] += size
        while _recent and (len(_recent) > RECENT_ENTRIES or _recent_bytes[0] > RECENT_MEGABYTES * 2**20):
            _, (_, evicted) = _recent.popitem(last=False)
            _recent_bytes[0] -= evicted


_models_ready: set[str] = set()
_background = threading.Event()


def note_background_loading() -> None:
    """Note that this server loads its models in the background (``gradcam-app``'s warm-up): pages
    that arrive meanwhile draw what is known instead of waiting (:mod:`gradcam_app.early`). A page
    served without it (``streamlit run``, AppTest) loads its model itself, as before."""
    _background.set()


def background_loading() -> bool:
    """Whether :func:`note_background_loading` was called in this process."""
    return _background.is_set()


def mark_model_ready(name: str) -> None:
    """Note that zoo model ``name`` is loaded in this process: pages need not wait for it any more."""
    with _lock:
        _models_ready.add(name)


def model_ready(name: str) -> bool:
    """Whether zoo model ``name`` has been loaded in this process (:func:`mark_model_ready`)."""
    with _lock:
        return name in _models_ready


def forget_recent() -> None:
    """Empty this process's memory of results (tests; the disk cache stays)."""
    with _lock:
        _recent.clear()
        _recent_bytes[0] = 0
