"""Test-time augmentation (``aug_smooth=True``): a CAM averaged over flipped and brightened copies.

As in pytorch-grad-cam's ``aug_smooth``: each image is flipped and brightened/darkened, explained
for the class chosen on the original, and the maps are flipped back and averaged, which smooths
away the noise that a single view's gradients carry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .images import image_digest
from .job import BatchJob

if TYPE_CHECKING:
    from .compute import LayerFunctions
    from .explainer import Explainer
    from .methods import Method

#: (horizontal flip, brightness gain) of each copy.
AUGMENTATIONS = tuple((flip, gain) for flip in (False, True) for gain in (1.0, 1.1, 0.9))
#: The note every smoothed explanation carries.
NOTE = "averaged over 6 augmentations (flip x brightness 0.9/1.0/1.1)"


def smoothed_maps(explainer: Explainer, method: Method, job: BatchJob, functions: LayerFunctions) -> np.ndarray:
    """The method's raw maps (B, h, w) for the job's images, each averaged over its augmented copies."""
    maps = []
    for b, image in enumerate(job.model_inputs()):
        variants = [augment(image, flip, gain) for flip, gain in AUGMENTATIONS]
        # The copies are already at the model's size and are not worth caching.
        variant_job = BatchJob(
            explainer,
            variants,
            [image_digest(v) for v in variants],
            [job.fixed_target(b)] * len(variants),
            functions,
            job.options,
            job.progress,
            cache=None,
        )
        raw = method.compute(variant_job).maps
        maps.append(np.mean([m[:, ::-1] if flip else m for m, (flip, _) in zip(raw, AUGMENTATIONS)], axis=0))
    return np.stack(maps)


def augment(image: np.ndarray, flip: bool, gain: float) -> np.ndarray:
    """uint8 image (h, w, 3) flipped left-right if ``flip``, its values times ``gain`` (rounded, clipped)."""
    view = image[:, ::-1] if flip else image
    if gain != 1.0:
        view = np.clip(view.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(view)
