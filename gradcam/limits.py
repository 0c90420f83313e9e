"""Every size limit in one place. The app, the CLI and the library all read these."""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


#: Largest image file accepted, in bytes (GRADCAM_MAX_IMAGE_BYTES).
MAX_IMAGE_BYTES = _env_int("GRADCAM_MAX_IMAGE_BYTES", 25 * 1024 * 1024)
#: Largest decoded image accepted, in pixels (width x height); larger ones are refused as possible
#: decompression bombs (GRADCAM_MAX_IMAGE_PIXELS).
MAX_IMAGE_PIXELS = _env_int("GRADCAM_MAX_IMAGE_PIXELS", 40_000_000)
#: Largest user model file accepted, in bytes (GRADCAM_MAX_MODEL_BYTES).
MAX_MODEL_BYTES = _env_int("GRADCAM_MAX_MODEL_BYTES", 300 * 1024 * 1024)
#: Largest model configuration (config.json inside a .keras archive, or an .h5 file's model_config)
#: read before the safety checks, in bytes (GRADCAM_MAX_MODEL_CONFIG_BYTES). Real configs take
#: kilobytes to a few MB; a zip entry that inflates past this is refused unread.
MAX_MODEL_CONFIG_BYTES = _env_int("GRADCAM_MAX_MODEL_CONFIG_BYTES", 32 * 1024 * 1024)
#: Entries (an image's resized input and logits, or one layer's activations) kept in each
#: explainer's cache of recent images, and the most memory they may take, in MiB.
ACTIVATION_CACHE_ENTRIES = _env_int("GRADCAM_ACTIVATION_CACHE_ENTRIES", 64)
ACTIVATION_CACHE_MB = _env_int("GRADCAM_ACTIVATION_CACHE_MB", 256)
#: A dataset uploaded to the web app as a ZIP: at most this many files
#: (GRADCAM_MAX_DATASET_UPLOAD_IMAGES) and this many bytes (GRADCAM_MAX_DATASET_UPLOAD_BYTES).
#: Larger datasets are for ``python -m gradcam dataset run``, which has no such limit.
MAX_DATASET_UPLOAD_IMAGES = _env_int("GRADCAM_MAX_DATASET_UPLOAD_IMAGES", 200)
MAX_DATASET_UPLOAD_BYTES = _env_int("GRADCAM_MAX_DATASET_UPLOAD_BYTES", 50 * 1024 * 1024)
