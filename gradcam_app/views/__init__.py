"""The page's views, one module each: explain (with the faithfulness panel), compare classes,
compare methods, compare layers, and the gallery ZIP. Each takes a :class:`ViewInput` and draws."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcam.images import DecodedImage
from gradcam_app.loaders import ImageItem, Loaded
from gradcam_app.widgets import Settings

#: The views, as the URL names them and as the page's tabs read.
VIEWS = {"explain": "Explain", "classes": "Compare classes", "methods": "Compare methods",
         "layers": "Compare layers"}


@dataclass(frozen=True)
class ViewInput:
    """What every view draws from: the model in use, the image, the sidebar's settings, the class
    probabilities, and the (image, model) context class choices are reset for."""

    loaded: Loaded
    item: ImageItem
    decoded: DecodedImage
    settings: Settings
    probabilities: np.ndarray
    context: tuple
