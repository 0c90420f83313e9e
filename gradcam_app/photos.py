"""Uploaded photos kept on the server, so that a link made on one reopens it.

A photo is stored under the SHA-256 of its bytes (content-addressed: the same photo uploaded twice
is stored once, and a link names exactly the bytes it was made on, never "the upload of some
session"). The store is a folder that a restarted server, and other replicas given the same
folder, read: ``diskcache`` (SQLite plus one file per large value) makes it safe for several
processes at once; this module bounds it in size (the first stored go first) and in age (each
photo expires a fixed time after it was last uploaded).

Folder: ``$GRADCAM_PHOTO_STORE_DIR``, else ``photos/`` beside the result cache's ``results/`` in
the app's cache folder (``$GRADCAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradcam-explorer``, else
``~/.cache/gradcam-explorer``): replicas that share that folder share both. Bounds:
``$GRADCAM_PHOTO_STORE_MB`` (default 512 MiB in all) and ``$GRADCAM_PHOTO_STORE_DAYS`` (default 7
days); one photo is at most :data:`gradcam.limits.MAX_IMAGE_BYTES` (the uploader's own limit).
``GRADCAM_PHOTO_STORE=0`` switches the store off: links made on uploads then say that they cannot
carry the photo.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from gradcam import limits

log = logging.getLogger(__name__)

FOLDER_ENV, SIZE_ENV, DAYS_ENV, SWITCH_ENV = (
    "GRADCAM_PHOTO_STORE_DIR",
    "GRADCAM_PHOTO_STORE_MB",
    "GRADCAM_PHOTO_STORE_DAYS",
    "GRADCAM_PHOTO_STORE",
)
DEFAULT_MEGABYTES, DEFAULT_DAYS = 512, 7
#: A photo id as links carry it: the SHA-256 of the photo's bytes in lowercase hex.
PHOTO_ID = re.compile(r"^[0-9a-f]{64}$")
#: The message for a link whose photo the store does not hold (expired, evicted, or never there).
GONE = (
    "This link's photo is no longer on the server (photos are kept {days} days after their last upload, "
    "and the first stored go first when the store is full); upload it again to see this view."
)

_lock = threading.Lock()
_stores: dict[str, PhotoStore] = {}


@dataclass(frozen=True)
class StoredPhoto:
    """A photo read back from the store: the file name it was uploaded with and its bytes."""

    name: str
    data: bytes


def default_folder() -> Path:
    """The store's folder, read at call time (see the module's docstring); not created here."""
    from model_zoo.cache import cache_dir  # the one rule for the app's cache folder

    explicit = os.environ.get(FOLDER_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    return (Path(cache_dir()) / "photos").resolve()


def _number(env: str, default: float) -> float:
    try:
        value = float(os.environ.get(env, "") or default)
    except ValueError:
        log.warning("%s=%r is not a number; using %s", env, os.environ.get(env), default)
        return float(default)
    return value if value > 0 else float(default)


class PhotoStore:
    """Photos by SHA-256, in a folder shared by processes (see the module's docstring).

    Args:
        folder: where the store lives (created if missing).
        megabytes: the size bound of the whole store, in MiB.
        days: how long a photo is kept after it was last stored.
        max_photo_bytes: the largest photo accepted.
    """

    def __init__(
        self,
        folder: Path | str,
        megabytes: float = DEFAULT_MEGABYTES,
        days: float = DEFAULT_DAYS,
        max_photo_bytes: int = limits.MAX_IMAGE_BYTES,
    ):
        import diskcache

        self.folder = Path(folder)
        self.days = float(days)
        self.max_photo_bytes = int(max_photo_bytes)
        self.size_limit = int(megabytes * 2**20)
        # diskcache's own culling removes ten entries at a time, the new one among them when the
        # store holds fewer: it is off (cull_limit=0) and put() evicts one photo at a time, the
        # first stored first. Reading a photo writes nothing (a link opened by a whole room queues
        # no writers).
        self._cache = diskcache.Cache(
            str(self.folder),
            size_limit=self.size_limit,
            eviction_policy="none",
            cull_limit=0,
            statistics=False,
        )

    @property
    def seconds(self) -> float:
        return self.days * 86400.0

    def put(self, data: bytes, name: str) -> str:
        """Store a photo (or renew its age if it is there) and return its id, the SHA-256 of ``data``.

        Raises:
            ValueError: the photo is larger than ``max_photo_bytes``.
        """
        import hashlib

        if len(data) > self.max_photo_bytes:
            raise ValueError(
                f"A photo of {len(data) / 2**20:.1f} MB cannot be kept for links: at most "
                f"{self.max_photo_bytes / 2**20:.0f} MB."
            )
        sha = hashlib.sha256(data).hexdigest()
        if not self._cache.touch(sha, expire=self.seconds):  # a photo linked again lives on
            self._cache.set(sha, (str(name)[:200], bytes(data)), expire=self.seconds)
        self._evict(keep=sha)
        return sha

    def _evict(self, keep: str) -> None:
        """Drop expired photos, then the first stored ones until the store fits its size bound
        (never ``keep``, the photo just stored)."""
        self._cache.expire()
        while self._cache.volume() > self.size_limit:
            try:
                oldest, _ = self._cache.peekitem(last=False)
            except KeyError:
                return
            if oldest == keep:
                return
            self._cache.delete(oldest)

    def get(self, sha: str) -> StoredPhoto | None:
        """The photo with id ``sha``, or None when the store does not hold it (expired, evicted,
        unknown, or not a photo id). Its bytes are checked against the id."""
        import hashlib

        sha = str(sha).strip().lower()
        if not PHOTO_ID.match(sha):
            return None
        value = self._cache.get(sha, default=None, retry=True)
        if not (isinstance(value, tuple) and len(value) == 2):
            return None
        name, data = value
        if hashlib.sha256(data).hexdigest() != sha:  # a damaged entry is never shown
            self._cache.delete(sha)
            return None
        return StoredPhoto(str(name), bytes(data))

    def __contains__(self, sha: str) -> bool:
        return str(sha) in self._cache

    def volume(self) -> int:
        """Bytes the store takes on disk (database and files)."""
        return int(self._cache.volume())

    def close(self) -> None:
        self._cache.close()


def enabled() -> bool:
    """Whether the server keeps uploaded photos for links (``GRADCAM_PHOTO_STORE``, default on)."""
    return os.environ.get(SWITCH_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def store() -> PhotoStore | None:
    """The server's photo store (one per folder and process), or None when it is switched off or
    its folder cannot be used (the reason is logged; links on uploads then say so)."""
    if not enabled():
        return None
    folder = default_folder()
    with _lock:
        found = _stores.get(str(folder))
        if found is None:
            try:
                found = PhotoStore(folder, _number(SIZE_ENV, DEFAULT_MEGABYTES), _number(DAYS_ENV, DEFAULT_DAYS))
            except Exception as error:  # an unwritable folder: the app works, links cannot carry uploads
                log.warning("gradcam-app: no photo store (%s: %s)", type(error).__name__, error)
                return None
            _stores[str(folder)] = found
        return found


def gone_message() -> str:
    """:data:`GONE` with the store's age bound."""
    days = _number(DAYS_ENV, DEFAULT_DAYS)
    return GONE.format(days=f"{days:g}")
