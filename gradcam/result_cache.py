"""Explanations kept on disk: a restarted server, a second server and the CLI find what was computed.

A :class:`ResultCache` is a folder holding finished explanations (their maps, probabilities and
everything :class:`gradcam.Explanation` carries) and each image's class probabilities, keyed by
content: the model's weights fingerprint, the image's pixels (SHA-256), the method, the layer, the
target, the method's options and the library's version. A new library version never reads an
entry an older one wrote.

It is built on ``diskcache`` (SQLite plus one file per large value): maintained, safe for several
threads and processes at once (SQLite transactions; a large value is written to its own new file
before the row that names it is committed, so a reader sees the old entry or the new one, never
half of one), bounded in size with least-recently-used eviction. No lock is held while a map is
computed: two processes missing the same key both compute it and both write it (the same bytes).

Every entry carries a SHA-256 of its own bytes: a truncated or damaged entry is detected when read,
deleted and reported as a miss, so the caller computes the map again; it is never shown. A disk
that is full (or any other write error) costs the entry, never the result: the caller gets its
freshly computed map, and :attr:`ResultCache.write_errors` counts the failures.

Folder: ``$GRADCAM_RESULT_CACHE_DIR``, else ``results/`` inside the model zoo's cache folder
(``$GRADCAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradcam-explorer``, else
``~/.cache/gradcam-explorer``). Size bound: ``$GRADCAM_RESULT_CACHE_MB`` (default 1024 MiB).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .explanation import Explanation

log = logging.getLogger(__name__)

#: Environment variable naming the folder; see :func:`default_folder`.
FOLDER_ENV = "GRADCAM_RESULT_CACHE_DIR"
#: Environment variable giving the size bound in MiB.
SIZE_ENV = "GRADCAM_RESULT_CACHE_MB"
DEFAULT_MEGABYTES = 1024
#: Bumped when the stored layout changes (on top of the library's version in every key).
SCHEMA = 1
_MAGIC = b"GCRC" + SCHEMA.to_bytes(4, "big")
_DIGEST = 32  # bytes of the SHA-256 that follows the magic


def default_folder() -> Path:
    """The result cache's folder, read at call time: ``$GRADCAM_RESULT_CACHE_DIR``, else
    ``<the model zoo's cache folder>/results``. Not created here."""
    from model_zoo.cache import cache_dir  # the one rule for the app's cache folder

    explicit = os.environ.get(FOLDER_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    return (Path(cache_dir()) / "results").resolve()


def default_megabytes() -> float:
    """The size bound in MiB: ``$GRADCAM_RESULT_CACHE_MB``, else 1024."""
    value = os.environ.get(SIZE_ENV)
    return float(value) if value else float(DEFAULT_MEGABYTES)


def library_version() -> str:
    """The engine's version, part of every key."""
    from . import __version__

    return __version__


def fingerprint(name: str, weights: str, preprocessing: str | None, class_names: Sequence[str]) -> str:
    """The model part of a key: its name, a digest of its weights, its preprocessing and a digest
    of its class names (which name the explained classes). Equal strings, equal results."""
    names = hashlib.sha256("\n".join(map(str, class_names)).encode()).hexdigest()[:16]
    return f"{name}:{weights}:{preprocessing or '-'}:{names}"


def model_fingerprint(model: Any, class_names: Sequence[str]) -> str:
    """:func:`fingerprint` of a model: a model-zoo model (or an uploaded one loaded by the zoo)
    names its weights by the SHA-256 the zoo computed from the weights file, and its preprocessing
    preset; a ``keras.Model`` by a SHA-256 over every weight array, its path, shape and dtype (reads
    the weights once: ~20 ms per 5 M parameters).

    A ``keras.Model`` explained with a ``preprocess`` of the caller's own should be given an
    explicit ``model_id`` (``Explainer(..., model_id=...)``): a function cannot be hashed."""
    sha = getattr(model, "weights_sha256", None)
    if sha:
        return fingerprint(
            str(getattr(model, "name", "model")), sha, getattr(model, "preprocessing", None), class_names
        )
    keras_model = getattr(model, "keras_model", model)
    digest = hashlib.sha256()
    for weight in keras_model.weights:
        value = np.ascontiguousarray(np.asarray(weight))
        digest.update(f"{weight.path}{value.shape}{value.dtype.str}".encode())
        digest.update(value.tobytes())
    return fingerprint(str(getattr(keras_model, "name", "model")), digest.hexdigest(), None, class_names)


def target_token(resolved: Any) -> str:
    """A resolved target (:class:`gradcam.targets.ResolvedTarget`) as a short stable string:
    equal tokens, equal targets (its kind, names, members and a digest of its weights)."""
    weights = resolved.weights
    digest = (
        "-" if weights is None else hashlib.sha256(np.ascontiguousarray(weights, np.float32).tobytes()).hexdigest()[:24]
    )
    return json.dumps(
        [
            resolved.kind,
            resolved.name,
            list(resolved.members),
            resolved.other_name,
            list(resolved.other_members),
            digest,
        ]
    )


def _plain(value: Any) -> Any:
    """Option values as JSON: tuples as lists, NumPy scalars as numbers, anything else by repr."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    return repr(value)


def explanation_key(
    model_id: str,
    image_digest: str,
    method: str,
    layer: str | None,
    target: str,
    options: Mapping[str, Any],
    version: str | None = None,
) -> str:
    """The key of one explanation: a SHA-256 over the version, the model, the image, the method,
    the layer, the target token (:func:`target_token`) and the options (``aug_smooth`` included)."""
    version = library_version() if version is None else version
    text = json.dumps(["explanation", SCHEMA, version, model_id, image_digest, method, layer, target, _plain(options)])
    return f"{version}:x:{hashlib.sha256(text.encode()).hexdigest()}"


def probabilities_key(model_id: str, image_digest: str, version: str | None = None) -> str:
    """The key of one image's class probabilities under one model."""
    version = library_version() if version is None else version
    text = json.dumps(["probabilities", SCHEMA, version, model_id, image_digest])
    return f"{version}:p:{hashlib.sha256(text.encode()).hexdigest()}"


def facts_key(model_id: str, version: str | None = None) -> str:
    """The key of a model's facts (layers, default layer, class names, input size): what a page
    needs to find a cached view before the model itself is loaded."""
    version = library_version() if version is None else version
    return f"{version}:m:{hashlib.sha256(json.dumps(['facts', SCHEMA, version, model_id]).encode()).hexdigest()}"


# -- the stored bytes -------------------------------------------------------------------------------
def _seal(arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    buffer = io.BytesIO()
    named: dict[str, Any] = {"__meta__": np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays}
    np.savez(buffer, **named)
    payload = buffer.getvalue()
    return _MAGIC + hashlib.sha256(payload).digest() + payload


def _open(blob: Any) -> tuple[dict[str, np.ndarray], dict] | None:
    """Arrays and metadata of a sealed entry, or None when it is not one, or damaged."""
    if not isinstance(blob, (bytes, bytearray)) or len(blob) < len(_MAGIC) + _DIGEST:
        return None
    head = len(_MAGIC)
    if bytes(blob[:head]) != _MAGIC:
        return None
    payload = memoryview(blob)[head + _DIGEST :]
    if hashlib.sha256(payload).digest() != bytes(blob[head : head + _DIGEST]):
        return None
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    except (ValueError, OSError, KeyError, json.JSONDecodeError):  # pragma: no cover - checksum passed
        return None
    return arrays, meta


def _pack_explanation(explanation: Explanation, version: str) -> bytes:
    arrays, meta = {}, {"kind": "explanation", "version": version}
    for field in dataclasses.fields(Explanation):
        value = getattr(explanation, field.name)
        if isinstance(value, np.ndarray):
            arrays[field.name] = value
        else:
            meta[field.name] = value
    return _seal(arrays, meta)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _unpack_explanation(arrays: dict[str, np.ndarray], meta: dict) -> Explanation:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Explanation):
        if field.name in arrays:
            values[field.name] = arrays[field.name]
        elif field.name in meta:
            values[field.name] = _tuples(meta[field.name])
    return Explanation(**values)


class ResultCache:
    """Finished explanations and probabilities on disk, shared by threads and processes.

    Args:
        folder: where the cache lives (created if missing); default :func:`default_folder`.
            Several processes (two app servers, the CLI) may open the same folder at once.
        megabytes: the size bound in MiB; past it the least recently used entries are evicted.
            Default :func:`default_megabytes`.
        version: the library version written into and required of every entry (default the
            installed ``gradcam.__version__``; tests pass another to see old entries ignored).

    Reads and writes never raise for the cache's own sake: a damaged entry is a miss (and is
    deleted), a failed write is logged once and counted in :attr:`write_errors`.
    """

    def __init__(
        self, folder: str | os.PathLike | None = None, megabytes: float | None = None, version: str | None = None
    ):
        import diskcache  # here, so that importing gradcam costs nothing for those who never cache

        self.folder = Path(folder).expanduser().resolve() if folder is not None else default_folder()
        self.megabytes = float(megabytes) if megabytes is not None else default_megabytes()
        self.version = version if version is not None else library_version()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._store = diskcache.Cache(
            str(self.folder),
            size_limit=int(self.megabytes * 1024 * 1024),
            eviction_policy="least-recently-used",
            # Each write evicts as many entries as it must (0 would leave culling to an explicit call).
            cull_limit=1000,
            # Waits up to a minute for another process's transaction instead of failing at once.
            timeout=60,
        )
        self._lock = threading.Lock()
        #: Writes that failed (a full disk, a read-only folder); each cost one entry, never a result.
        self.write_errors = 0
        #: Entries found damaged (checksum, truncated file) and deleted; each read as a miss.
        self.damaged = 0
        self._warned = False

    # -- raw access -----------------------------------------------------------------------------
    def _get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        try:
            blob = self._store.get(key, default=None, retry=True)
        except (OSError, sqlite3.Error) as error:
            log.warning("result cache %s: could not read an entry (%s); computing it again", self.folder, error)
            return None
        if blob is None:
            return None
        opened = _open(blob)
        if opened is None or opened[1].get("version") != self.version:
            with self._lock:
                self.damaged += 1
            log.warning("result cache %s: a damaged entry was found and deleted; computing it again", self.folder)
            self.delete(key)
            return None
        return opened

    def _set(self, key: str, blob: bytes) -> bool:
        try:
            self._store.set(key, blob, retry=True)
            return True
        except (OSError, sqlite3.Error) as error:
            with self._lock:
                self.write_errors += 1
                first = not self._warned
                self._warned = True
            if first:
                log.warning(
                    "result cache %s: could not store an entry (%s); results are still returned", self.folder, error
                )
            return False

    def delete(self, key: str) -> None:
        """Forget one entry (no error when it is missing)."""
        try:
            self._store.delete(key, retry=True)
        except (OSError, sqlite3.Error):  # pragma: no cover - a read-only folder
            pass

    # -- explanations ---------------------------------------------------------------------------
    def key(
        self, model_id: str, image_digest: str, method: str, layer: str | None, target: str, options: Mapping
    ) -> str:
        """:func:`explanation_key` under this cache's version."""
        return explanation_key(model_id, image_digest, method, layer, target, options, self.version)

    def get_explanation(self, key: str) -> Explanation | None:
        """The explanation stored under ``key`` (from :meth:`key`), or None (missing or damaged)."""
        opened = self._get(key)
        if opened is None or opened[1].get("kind") != "explanation":
            return None
        return _unpack_explanation(*opened)

    def put_explanation(self, key: str, explanation: Explanation) -> bool:
        """Store ``explanation`` under ``key``; False when the write failed (the disk is full, ...)."""
        return self._set(key, _pack_explanation(explanation, self.version))

    # -- probabilities and model facts ----------------------------------------------------------
    def get_probabilities(self, model_id: str, image_digest: str) -> np.ndarray | None:
        """The class probabilities (classes,) stored for an image under a model, or None."""
        opened = self._get(probabilities_key(model_id, image_digest, self.version))
        return None if opened is None else opened[0].get("probabilities")

    def put_probabilities(self, model_id: str, image_digest: str, probabilities: np.ndarray) -> bool:
        """Store an image's class probabilities (classes,) under a model."""
        blob = _seal({"probabilities": np.asarray(probabilities, np.float32)}, {"kind": "p", "version": self.version})
        return self._set(probabilities_key(model_id, image_digest, self.version), blob)

    def get_facts(self, model_id: str) -> dict | None:
        """What :meth:`put_facts` stored for a model (layers, default layer, class names, ...), or None."""
        opened = self._get(facts_key(model_id, self.version))
        return None if opened is None else opened[1].get("facts")

    def put_facts(self, model_id: str, facts: Mapping[str, Any]) -> bool:
        """Store a model's facts (JSON-able values) for pages that run before the model is loaded."""
        blob = _seal({}, {"kind": "facts", "version": self.version, "facts": _plain(dict(facts))})
        return self._set(facts_key(model_id, self.version), blob)

    # -- housekeeping ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._store)

    @property
    def volume(self) -> int:
        """Bytes the cache takes on disk now (SQLite pages and value files)."""
        return int(self._store.volume())

    def clear(self) -> None:
        """Forget every entry."""
        self._store.clear(retry=True)

    def close(self) -> None:
        """Close the SQLite connections (reopened on the next use)."""
        self._store.close()

    def __repr__(self) -> str:
        return f"ResultCache({str(self.folder)!r}, megabytes={self.megabytes:g}, version={self.version!r})"


def explanations_equal(a: Explanation, b: Explanation, ignore: Sequence[str] = ("seconds",)) -> bool:
    """Whether two explanations hold the same maps and facts (``seconds`` ignored by default)."""
    for field in dataclasses.fields(Explanation):
        if field.name in ignore:
            continue
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
                return False
            if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=True):
                return False
        elif x != y:
            return False
    return True
