"""The app's links: everything a person chose on the page that someone else needs to see the same
picture, read from and written to the URL's query parameters.

A view is the model, sample, target class, method, layer, which view (explain, a comparison, the
concepts view, the dataset view or two runs compared), the display controls (colour map,
opacity, "show the top X%", augmentation smoothing), the comparison lists (and whether compared
layers are also fused into one map), the number of concepts of the concepts view, and a dataset
run with one of its inputs (or two runs to compare).
:class:`View` reads it from URL query parameters (checking every value, with one-line messages for
what it ignores) and writes it back with only the values that differ from the defaults, so links
stay short. The view names are the router's (:data:`gradcam_app.router.ROUTES`).

Targets travel as the engine writes them (:func:`gradcam.targets.encode_target`,
:func:`gradcam.targets.decode_target`, re-exported here): the CLI and dataset runs read the same
text. Nothing here imports TensorFlow or Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from dataclasses import replace as _replace
from typing import Any

from gradcam.errors import LinkError
from gradcam.render import COLORMAPS
from gradcam.targets import (
    CONTRAST_SEPARATOR,
    GROUP_PREFIX,
    LIST_SEPARATOR,
    Contrast,
    Target,
    decode_target,
    encode_target,
)
from gradcam.targets import TOP_TEXT as TOP

#: Query parameter of each :class:`View` field, in the order a link writes them.
QUERY_KEYS = {
    "model": "model",
    "sample": "sample",
    "target": "class",
    "method": "method",
    "layer": "layer",
    "view": "view",
    "colormap": "colormap",
    "alpha": "alpha",
    "top_percent": "top",
    "aug_smooth": "smooth",
    "compare_classes": "classes",
    "compare_contrast": "contrast",
    "compare_methods": "methods",
    "compare_layers": "layers",
    "compare_models": "models",
    "shared_scale": "shared",
    "run": "run",
    "item": "item",
    "run_b": "run_b",
    "compare_fuse": "fuse",
    "concepts_k": "k",
}
#: The numbers of concepts a link (and the app's slider) may ask for: 2 to 8.
CONCEPTS_K_RANGE = (2, 8)
#: Longest run name a link may carry (a path relative to the app's runs folder).
MAX_RUN_NAME = 200

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class View:
    """Everything a shared link reproduces. Defaults mean "not given: the page's own default".

    Attributes:
        model, sample, method, view: names checked against the page's choices (None: not given).
        target: the class as :func:`encode_target` writes it ("top" for the top prediction).
        layer: a layer path; checked by the page once the model is loaded (None: the default).
        colormap: a colour map from :data:`gradcam.render.COLORMAPS`.
        alpha: the heatmap's opacity in the overlay, 0 to 1.
        top_percent: "show the top X%" of the map, 1 to 100 (100 shows all of it).
        aug_smooth: augmentation smoothing of CAM maps.
        compare_classes: encoded classes of the compare-classes view (each as encode_target writes).
        compare_contrast: whether compare-classes adds the "why the first rather than the second" map.
        compare_methods, compare_layers: the compare views' choices (empty: the page's defaults).
        compare_models: the zoo models of the compare-models view (names checked against the page's
            models, like ``model``; empty: the page's default pair).
        shared_scale: whether compare-models draws every model's map on one colour scale.
        run: a dataset run, by its name inside the app's runs folder (the page resolves it there and
            refuses names that lead outside); with ``view="dataset"`` the run the Dataset view opens.
        item: with ``run``, the run's input (its ``input_index``) to explain: the image is read on
            the server from the run's own source, never from a path in the link.
        run_b: the second run of the "Compare runs" view (``view="runs"``), whose first is ``run``;
            checked inside the runs folder as ``run`` is.
        compare_fuse: whether compare-layers adds one map fusing the compared layers.
        concepts_k: the number of concepts of the concepts view (Deep Feature Factorization), in
            :data:`CONCEPTS_K_RANGE`.
    """

    model: str | None = None
    sample: str | None = None
    target: str = TOP
    method: str | None = None
    layer: str | None = None
    view: str | None = None
    colormap: str = "jet"
    alpha: float = 0.5
    top_percent: int = 100
    aug_smooth: bool = False
    compare_classes: tuple[str, ...] = field(default=())
    compare_contrast: bool = True
    compare_methods: tuple[str, ...] = field(default=())
    compare_layers: tuple[str, ...] = field(default=())
    compare_models: tuple[str, ...] = field(default=())
    shared_scale: bool = False
    run: str | None = None
    item: int | None = None
    run_b: str | None = None
    compare_fuse: bool = False
    concepts_k: int = 4

    @property
    def keep(self) -> float:
        """``top_percent`` as the fraction ``gradcam.render.overlay(..., keep=)`` takes."""
        return self.top_percent / 100.0

    def decoded_target(self, class_names: Sequence[str] | None = None) -> Target:
        """The target itself (see :func:`decode_target`)."""
        return decode_target(self.target, class_names)

    def replace(self, **changes: Any) -> View:
        """A copy with some fields changed (``dataclasses.replace``)."""
        return _replace(self, **changes)

    def to_query(self) -> dict[str, str]:
        """The query parameters of this view: every field that differs from its default, in the
        order of :data:`QUERY_KEYS`. Lists are joined with commas; booleans are "1" or "0"."""
        defaults = View()
        query: dict[str, str] = {}
        for name, key in QUERY_KEYS.items():
            value = getattr(self, name)
            if value in (None, "") or value == getattr(defaults, name):
                continue
            if isinstance(value, bool):
                text = "1" if value else "0"
            elif isinstance(value, tuple):
                text = LIST_SEPARATOR.join(str(v) for v in value)
            elif isinstance(value, float):
                text = f"{value:g}"
            else:
                text = str(value)
            query[key] = text
        return query

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for provenance records and logs)."""
        return asdict(self)

    @classmethod
    def from_query(
        cls,
        params: Mapping[str, Any],
        *,
        models: Sequence[str] = (),
        samples: Sequence[str] = (),
        methods: Sequence[str] = (),
        views: Sequence[str] = (),
        colormaps: Sequence[str] = COLORMAPS,
    ) -> tuple[View, list[str]]:
        """Read a view from URL query parameters (``st.query_params.to_dict()`` or a plain dict;
        a list value counts by its last item).

        Model, sample, method, view (and each compared method and model) are matched case-insensitively
        against the given choices when choices are given; the class and layers are only checked
        for form here, and against the model by the page once it is loaded.

        Returns:
            ``(view, problems)``: ``problems`` has one line per value that was ignored (what was
            found, what was expected), for the page to show; ignored values keep their default.
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        choices = {"model": models, "sample": samples, "method": methods, "view": views}

        def ignore(key: str, value: str, expected: str) -> None:
            problems.append(f"Link parameter {key}={value!r} ignored: expected {expected}.")

        for name, key in QUERY_KEYS.items():
            if key not in params:
                continue
            raw = params[key]
            if isinstance(raw, (list, tuple)):
                raw = raw[-1] if raw else ""
            value = str(raw).strip()
            if not value:
                continue
            if name in choices:
                allowed = choices[name]
                if allowed:
                    match = _match(value, allowed)
                    if match is None:
                        ignore(key, value, f"one of {', '.join(allowed)}")
                        continue
                    value = match
                values[name] = value
            elif name == "layer":
                values[name] = value
            elif name in ("run", "run_b"):
                if len(value) > MAX_RUN_NAME or "\0" in value:
                    ignore(key, value[:40], f"a run's name inside the runs folder (at most {MAX_RUN_NAME} characters)")
                    continue
                values[name] = value
            elif name == "item":
                if not value.isdigit():
                    ignore(key, value, "an input's number in the run (0 or more), such as 3")
                    continue
                values[name] = int(value)
            elif name == "target":
                try:
                    decode_target(value)
                except LinkError as error:
                    problems.append(f"Link parameter {key}={value!r} ignored: {error}")
                    continue
                values[name] = value
            elif name == "colormap":
                match = _match(value, colormaps)
                if match is None:
                    ignore(key, value, f"one of {', '.join(colormaps)}")
                    continue
                values[name] = match
            elif name == "alpha":
                number = _number(value)
                if number is None or not 0.0 <= number <= 1.0:
                    ignore(key, value, "an opacity between 0 and 1, such as 0.5")
                    continue
                values[name] = number
            elif name == "top_percent":
                number = _number(value)
                if number is None or not 1 <= number <= 100 or number != int(number):
                    ignore(key, value, "a whole percentage from 1 to 100, such as 30")
                    continue
                values[name] = int(number)
            elif name == "concepts_k":
                low, high = CONCEPTS_K_RANGE
                if not value.isdigit() or not low <= int(value) <= high:
                    ignore(key, value, f"a whole number of concepts from {low} to {high}, such as 4")
                    continue
                values[name] = int(value)
            elif name in ("aug_smooth", "compare_contrast", "shared_scale", "compare_fuse"):
                if value.lower() not in _TRUE + _FALSE:
                    ignore(key, value, "1 or 0")
                    continue
                values[name] = value.lower() in _TRUE
            else:  # the comparison lists
                items = tuple(dict.fromkeys(v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()))
                if name == "compare_methods" and methods:
                    unknown = [v for v in items if _match(v, methods) is None]
                    if unknown:
                        ignore(key, ",".join(unknown), f"methods among {', '.join(methods)}")
                    items = tuple(_match(v, methods) for v in items if _match(v, methods) is not None)
                if name == "compare_models" and models:
                    unknown = [v for v in items if _match(v, models) is None]
                    if unknown:
                        ignore(key, ",".join(unknown), f"models among {', '.join(models)}")
                    items = tuple(dict.fromkeys(_match(v, models) for v in items if _match(v, models) is not None))
                if name == "compare_classes":
                    bad = [item for item in items if not _single_class(item)]
                    if bad:
                        ignore(key, ",".join(bad), "class indices or names (no contrasts or 'top')")
                    items = tuple(item for item in items if item not in bad)
                if items:
                    values[name] = items
        return cls(**values), problems


def _single_class(text: str) -> bool:
    """Whether a link's text names one class or one group (an index, a name, ``group:...``), not a
    contrast or the top."""
    try:
        target = decode_target(text)
    except LinkError:
        return False
    return target is not None and not isinstance(target, Contrast)


def _match(value: str, allowed: Sequence[str]) -> str | None:
    return next((c for c in allowed if c.lower() == value.lower()), None)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def view_fields() -> list[str]:
    """The names of :class:`View`'s fields, in order."""
    return [f.name for f in fields(View)]


#: Query parameters of a shareable view read by :func:`parse_view`, in the order they are written
#: (see :class:`View` for the whole view, display controls included).
VIEW_KEYS = ("model", "sample", "class", "method", "layer", "view")


def parse_view(
    params: Mapping[str, Any],
    *,
    models: Sequence[str] = (),
    samples: Sequence[str] = (),
    methods: Sequence[str] = (),
    views: Sequence[str] = (),
) -> tuple[dict[str, str], list[str]]:
    """Read the keys of :data:`VIEW_KEYS` from a shared link's query parameters.

    A wrapper over :meth:`View.from_query` for older callers (it was ``gradcam.export.parse_view``):
    returns ``(view, problems)`` where ``view`` maps the given, valid keys to their values and
    ``problems`` has one line per value that was ignored. New code should use ``View``, which
    also reads the display controls and comparison lists.
    """
    given = {key: params[key] for key in VIEW_KEYS if key in params}
    view, problems = View.from_query(given, models=models, samples=samples, methods=methods, views=views)
    found = {}
    defaults = View()
    for name, key in QUERY_KEYS.items():
        if key in VIEW_KEYS and getattr(view, name) != getattr(defaults, name):
            found[key] = str(getattr(view, name))
    return found, problems


def view_params(view: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters for a view: the keys of :data:`VIEW_KEYS` with a value, in order.
    (It was ``gradcam.export.view_params``; new code: :meth:`View.to_query`.)"""
    return {key: str(view[key]) for key in VIEW_KEYS if view.get(key) not in (None, "")}


__all__ = [
    "CONCEPTS_K_RANGE",
    "CONTRAST_SEPARATOR",
    "GROUP_PREFIX",
    "LIST_SEPARATOR",
    "QUERY_KEYS",
    "TOP",
    "VIEW_KEYS",
    "View",
    "decode_target",
    "encode_target",
    "parse_view",
    "view_fields",
    "view_params",
]
