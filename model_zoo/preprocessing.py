"""Input preprocessing presets.

Each preset maps a batch of RGB images, ``uint8`` array of shape ``(N, H, W, 3)`` already resized to
the model's input size, to the ``float32`` array of the same shape that the model expects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# ImageNet statistics as used by torchvision ("torch") and by the original Caffe models ("caffe").
_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def _as_float(images: np.ndarray) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(
            f"Expected images of shape (N, H, W, 3) or (N, H, W, 1); found shape {arr.shape}. "
            "Add a batch axis (images[None]) or convert the image to RGB first."
        )
    return arr.astype(np.float32)


def _need_rgb(arr: np.ndarray, preset: str) -> None:
    if arr.shape[-1] != 3:
        raise ValueError(
            f"The '{preset}' preset uses per-channel RGB statistics, so it expects 3 channels; "
            f"found {arr.shape[-1]}. Use 'tf', 'unit', 'raw' or 'lite' for single-channel models."
        )


def preprocess_tf(images: np.ndarray) -> np.ndarray:
    """Scale to [-1, 1]: ``x / 127.5 - 1`` (MobileNetV2, InceptionV3, Xception)."""
    return _as_float(images) / np.float32(127.5) - np.float32(1.0)


def preprocess_torch(images: np.ndarray) -> np.ndarray:
    """Scale to [0, 1], then normalise by the ImageNet mean and std per RGB channel (DenseNet)."""
    arr = _as_float(images)
    _need_rgb(arr, "torch")
    return (arr / np.float32(255.0) - _TORCH_MEAN) / _TORCH_STD


def preprocess_caffe(images: np.ndarray) -> np.ndarray:
    """Flip RGB to BGR and subtract the ImageNet BGR mean, no scaling (ResNet50, VGG16)."""
    arr = _as_float(images)
    _need_rgb(arr, "caffe")
    return arr[..., ::-1] - _CAFFE_MEAN_BGR


def preprocess_unit(images: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]: ``x / 255``."""
    return _as_float(images) / np.float32(255.0)


def preprocess_raw(images: np.ndarray) -> np.ndarray:
    """Keep 0-255 as float32 (models that normalise inside, e.g. EfficientNetB0, ConvNeXtTiny)."""
    return _as_float(images)


def preprocess_lite(images: np.ndarray) -> np.ndarray:
    """``(x - 127) / 128`` on RGB, as the EfficientNet-Lite models were trained."""
    return (_as_float(images) - np.float32(127.0)) / np.float32(128.0)


#: Preset name -> callable(uint8 (N, H, W, C)) -> float32 (N, H, W, C).
PREPROCESSING: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tf": preprocess_tf,
    "torch": preprocess_torch,
    "caffe": preprocess_caffe,
    "unit": preprocess_unit,
    "raw": preprocess_raw,
    "lite": preprocess_lite,
}


def get_preprocessing(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """Return the preset called ``name``; raises ``ValueError`` naming the valid presets."""
    try:
        return PREPROCESSING[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown preprocessing preset {name!r}; expected one of {sorted(PREPROCESSING)}. "
            "Pick the preset the model was trained with."
        ) from None
