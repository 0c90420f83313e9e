"""A small dataset uploaded as a ZIP (the web app's Dataset view): checked against stated limits,
stored inside a new run folder under the runs folder, and run with the local engine.

The run folder keeps the ZIP it was made from (``RUN/source.zip``, and ``RUN/labels.csv`` when a
labels file came with it), so the run stays complete and its images stay readable wherever the
runs folder is moved, and an interrupted upload run can be finished from the page
(:func:`resume_zip_upload`). While a run works it holds a lock on ``RUN/.running`` (released by
the operating system when the process ends, however it ends), so the page can tell a run that is
still working from one that was interrupted. Larger datasets are for ``python -m gradcam dataset
run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

from .. import limits
from .errors import DatasetSourceError, RunFolderError
from .runner import RunSummary, run_dataset
from .work import ModelSpec

SOURCE_NAME = "source.zip"
LABELS_NAME = "labels.csv"
LOCK_NAME = ".running"
#: Inputs per batch (and per shard) for runs made from the page.
UPLOAD_BATCH_SIZE = 8


def check_zip(
    data: bytes, filename: str = "upload.zip", *, max_images: int | None = None, max_bytes: int | None = None
) -> int:
    """How many files the uploaded ZIP holds, once it is known to fit the limits.

    Args:
        data: the ZIP's bytes.
        filename: its name as uploaded (for messages).
        max_images, max_bytes: default :data:`gradcam.limits.MAX_DATASET_UPLOAD_IMAGES` and
            ``MAX_DATASET_UPLOAD_BYTES``.

    Raises:
        DatasetSourceError: larger than ``max_bytes``, not a ZIP, no files, or more than ``max_images``
            files; the message says what was found and what to do.
    """
    max_images = limits.MAX_DATASET_UPLOAD_IMAGES if max_images is None else max_images
    max_bytes = limits.MAX_DATASET_UPLOAD_BYTES if max_bytes is None else max_bytes
    if len(data) > max_bytes:
        raise DatasetSourceError(
            f"{filename}: {len(data) / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit for a dataset "
            "uploaded here. Upload fewer or smaller images, or run the whole dataset with "
            "'python -m gradcam dataset run SRC --out RUN' into the runs folder."
        )
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            files = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise DatasetSourceError(
            f"{filename}: not a readable ZIP file ({error}). Compress the images into a "
            ".zip (for example with 'zip -r photos.zip photos/') and upload that."
        ) from None
    if not files:
        raise DatasetSourceError(f"{filename}: the ZIP holds no files. Put the images in it and upload it again.")
    if len(files) > max_images:
        raise DatasetSourceError(
            f"{filename}: {len(files)} files, over the limit of {max_images} for a dataset uploaded here. Upload "
            "a smaller sample, or run the whole dataset with 'python -m gradcam dataset run SRC --out RUN' into "
            "the runs folder."
        )
    return len(files)


def new_run_name(root: str | os.PathLike, filename: str) -> str:
    """A fresh folder name under ``root`` for an upload: the ZIP's stem (letters, digits, ``-`` and
    ``_`` kept) and the time, with a counter if that is taken."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(filename).stem).strip("-")[:40] or "upload"
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, number = base, 1
    while (Path(root) / name).exists():
        number += 1
        name = f"{base}-{number}"
    return name


def run_zip_upload(
    root: str | os.PathLike,
    data: bytes,
    filename: str,
    *,
    model,
    spec: ModelSpec,
    method: str,
    layer: str | None = None,
    labels: bytes | None = None,
    batch_size: int = UPLOAD_BATCH_SIZE,
    progress: Callable[[int, int, float], None] | None = None,
) -> tuple[str, RunSummary]:
    """Check an uploaded ZIP, store it in a new run folder under ``root`` and explain every file in
    it with the local engine (``model``, already loaded, as ``spec`` names it). Returns the run's
    name (relative to ``root``) and its summary.

    A failure before any image is explained (a bad ZIP or labels file, an unknown layer) removes
    the new folder again, so nothing half-made is left in the list of runs.

    Raises:
        DatasetSourceError: the ZIP or labels file cannot be used (see :func:`check_zip`).
        GradCamError: a method or layer the model does not have.
    """
    check_zip(data, filename)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = new_run_name(root, filename)
    folder = root / name
    folder.mkdir()
    (folder / SOURCE_NAME).write_bytes(data)
    labels_path = None
    if labels is not None:
        labels_path = folder / LABELS_NAME
        labels_path.write_bytes(labels)
    try:
        with _running(folder):
            summary = run_dataset(
                folder / SOURCE_NAME,
                folder,
                spec=spec,
                methods=[method],
                layer=layer,
                labels=labels_path,
                batch_size=batch_size,
                model=model,
                progress=progress,
            )
    except BaseException:
        if not (folder / "manifest.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return name, summary


def is_resumable(run: str | os.PathLike) -> bool:
    """Whether ``run`` is an uploaded run (it keeps its ``source.zip``) that is unfinished and not
    working now: one that :func:`resume_zip_upload` can finish."""
    from .results import RunFolder

    folder = Path(run)
    return (
        (folder / SOURCE_NAME).is_file()
        and (folder / "manifest.json").is_file()
        and not RunFolder(folder).is_complete()
        and not is_running(folder)
    )


def is_running(run: str | os.PathLike) -> bool:
    """Whether a process is working on the uploaded run ``run`` now (it holds ``RUN/.running``).
    Only reads: a run in a read-only runs folder can still be asked."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; see _running
        return False
    try:
        handle = open(Path(run) / LOCK_NAME, "rb")
    except OSError:  # no lock file: never run from the page, or not readable
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def resume_zip_upload(
    root: str | os.PathLike, name: str, *, model=None, progress: Callable[[int, int, float], None] | None = None
) -> RunSummary:
    """Finish the interrupted upload run ``name`` (inside ``root``) with the same model, method,
    layer, target and labels it was started with, read from its manifest: committed rows are kept
    and only the missing inputs are explained, as when a ``dataset run`` command is run again.

    Args:
        model: the run's model if already loaded (must be the one its manifest names); else loaded.

    Raises:
        RunAccessError: ``name`` is not a run inside ``root``.
        DatasetSourceError: not an upload run (no source.zip), or another process is working on it.
        RunFolderError: an unreadable manifest, or a run made elsewhere (its manifest names another
            source path).
    """
    from .browse import resolve_run

    folder = resolve_run(root, name)
    if not (folder / SOURCE_NAME).is_file():
        raise DatasetSourceError(
            f"Run {name!r} was not made from an uploaded ZIP (it has no {SOURCE_NAME}): finish "
            "it with the 'python -m gradcam dataset run' command that started it."
        )
    fields = _manifest_fields(folder)
    labels = folder / LABELS_NAME
    with _running(folder):
        return run_dataset(
            folder / SOURCE_NAME,
            folder,
            spec=_spec(folder, fields),
            methods=fields.get("methods") or ["gradcam"],
            target=fields.get("target") or "top",
            layer=fields.get("layer"),
            labels=labels if labels.is_file() else None,
            metrics=bool(fields.get("metrics")),
            batch_size=UPLOAD_BATCH_SIZE,
            model=model,
            progress=progress,
        )


def run_spec(run: str | os.PathLike):
    """The :class:`~gradcam.dataset.ModelSpec` a run was started with, from its manifest (the
    default model's spec when the manifest names none).

    Raises:
        RunFolderError: the manifest cannot be read.
    """
    return _spec(Path(run), _manifest_fields(Path(run)))


def _manifest_fields(folder: Path) -> dict:
    from .results import RunFolder

    try:
        fields = (RunFolder(folder).read_manifest() or {}).get("fields", {})
    except (OSError, ValueError, AttributeError) as error:
        raise RunFolderError(
            f"Run {folder.name!r}: its manifest.json cannot be read ({error}). Delete the run "
            "folder and upload the ZIP again."
        ) from None
    return fields if isinstance(fields, dict) else {}


def _spec(folder: Path, fields: dict):
    from .work import ModelSpec

    try:
        return ModelSpec(**json.loads(fields.get("model") or "{}"))
    except (TypeError, ValueError) as error:
        raise RunFolderError(
            f"Run {folder.name!r}: its manifest names no model this version can load ({error}). "
            "Delete the run folder and upload the ZIP again."
        ) from None


@contextlib.contextmanager
def _running(folder: Path) -> Iterator[None]:
    """Hold the run's lock file (``RUN/.running``) while the block runs.

    Raises:
        DatasetSourceError: another process holds it (the run is working there now), or the run
            folder cannot be written.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; runs are not guarded against each other
        yield
        return
    try:
        handle = open(folder / LOCK_NAME, "a+")
    except OSError as error:
        raise DatasetSourceError(
            f"Run {folder.name!r} cannot be worked on here: its folder cannot be written "
            f"({error.strerror}). Check the runs folder's permissions."
        ) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise DatasetSourceError(
                f"Run {folder.name!r} is being worked on now (by this server or another "
                "process): wait for it to finish, then reload the page."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = [
    "LABELS_NAME",
    "SOURCE_NAME",
    "check_zip",
    "is_resumable",
    "is_running",
    "new_run_name",
    "resume_zip_upload",
    "run_spec",
    "run_zip_upload",
]
