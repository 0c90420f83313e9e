"""Where the zoo keeps files it creates, and small file helpers (hashing, atomic writes)."""

from __future__ import annotations

import hashlib
import os

#: Environment variable that overrides the converted-weights cache folder.
CACHE_ENV = "GRADCAM_CACHE_DIR"


def cache_dir() -> str:
    """Folder for converted weights, read at call time (so tests and users can redirect it):
    ``$GRADCAM_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradcam-explorer``, else
    ``~/.cache/gradcam-explorer``. Not created here."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(xdg, "gradcam-explorer"))


def keras_models_dir() -> str:
    """Folder where Keras keeps downloaded application weights: ``$KERAS_HOME/models`` (default
    ``~/.keras/models``). Read at call time; Keras itself reads KERAS_HOME once at import, so set it
    before starting Python if you want both to agree."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.abspath(os.path.join(base, "models"))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (constant memory for large weights)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def md5_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file (Keras publishes MD5 hashes for its older application weights)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def temp_path_for(final_path: str, suffix: str = "") -> str:
    """A unique temporary name next to ``final_path`` (same folder, so ``os.replace`` is atomic).

    ``suffix`` is appended after the unique part, for writers that insist on a file extension
    (Keras requires ``.weights.h5``)."""
    folder, name = os.path.split(final_path)
    token = f"{os.getpid()}-{os.urandom(4).hex()}"
    return os.path.join(folder, f".{name}.{token}.tmp{suffix}")
