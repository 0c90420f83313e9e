"""Reader for PyTorch's legacy (pre-zip, PyTorch < 1.6) ``.pth`` serialization, without PyTorch.

A legacy file is, in order:

1. a pickle of the magic number ``0x1950a86a20f9469cfc6c``;
2. a pickle of the protocol version (``1001``);
3. a pickle of system information (``little_endian``, ``type_sizes``);
4. the pickled object (here: a state dict). Tensors are ``torch._utils._rebuild_tensor_v2(storage,
   offset, size, stride, ...)`` calls whose storage is a *persistent id*
   ``("storage", <StorageType>, key, location, numel, view_metadata)``;
5. a pickled list of storage keys;
6. for each key in that order: an 8-byte little-endian element count, then the raw little-endian data.

Safety: the object pickle is read with a restricted :class:`pickle.Unpickler` whose ``find_class``
returns only our own stand-ins for ``collections.OrderedDict``, the torch tensor-rebuild functions and
the torch storage types. Any other global (``os.system``, ``builtins.eval``, ...) is refused before it
is resolved, so a hostile file cannot run code. Tensors come back as NumPy arrays.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from .errors import WeightsFileError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

#: torch storage class name -> NumPy little-endian dtype of its elements.
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass(frozen=True)
class _StorageType:
    """Stand-in for a ``torch.<X>Storage`` class named in a persistent id."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return STORAGE_DTYPES[self.name]


@dataclass
class _StorageRef:
    """A storage announced by a persistent id; its bytes come after the object pickle."""

    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None


@dataclass
class _TensorRef:
    """A tensor whose storage has not been read yet: (storage, offset, size, stride) in elements."""

    storage: _StorageRef
    view_offset: int
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """Stand-in for ``torch._utils._rebuild_tensor(_v2)``; extra args (requires_grad, hooks) unused."""
    ref, view_offset = storage
    return _TensorRef(ref, view_offset, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *_ignored):
    """Stand-in for ``torch._utils._rebuild_parameter``: a Parameter is just its tensor here."""
    return data


# (module, name) -> the object the restricted unpickler hands back. Nothing else resolves.
_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_ALLOWED_GLOBALS.update({("torch", name): _StorageType(name) for name in STORAGE_DTYPES})


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in ``_ALLOWED_GLOBALS`` and collects storages."""

    def __init__(self, fh: BinaryIO, path: str):
        super().__init__(fh, encoding="utf-8")
        self.path = path
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise WeightsFileError(
                f"{self.path}: the pickle asks for the global '{module}.{name}'. Expected only "
                "PyTorch tensor/storage records and OrderedDict (a plain state dict). The file was "
                "refused without running it; if you trust it, load it with PyTorch and re-save the "
                "state dict alone (torch.save(model.state_dict(), path))."
            ) from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise WeightsFileError(
                f"{self.path}: expected persistent ids ('storage', type, key, location, numel, ...); "
                f"found {pid!r:.200}. This is not a legacy PyTorch tensor file."
            )
        storage_type, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if not isinstance(storage_type, _StorageType):
            raise WeightsFileError(f"{self.path}: storage {key} has an unknown type {storage_type!r}.")
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(key, storage_type.dtype, int(numel))
        view_metadata = pid[5] if len(pid) > 5 else None
        if view_metadata is not None:
            # (view_key, offset, view_size): a view into the root storage, offset in elements.
            _view_key, view_offset, _view_size = view_metadata
            return ref, int(view_offset)
        return ref, 0


def _describe(fh: BinaryIO) -> str:
    fh.seek(0)
    head = fh.read(8)
    if head[:4] == b"PK\x03\x04":
        return (
            "a zip archive (the PyTorch >= 1.6 format or another zip file), not the legacy "
            "format; re-save it with torch.save(obj, path, _use_new_zipfile_serialization=False)"
        )
    return f"leading bytes {head!r}"


def _load_pickle(fh: BinaryIO, path: str, what: str):
    """Load one of the small header pickles (numbers and dicts only: no globals allowed)."""
    try:
        return _RestrictedUnpickler(fh, path).load()
    except WeightsFileError:
        raise
    except Exception as exc:  # any unpickling failure means "not this format" or "cut short"
        raise WeightsFileError(
            f"{path}: expected the {what} pickle of a legacy PyTorch file; could not read it "
            f"({type(exc).__name__}: {exc}). Found {_describe(fh)}."
        ) from None


def load_legacy_state_dict(path: str | os.PathLike) -> collections.OrderedDict[str, np.ndarray]:
    """Read a legacy-format ``.pth`` state dict into NumPy arrays.

    Args:
        path: file written by ``torch.save(state_dict, path)`` with PyTorch < 1.6 (or with
            ``_use_new_zipfile_serialization=False``).

    Returns:
        ``OrderedDict`` name -> ``np.ndarray`` in the file's order, each with the tensor's shape and
        dtype (float32 weights, int64 ``num_batches_tracked``), contiguous and owning its memory.

    Raises:
        WeightsFileError: not a legacy PyTorch file (e.g. a zip archive or random bytes), truncated,
            big-endian, or a pickle that asks for anything but tensor records.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        if zipfile.is_zipfile(fh):
            raise WeightsFileError(f"{path}: expected a legacy (pre-zip) PyTorch file; found {_describe(fh)}.")
        fh.seek(0)
        magic = _load_pickle(fh, path, "magic-number")
        if magic != MAGIC_NUMBER:
            raise WeightsFileError(
                f"{path}: expected the legacy PyTorch magic number {MAGIC_NUMBER:#x}; found "
                f"{magic!r:.80}. This is not a legacy PyTorch file."
            )
        version = _load_pickle(fh, path, "protocol-version")
        if version != PROTOCOL_VERSION:
            raise WeightsFileError(
                f"{path}: expected legacy protocol version {PROTOCOL_VERSION}; found {version!r:.80}."
            )
        sys_info = _load_pickle(fh, path, "system-info")
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            raise WeightsFileError(
                f"{path}: expected a file written on a little-endian machine; system info says "
                f"{sys_info!r:.200}. Re-save it on a little-endian (x86/ARM) machine."
            )
        unpickler = _RestrictedUnpickler(fh, path)
        try:
            obj = unpickler.load()
        except WeightsFileError:
            raise
        except Exception as exc:
            raise WeightsFileError(
                f"{path}: the state-dict pickle is unreadable ({type(exc).__name__}: {exc}); the file "
                "is truncated or corrupt. Reinstall the package that ships it or download it again."
            ) from None
        keys = _load_pickle(fh, path, "storage-key list")
        if not isinstance(keys, list):
            raise WeightsFileError(f"{path}: expected a list of storage keys; found {type(keys).__name__}.")
        for key in keys:
            ref = unpickler.storages.get(str(key))
            if ref is None:
                raise WeightsFileError(f"{path}: storage key {key!r} is listed but no tensor uses it.")
            header = fh.read(8)
            if len(header) != 8:
                raise WeightsFileError(
                    f"{path}: truncated: expected an 8-byte element count for storage {key}, found "
                    f"{len(header)} bytes at offset {fh.tell()}. Reinstall or re-download the file."
                )
            (numel,) = struct.unpack("<q", header)
            if numel != ref.numel:
                raise WeightsFileError(
                    f"{path}: storage {key} should hold {ref.numel} elements; its header says {numel}."
                )
            nbytes = numel * ref.dtype.itemsize
            raw = fh.read(nbytes)
            if len(raw) != nbytes:
                raise WeightsFileError(
                    f"{path}: truncated: storage {key} needs {nbytes} bytes of data, found "
                    f"{len(raw)}. Reinstall or re-download the file."
                )
            ref.data = np.frombuffer(raw, dtype=ref.dtype)
        missing = [k for k, r in unpickler.storages.items() if r.data is None]
        if missing:
            raise WeightsFileError(f"{path}: storages {missing[:5]} are used but not in the key list.")
    return _materialize(obj, path)


def _tensor_to_array(ref: _TensorRef, path: str) -> np.ndarray:
    data = ref.storage.data
    if data is None:
        raise WeightsFileError(
            f"{path}: tensor storage {ref.storage.key!r} has no data in the file; the file is corrupt."
        )
    start = ref.view_offset + ref.offset
    if any(s < 0 for s in ref.stride) or len(ref.size) != len(ref.stride):
        raise WeightsFileError(f"{path}: tensor has invalid size {ref.size} / stride {ref.stride}.")
    # The largest element index the view touches must lie inside the storage.
    last = start + sum((n - 1) * s for n, s in zip(ref.size, ref.stride)) if all(ref.size) else start
    if start < 0 or (all(ref.size) and last >= data.size):
        raise WeightsFileError(
            f"{path}: tensor of size {ref.size} at offset {start} reads past its storage of "
            f"{data.size} elements; the file is corrupt."
        )
    item = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[start:], shape=ref.size, strides=tuple(s * item for s in ref.stride), writeable=False
    )
    return np.array(view, copy=True, order="C")


def _materialize(obj, path: str):
    if isinstance(obj, _TensorRef):
        return _tensor_to_array(obj, path)
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _materialize(v, path)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _materialize(v, path) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_materialize(v, path) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_materialize(v, path) for v in obj)
    return obj
