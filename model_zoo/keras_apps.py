"""Keras application models whose ImageNet weights download on first use.

The weights land where Keras itself keeps them, ``$KERAS_HOME/models`` (default ``~/.keras/models``),
under the exact file names Keras uses, so a file Keras downloaded is reused and a file copied there
by hand (air-gapped machines) is found. The download is done here rather than by
``keras.utils.get_file`` so that it reports progress to a callback, fails fast without a network
(one connection attempt with a timeout) and raises :class:`WeightsUnavailableError` naming the file,
the folder and the URL. The architectures are built with ``weights=None`` and
``classifier_activation=None`` (logits output), then the file is loaded with ``load_weights``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass

from gradcam.progress import Progress

from .cache import keras_models_dir, md5_file, sha256_file, temp_path_for
from .errors import WeightsUnavailableError

#: Seconds to wait for the server to answer before declaring the network unavailable.
DOWNLOAD_TIMEOUT_S = 15.0
_GS = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class KerasApp:
    """A Keras application: how to build it and which weights file it needs."""

    name: str
    label: str
    builder: str  # attribute of keras.applications
    input_size: int
    preprocessing: str  # key of model_zoo.PREPROCESSING
    file_name: str  # exact name Keras uses in $KERAS_HOME/models
    url: str
    file_hash: str | None  # md5 (32 hex) or sha256 (64 hex) published in Keras; None if Keras has none
    approx_mb: int
    note: str = ""


# File names, URLs and hashes as in keras/src/applications/*.py (Keras 3); a test checks them
# against what the Keras builders themselves request, so a Keras upgrade that moves a file fails it.
APPS: dict[str, KerasApp] = {
    a.name: a
    for a in [
        KerasApp(
            "mobilenetv2",
            "MobileNetV2",
            "MobileNetV2",
            224,
            "tf",
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
            _GS + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5",
            None,
            14,
        ),
        KerasApp(
            "resnet50",
            "ResNet50",
            "ResNet50",
            224,
            "caffe",
            "resnet50_weights_tf_dim_ordering_tf_kernels.h5",
            _GS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
            "2cb95161c43110f7111970584f804107",
            98,
        ),
        KerasApp(
            "inceptionv3",
            "InceptionV3",
            "InceptionV3",
            299,
            "tf",
            "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            _GS + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
            "9a0d58056eeedaa3f26cb7ebd46da564",
            92,
            "the network behind the original Grad-CAM blog examples",
        ),
        KerasApp(
            "xception",
            "Xception",
            "Xception",
            299,
            "tf",
            "xception_weights_tf_dim_ordering_tf_kernels.h5",
            _GS + "xception/xception_weights_tf_dim_ordering_tf_kernels.h5",
            "0a58e3b7378bc2990ea3b43d5981f1f6",
            88,
        ),
        KerasApp(
            "vgg16",
            "VGG16",
            "VGG16",
            224,
            "caffe",
            "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            _GS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
            "64373286793e3c8b2b4e3219cbf3544b",
            528,
            "the Grad-CAM paper's network",
        ),
        KerasApp(
            "densenet121",
            "DenseNet121",
            "DenseNet121",
            224,
            "torch",
            "densenet121_weights_tf_dim_ordering_tf_kernels.h5",
            _GS + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels.h5",
            "9d60b8095a5708f2dcce2bca79d332c7",
            33,
        ),
        KerasApp(
            "efficientnetb0",
            "EfficientNetB0",
            "EfficientNetB0",
            224,
            "raw",
            "efficientnetb0.h5",
            "https://storage.googleapis.com/keras-applications/efficientnetb0.h5",
            "902e53a9f72be733fc0bcb005b3ebbac",
            21,
            "normalises inside the model",
        ),
        KerasApp(
            "convnext_tiny",
            "ConvNeXtTiny",
            "ConvNeXtTiny",
            224,
            "raw",
            "convnext_tiny.h5",
            _GS + "convnext/convnext_tiny.h5",
            "8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
            110,
            "normalises inside the model",
        ),
    ]
}


def weights_path(app: KerasApp) -> str:
    """Where the weights file of ``app`` is (or will be) on this machine."""
    return os.path.join(keras_models_dir(), app.file_name)


def is_downloaded(app: KerasApp) -> bool:
    """True when the exact weights file is in the Keras cache (no network, no hashing)."""
    return os.path.isfile(weights_path(app))


def unavailable_message(app: KerasApp, reason: str) -> str:
    """The air-gapped instructions: the exact file, the folder it goes in and where to get it."""
    return (
        f"{app.label}: expected the ImageNet weights file {app.file_name} (about {app.approx_mb} MB) in "
        f"{keras_models_dir()}; it is not there and downloading it failed ({reason}). On a machine "
        f"with internet access, download {app.url} and copy it, keeping its name, into that folder "
        "(set KERAS_HOME before starting to use another folder), or pick the offline default model "
        "'efficientnet-lite0'."
    )


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(float(min(max(fraction, 0.0), 1.0)), message)


def _hash_matches(path: str, expected: str | None) -> bool:
    if not expected:
        return True
    actual = sha256_file(path) if len(expected) == 64 else md5_file(path)
    return actual == expected


def download(app: KerasApp, progress: Progress | None = None) -> str:
    """Download the weights of ``app`` into the Keras cache (atomically) and return the path.

    Raises :class:`WeightsUnavailableError` when the server cannot be reached or the download is
    cut short or fails its hash check."""
    target = weights_path(app)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = temp_path_for(target)
    _report(progress, 0.0, f"Downloading {app.file_name} from {app.url}")
    try:
        with urllib.request.urlopen(app.url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or app.approx_mb * 1_000_000
            done = 0
            while True:
                block = response.read(1 << 20)
                if not block:
                    break
                out.write(block)
                done += len(block)
                _report(
                    progress,
                    0.9 * min(done / total, 1.0),
                    f"Downloading {app.file_name}: {done / 1e6:.0f} / {total / 1e6:.0f} MB",
                )
        if not _hash_matches(tmp, app.file_hash):
            raise WeightsUnavailableError(
                unavailable_message(
                    app, "the downloaded file does not match the hash Keras publishes; it was discarded"
                )
            )
        os.replace(tmp, target)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        if isinstance(exc, WeightsUnavailableError):
            raise
        reason = getattr(exc, "reason", None) or exc
        raise WeightsUnavailableError(unavailable_message(app, f"{type(exc).__name__}: {reason}")) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


def build(app: KerasApp, weights: str | None):
    """Build the architecture (ImageNet head, 1000 logits, no softmax) and load ``weights`` if given."""
    import keras

    builder = getattr(keras.applications, app.builder)
    model = builder(
        weights=None,
        include_top=True,
        classes=1000,
        classifier_activation=None,
        input_shape=(app.input_size, app.input_size, 3),
    )
    if weights is not None:
        model.load_weights(weights)
    return model


def load(name: str, progress: Progress | None = None):
    """Return ``(keras_model, weights_sha256)`` for the application ``name``, downloading if needed."""
    app = APPS[name]
    path = weights_path(app)
    if not os.path.isfile(path):
        path = download(app, progress)
    _report(progress, 0.92, f"Building {app.label} and loading {app.file_name}")
    try:
        model = build(app, path)
    except Exception as exc:
        # A truncated or foreign file in the cache: say which one, and how to replace it.
        raise WeightsUnavailableError(
            f"{app.label}: could not load {path} ({type(exc).__name__}: {str(exc)[:200]}). Expected the "
            f"Keras ImageNet weights from {app.url}; delete the file and load the model again, or "
            "copy a fresh download in its place."
        ) from None
    digest = sha256_file(path)
    _report(progress, 1.0, f"{app.label} ready")
    return model, digest
