"""Pieces the commands share: loading a model by name or path, a progress bar, one-line errors."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import GradCamError


def add_model_arguments(parser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_PATH",
        help="a model-zoo name (python -m gradcam models) or a .keras/.h5 file; "
        "default: the offline EfficientNet-Lite0",
    )
    parser.add_argument(
        "--classes", default=None, metavar="FILE", help="class names for your own model: .txt (one per line) or .json"
    )
    parser.add_argument(
        "--preprocessing",
        default="tf",
        metavar="PRESET",
        help="input preprocessing for your own model: tf, torch, caffe, unit, raw or lite (default tf)",
    )
    parser.add_argument(
        "--token-grid",
        type=int,
        nargs=2,
        default=None,
        metavar=("H", "W"),
        help="for a vision transformer whose token grid cannot be inferred: its patch tokens "
        "form an H x W grid (Explainer's token_grid)",
    )


def make_explainer(model, args):
    """The Explainer of ``model`` with the arguments' ``--token-grid`` passed on."""
    from .. import Explainer

    token_grid = tuple(args.token_grid) if getattr(args, "token_grid", None) else None
    return Explainer(model, token_grid=token_grid)


def load_model(args):
    """The zoo model or user model the arguments name; raises GradCamError with a clear message."""
    import model_zoo

    name = args.model or model_zoo.DEFAULT_MODEL
    if Path(name).suffix.lower() in (".keras", ".h5", ".hdf5"):
        return model_zoo.load_user_model(name, class_names=args.classes, preprocessing=args.preprocessing)
    progress = ProgressBar(f"Preparing {name}") if sys.stderr.isatty() else None
    return model_zoo.load_model(name, progress=progress)


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


class ProgressBar:
    """A one-line progress bar on standard error: ``ProgressBar(title)(fraction, message)``."""

    def __init__(self, title: str, stream=None):
        self.title = title
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._live = self.stream.isatty()

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(fraction * 24)
        line = (
            f"{self.title} [{'#' * filled}{'.' * (24 - filled)}] {fraction:4.0%} "
            f"{time.perf_counter() - self.started:5.1f}s {message}"
        )
        if self._live:
            self.stream.write("\r" + line[:118].ljust(118))
            if fraction >= 1.0:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


__all__ = ["GradCamError", "ProgressBar", "add_model_arguments", "fail", "load_model", "make_explainer"]


def parse_target(text: str):
    """A target as typed on the command line: digits an index, ``group:dog`` a Group, ``A-vs-B`` a
    Contrast, anything else a class name (the links' format: :func:`gradcam.targets.decode_target`)."""
    from ..targets import decode_target

    return decode_target(text)


def each_image(paths, title: str, done: str, work, model_name: str | None = None) -> tuple[list[dict], int]:
    """Run ``work(path, stem) -> list of records`` for each image file, with a progress bar.

    ``stem`` is the file's stem made unique in this batch ("photo", "photo-2"). One image's failure
    becomes one ``error:`` line on standard error and a record with ``"error"``; the batch goes on.
    Returns (records, number of images that failed)."""
    records: list[dict] = []
    failures = 0
    progress = ProgressBar(title)
    seen: dict[str, int] = {}
    for number, path in enumerate(paths):
        progress(number / len(paths), Path(path).name)
        stem = Path(path).stem
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        try:
            records += work(path, stem if count == 0 else f"{stem}-{count + 1}")
        except Exception as error:  # noqa: BLE001 -- one image's failure must not stop the batch
            failures += 1
            message = (
                str(error)
                if isinstance(error, GradCamError)
                else (f"{path}: unexpected {type(error).__name__}: {' '.join(str(error).split())[:300]}")
            )
            print(("\n" if sys.stderr.isatty() else "") + f"error: {message}", file=sys.stderr)
            record = {"image": str(path), "error": message}
            if model_name is not None:
                record["model"] = model_name
            records.append(record)
    progress(1.0, f"{len(paths) - failures} of {len(paths)} images {done}")
    return records, failures
