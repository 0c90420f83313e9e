"""The explainer's memory of recent images: what the network computed for them, bounded.

A new class on an image already seen costs only the small head after the layer (a few percent of
a forward pass) because the image's resized input, logits and layer activations are kept here.
Keys are ``(digest of the image as given, what)``: ``what`` is ``"input"`` for the resized image
and its logits, or a layer path for that layer's activations. Entries are dicts of arrays.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar, cast

import numpy as np

from . import limits
from .images import image_digest

Value = TypeVar("Value")


class ActivationCache:
    """A thread-safe least-recently-used map from keys to dicts of arrays, bounded in entries and
    in bytes (the arrays' ``nbytes``).

    Args:
        max_entries: most entries kept; default ``limits.ACTIVATION_CACHE_ENTRIES``.
        max_megabytes: most MiB of arrays kept; default ``limits.ACTIVATION_CACHE_MB``.
            The defaults are read at each ``put``, so a deployment (or a test) that changes the
            limits changes caches that already exist.
    """

    def __init__(self, max_entries: int | None = None, max_megabytes: float | None = None):
        self._max_entries = max_entries
        self._max_megabytes = max_megabytes
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[dict, int]] = OrderedDict()
        self._bytes = 0

    @property
    def max_entries(self) -> int:
        """The entry budget in force."""
        return int(self._max_entries if self._max_entries is not None else limits.ACTIVATION_CACHE_ENTRIES)

    @property
    def max_bytes(self) -> int:
        """The byte budget in force."""
        megabytes = self._max_megabytes if self._max_megabytes is not None else limits.ACTIVATION_CACHE_MB
        return int(megabytes * 1024 * 1024)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached arrays now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> dict | None:
        """The entry stored under ``key`` (and mark it recently used), or None."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            self._entries.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, entry: dict) -> None:
        """Store ``entry`` under ``key`` (replacing any), then evict the least recently used
        entries until both budgets hold. An entry larger than the byte budget is not kept."""
        size = sum(value.nbytes for value in entry.values() if isinstance(value, np.ndarray))
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (entry, size)
            self._bytes += size
            max_entries, max_bytes = self.max_entries, self.max_bytes
            while self._entries and (len(self._entries) > max_entries or self._bytes > max_bytes):
                _, (_, evicted) = self._entries.popitem(last=False)
                self._bytes -= evicted

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def fill_rows(
    keys: Sequence[str],
    lookup: Callable[[str], Value | None],
    compute: Callable[[list[int]], Sequence[Value]],
    store: Callable[[str, int, Value], None],
) -> list[Value]:
    """Per row, the cached value of its key, computing only what is missing: once per distinct
    key, all in one ``compute`` call (one batch through the network).

    Args:
        keys: one key per row (rows with equal keys hold equal images).
        lookup: ``key -> value`` or None when not cached.
        compute: ``rows -> values``, one value per row index given (the first row of each key).
        store: ``(key, row, value) -> None``, called for each computed value.

    Returns:
        One value per row, in row order.
    """
    found = {key: lookup(key) for key in dict.fromkeys(keys)}
    missing = [key for key, value in found.items() if value is None]
    if missing:
        rows = [keys.index(key) for key in missing]
        for key, row, value in zip(missing, rows, compute(rows)):
            store(key, row, value)
            found[key] = value
    return [cast(Value, found[key]) for key in keys]  # every missing key was filled above


class DigestMemo:
    """Digests of the last few images seen, so that the same photo explained again (a new class,
    a new method) is not hashed again.

    Hashing a 600x400 photo costs about half a millisecond, a tenth of what a new class costs.
    Comparing the image with a private copy of the bytes last hashed costs a fraction of that,
    and it is exact: a digest is reused only for byte-identical pixels of the same shape and
    dtype, so an array changed in place, or a new array at a recycled address, is hashed afresh.

    Args:
        size: how many images to remember.
        max_bytes: images larger than this are always hashed (no copy is kept of them).
    """

    def __init__(self, size: int = 2, max_bytes: int = 64 * 1024 * 1024):
        self._size = size
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._recent: OrderedDict[int, tuple[np.ndarray, str]] = OrderedDict()

    def digest(self, image: np.ndarray) -> str:
        """``image_digest(image)``, from memory when these exact pixels were hashed recently."""
        with self._lock:
            remembered = self._recent.get(id(image))
        if remembered is not None and _same_pixels(remembered[0], image):
            return remembered[1]
        digest = image_digest(image)
        if image.nbytes <= self._max_bytes:
            with self._lock:
                self._recent[id(image)] = (np.array(image, copy=True, order="C"), digest)
                self._recent.move_to_end(id(image))
                while len(self._recent) > self._size:
                    self._recent.popitem(last=False)
        return digest

    def clear(self) -> None:
        """Forget every remembered image."""
        with self._lock:
            self._recent.clear()


def _same_pixels(copy: np.ndarray, image: np.ndarray) -> bool:
    if copy.shape != image.shape or copy.dtype != image.dtype:
        return False
    if image.flags.c_contiguous and image.nbytes % 8 == 0:
        # Compared eight bytes at a time: a memcmp-speed check, several times faster than SHA-256.
        return bool(np.array_equal(copy.reshape(-1).view(np.uint64), image.reshape(-1).view(np.uint64)))
    return bool(np.array_equal(copy, image))
