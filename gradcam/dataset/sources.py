"""What a dataset run reads: the inputs under SRC (a folder, a ZIP, a CSV or Parquet list) and the
labels file.

Every input gets a stable position (``input_index``) in a plan sorted by its ``path`` as found
under SRC, so the same command always splits the same work the same way: that is what lets a
killed run resume, and two engines produce the same rows.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import limits
from ..errors import ImageError
from .errors import DatasetSourceError

if TYPE_CHECKING:
    from ..explainer import Explainer

FOLDER, ZIP, LIST = "folder", "zip", "list"
_WNID = re.compile(r"^n\d{8}$")


@dataclass(frozen=True)
class Source:
    """Where the inputs come from. ``kind`` is "folder", "zip" or "list"; ``root`` the absolute
    path of SRC; ``paths`` the inputs' paths as found under SRC, sorted."""

    kind: str
    root: str
    paths: tuple[str, ...]
    skipped_hidden: int = 0


def open_source(src: str | os.PathLike) -> Source:
    """List the inputs of ``src``: a folder (recursive; hidden files and folders, whose names start
    with ".", are skipped), a ``.zip`` (every file member), or a ``.csv`` / ``.parquet`` list with a
    ``path`` column (relative paths are relative to the list's folder).

    Every file found becomes an input, images or not: a file that is not an image ends as an error
    row rather than being silently left out.

    Raises:
        DatasetSourceError: SRC missing, of another kind, unreadable, or without inputs.
    """
    root = os.path.abspath(os.fspath(src))
    if os.path.isdir(root):
        paths, hidden = _walk(root)
        return _checked(Source(FOLDER, root, tuple(sorted(paths)), hidden))
    if not os.path.exists(root):
        raise DatasetSourceError(f"{src}: no such file or folder. Give a folder, a .zip, or a .csv/.parquet list.")
    suffix = Path(root).suffix.lower()
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(root) as archive:
                names = [i.filename for i in archive.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as error:
            raise DatasetSourceError(f"{src}: not a readable ZIP file ({error}). Re-create the archive.") from None
        return _checked(Source(ZIP, root, tuple(sorted(dict.fromkeys(names)))))
    if suffix in (".csv", ".parquet"):
        column = _read_column(root, "path")
        paths = [p.strip() for p in column if p is not None and str(p).strip()]
        return _checked(Source(LIST, root, tuple(sorted(dict.fromkeys(paths)))))
    raise DatasetSourceError(
        f"{src}: expected a folder, a .zip, or a .csv/.parquet list with a 'path' column; found a "
        f"{suffix or 'file without extension'}."
    )


def _checked(source: Source) -> Source:
    if not source.paths:
        raise DatasetSourceError(f"{source.root}: no inputs found (the {source.kind} is empty). Point SRC at images.")
    return source


def _walk(root: str) -> tuple[list[str], int]:
    paths, hidden = [], 0
    for folder, dirs, files in os.walk(root):
        hidden += sum(d.startswith(".") for d in dirs) + sum(f.startswith(".") for f in files)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if not name.startswith("."):
                paths.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return paths, hidden


def _read_column(path: str, name: str) -> list[str | None]:
    """One column of a CSV (with a header row) or Parquet file, as strings (None for an empty cell)."""
    if path.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as error:  # noqa: BLE001 -- any pyarrow failure is "unreadable"
            raise DatasetSourceError(f"{path}: not a readable Parquet file ({error}).") from None
        if name not in table.column_names:
            raise DatasetSourceError(
                f"{path}: expected a '{name}' column; found {', '.join(table.column_names) or 'none'}."
            )
        return [None if v is None else str(v) for v in table.column(name).to_pylist()]
    rows = _read_csv(path)
    if rows and name not in rows[0]:
        raise DatasetSourceError(
            f"{path}: expected a header row with a '{name}' column; found {', '.join(rows[0]) or 'none'}."
        )
    return [row.get(name) for row in rows]


def _read_csv(path: str) -> list[dict[str, str]]:
    """Rows of a CSV with a header row, keys stripped; the header alone is returned as the
    first row's keys when there are no data rows (so a missing column is still reported)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetSourceError(f"{path}: the CSV file could not be read ({error}).") from None
    if reader.fieldnames is None:
        raise DatasetSourceError(f"{path}: the CSV file is empty; expected a header row.")
    return rows or [{k.strip(): None for k in reader.fieldnames}]


def read_labels(path: str | os.PathLike) -> dict[str, str]:
    """The labels file: CSV ``path,label`` (header row required) -> {path: label text}.

    ``path`` is matched against the inputs' paths as found under SRC. The label is a class index,
    a class name, or a WordNet id (``n02123159``) for ImageNet models; it is resolved later,
    against the model, by :func:`resolve_label`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DatasetSourceError(f"{path}: labels file not found. Give a CSV with the columns path,label.")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        try:
            reader = csv.DictReader(handle)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            if "path" not in fields or "label" not in fields:
                raise DatasetSourceError(
                    f"{path}: expected a header row with the columns path,label; found {','.join(fields) or 'none'}."
                )
            labels = {}
            for row in reader:
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                if row["path"]:
                    labels[row["path"]] = row["label"]
            return labels
        except (UnicodeDecodeError, csv.Error) as error:
            raise DatasetSourceError(f"{path}: the labels file could not be read ({error}).") from None


def resolve_label(text: str, explainer: Explainer) -> int:
    """A label as a class index: a number, a class name (case-insensitive), or a WordNet id when
    the model has the 1000 ImageNet classes. Raises UnknownClassError naming the label."""
    if _WNID.match(text.strip()) and len(explainer.class_names) == 1000:
        from model_zoo.imagenet import imagenet_wnids

        wnids = imagenet_wnids()
        if text.strip() in wnids:
            return wnids.index(text.strip())
    return explainer.class_index(text)


class Reader:
    """Reads inputs' bytes. Cheap to build, picklable: each worker makes its own and opens the ZIP
    once per batch rather than once per image."""

    def __init__(self, source: Source):
        self.kind, self.root = source.kind, source.root

    def read_many(self, paths: list[str]) -> list[bytes | ImageError]:
        """Bytes of each path, or the ImageError that says why it could not be read."""
        if self.kind != ZIP:
            return [self._guard(path, lambda p=path: self._read_file(p)) for path in paths]
        try:
            archive = zipfile.ZipFile(self.root)
        except (zipfile.BadZipFile, OSError) as error:
            return [ImageError(f"{p}: the ZIP file could not be opened ({error}).") for p in paths]
        with archive:
            return [self._guard(path, lambda p=path: self._read_member(archive, p)) for path in paths]

    @staticmethod
    def _guard(path: str, read):
        try:
            return read()
        except ImageError as error:
            return error
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, RuntimeError) as error:
            reason = getattr(error, "strerror", None) or " ".join(str(error).split())[:200] or type(error).__name__
            return ImageError(f"{path}: the file could not be read ({reason}). Check that it exists and is readable.")

    def _read_file(self, path: str) -> bytes:
        full = (
            path
            if os.path.isabs(path)
            else os.path.join(self.root if self.kind == FOLDER else os.path.dirname(self.root), path)
        )
        if not os.path.exists(full):
            raise ImageError(f"{path}: file not found ({full}). Check the path and try again.")
        size = os.stat(full).st_size
        if size > limits.MAX_IMAGE_BYTES:
            raise ImageError(
                f"{path}: the file is {size} bytes, over the {limits.MAX_IMAGE_BYTES}-byte limit "
                "(GRADCAM_MAX_IMAGE_BYTES). Use a smaller image."
            )
        with open(full, "rb") as handle:
            return handle.read(limits.MAX_IMAGE_BYTES + 1)

    @staticmethod
    def _read_member(archive: zipfile.ZipFile, path: str) -> bytes:
        info = archive.getinfo(path)
        # The declared size is checked before inflating, and the read is capped, so a ZIP bomb
        # member cannot fill the memory.
        if info.file_size > limits.MAX_IMAGE_BYTES:
            raise ImageError(
                f"{path}: the ZIP member is {info.file_size} bytes, over the {limits.MAX_IMAGE_BYTES}-"
                "byte limit (GRADCAM_MAX_IMAGE_BYTES). Use a smaller image."
            )
        with archive.open(info) as handle:
            return handle.read(limits.MAX_IMAGE_BYTES + 1)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of an input's bytes (the ``sha256`` column)."""
    return hashlib.sha256(data).hexdigest()
