"""The page's views, one module each: explain (with the faithfulness panel), compare classes,
compare methods, compare layers, compare models, the concepts a layer sees (no class chosen), the
gallery ZIP, the Dataset view and the Compare runs view. Each takes a :class:`ViewInput` and
draws; the Dataset and Compare runs views, which need no image, take a :class:`DatasetInput`.
Which view is drawn, and its line in the tabs and the URL, is :data:`gradcam_app.router.ROUTES`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gradcam.images import DecodedImage
from gradcam_app import links
from gradcam_app.loaders import ImageItem, Loaded
from gradcam_app.widgets import Settings


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
    #: Writes the page's link from the choices made so far. A view calls it once its pickers are
    #: drawn, before its maps: the URL then changes before the pictures arrive, so a Back pressed
    #: as soon as they show returns to the previous view, not the one before it.
    publish: Callable[[], None] = lambda: None


@dataclass(frozen=True)
class DatasetInput:
    """What the Dataset (and Compare runs) view draws from: the model in use and the sidebar's settings (a ZIP is run
    with them), the model as the sidebar names it (a zoo name, or the own-model choice) with the
    sidebar's choices, and ``open_link``, which applies a :class:`gradcam_app.links.View` to the page
    exactly as a followed link would (to open an image in the explorer)."""

    loaded: Loaded
    settings: Settings
    model_option: str
    model_options: list[str]
    open_link: Callable[[links.View], None]


__all__ = ["DatasetInput", "ViewInput"]
