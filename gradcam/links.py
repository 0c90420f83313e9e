"""Shareable views: what a deep link to the app holds, and how a target travels in it.

A view is everything a person chose on the page that someone else needs to see the same picture:
model, sample, target class, method, layer, which view (explain, a comparison, the concepts view or
the dataset view), the display controls (colour map, opacity, "show the top X%", augmentation
smoothing), the comparison lists (and whether compared layers are also fused into one map), the
number of concepts of the concepts view, and a dataset run with one of its inputs. :class:`View` reads it from URL query
parameters (checking every value, with one-line messages for what it ignores) and writes it back
with only the values that differ from the defaults, so links stay short.

Targets are written as short readable text (:func:`encode_target`, :func:`decode_target`):

=====================  =======================================  ================================
target                 written                                  also read
=====================  =======================================  ================================
None (top prediction)  ``top``                                  an empty value
class index 744        ``744``, or its name with ``class_names``  the class name (old links)
Contrast(285, 800)     ``285-vs-800`` (names with class_names)  ``name-vs-name``
Group("dog")           ``group:dog``                            any case
Group([440, 907],      ``group:drinks=440+907``                 member names instead of indices
  name="drinks")
Contrast(Group(..),    ``group:alcohol-vs-group:gambling``      a class on either side
  Group(..))
=====================  =======================================  ================================

A group listed by its members travels with them (by index, so a link never depends on a name
lookup) and its name; a named group (WordNet or curated) by its name. Group names cannot hold
``-vs-``, ``,``, ``=`` or ``+``.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from dataclasses import replace as _replace
from typing import Any

from .errors import LinkError, UnknownClassError
from .render import COLORMAPS
from .targets import Contrast, Group, Target

#: How "the top prediction" is written.
TOP = "top"
#: Between the two classes of a contrast: "285-vs-800" reads as "285 rather than 800".
CONTRAST_SEPARATOR = "-vs-"
#: Separates the items of a list (compared classes, methods, layers) in one query value.
LIST_SEPARATOR = ","
#: The prefix of a class group: "group:dog".
GROUP_PREFIX = "group:"
#: Between a listed group's name and its members: "group:drinks=440+907".
MEMBERS_SEPARATOR, MEMBER_SEPARATOR = "=", "+"


# -- targets ------------------------------------------------------------------------------------
def _name_is_safe(name: str, class_names: Sequence[str]) -> bool:
    """Whether a class can travel by its name and come back as the same class: not empty, not a
    number, not a word the format reserves, no separator inside, and no other class so named
    (ImageNet has two "crane" and two "maillot")."""
    return (
        bool(name)
        and name == name.strip()
        and not name.isdigit()
        and name.lower() != TOP
        and CONTRAST_SEPARATOR not in name
        and LIST_SEPARATOR not in name
        and ":" not in name
        and sum(1 for n in class_names if n == name) == 1
    )


def _encode_class(index: int | str, class_names: Sequence[str] | None) -> str:
    if isinstance(index, str):
        if class_names is None:
            if not _name_is_safe(index, [index]):
                raise LinkError(
                    f"The class name {index!r} cannot travel in a link as it is: expected a "
                    "name without ',', ':' or '-vs-' that is not a number. Pass its index."
                )
            return index
        index = _class_index(index, class_names)
    if isinstance(index, bool) or not hasattr(index, "__index__"):
        raise LinkError(f"A class index (int) or name is expected; got {type(index).__name__} {index!r}.")
    index = operator.index(index)
    if index < 0:
        raise LinkError(f"A class index is 0 or more; got {index}.")
    if class_names is not None:
        if index >= len(class_names):
            raise UnknownClassError(
                f"Class index {index} is out of range: the model has {len(class_names)} "
                f"classes (0 to {len(class_names) - 1}). Pick one of those."
            )
        name = str(class_names[index])
        if _name_is_safe(name, class_names):
            return name
    return str(index)


def encode_target(target: Target, class_names: Sequence[str] | None = None) -> str:
    """The text a target travels as in a link.

    Args:
        target: None (the top prediction), a class index, a class name, or a
            :class:`~gradcam.Contrast` of two of those.
        class_names: the model's class names. With them a class is written by its name where the
            name reads back unambiguously ("tea cup"), else by its index; without them by its
            index (a name given as the target stays a name).

    Raises:
        LinkError: a target of another type, a negative index, or (without ``class_names``) a
            name that cannot be written unambiguously.
        UnknownClassError: with ``class_names``, an index or name the model does not have.
    """
    if target is None:
        return TOP
    if isinstance(target, Contrast):
        return _encode_side(target.target, class_names) + CONTRAST_SEPARATOR + _encode_side(target.other, class_names)
    return _encode_side(target, class_names)


def _encode_side(side, class_names: Sequence[str] | None) -> str:
    if isinstance(side, Group):
        return _encode_group(side, class_names)
    return _encode_class(side, class_names)


def _group_name_is_safe(name: str) -> bool:
    return (
        bool(name.strip())
        and name == name.strip()
        and CONTRAST_SEPARATOR not in name
        and LIST_SEPARATOR not in name
        and MEMBERS_SEPARATOR not in name
        and MEMBER_SEPARATOR not in name
    )


def _encode_group(group: Group, class_names: Sequence[str] | None) -> str:
    if isinstance(group.members, str):
        if not _group_name_is_safe(group.members):
            raise LinkError(
                f"The group name {group.members!r} cannot travel in a link: expected a name without "
                f"'{CONTRAST_SEPARATOR}', ',', '=' or '+'."
            )
        return GROUP_PREFIX + group.members
    members = []
    for member in group.members:
        if isinstance(member, str) and class_names is None:
            raise LinkError(f"Group member {member!r} is a name: pass class_names, or give the members as indices.")
        members.append(_class_index(member, class_names) if isinstance(member, str) else operator.index(member))
    if not members:
        raise LinkError("A group needs at least one class; got Group([]).")
    for index in members:
        _encode_class(index, class_names)  # checks the range
    name = group.name or ""
    if name and not _group_name_is_safe(name):
        raise LinkError(
            f"The group name {name!r} cannot travel in a link: expected a name without "
            f"'{CONTRAST_SEPARATOR}', ',', '=' or '+'. Rename the group."
        )
    return GROUP_PREFIX + name + MEMBERS_SEPARATOR + MEMBER_SEPARATOR.join(str(i) for i in sorted(set(members)))


def _class_index(name: str, class_names: Sequence[str]) -> int:
    for i, candidate in enumerate(class_names):
        if candidate == name:
            return i
    folded = name.casefold()
    matches = [i for i, candidate in enumerate(class_names) if str(candidate).casefold() == folded]
    if len(matches) == 1:
        return matches[0]
    close = difflib.get_close_matches(name, [str(n) for n in class_names], n=3, cutoff=0.75)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownClassError(
        f"Unknown class {name!r}: expected one of the model's {len(class_names)} class "
        f"names or an index from 0 to {len(class_names) - 1}.{hint}"
    )


def _decode_class(text: str, class_names: Sequence[str] | None, whole: str) -> int | str:
    text = text.strip()
    if not text:
        raise LinkError(
            f"Link target {whole!r} has an empty class: expected a class index or name on both "
            f"sides of '{CONTRAST_SEPARATOR}' (for example 285{CONTRAST_SEPARATOR}800)."
        )
    if text.isdigit():
        index = int(text)
        if class_names is not None and index >= len(class_names):
            raise UnknownClassError(
                f"Class index {index} is out of range: the model has {len(class_names)} "
                f"classes (0 to {len(class_names) - 1}). Pick one of those."
            )
        return index
    if class_names is None:
        return text
    return _class_index(text, class_names)


def decode_target(text: str | None, class_names: Sequence[str] | None = None) -> Target:
    """The target a link's text stands for: the inverse of :func:`encode_target`.

    Reads ``top`` (or an empty value) as None, digits as a class index, ``A-vs-B`` as a
    :class:`~gradcam.Contrast`, ``group:...`` as a :class:`~gradcam.Group`, and any other text as a
    class name (old links wrote names). With
    ``class_names`` names become indices (exact match first, then ignoring case) and indices are
    checked; without them names stay strings for the explainer to resolve.

    Raises:
        LinkError: a contrast with an empty side, or a group without a name or with an empty member.
        UnknownClassError: with ``class_names``, a class the model does not have (the message
            suggests close names).
    """
    whole = "" if text is None else str(text)
    value = whole.strip()
    if not value or value.lower() == TOP:
        return None
    if class_names is not None and not value.isdigit() and any(n == value for n in class_names):
        # A whole name wins over reading its parts ("a-vs-b" as a contrast); digits are always an
        # index, so a class named "7" travels as its own index.
        return _class_index(value, class_names)
    if value.count(CONTRAST_SEPARATOR) == 1:
        first, second = value.split(CONTRAST_SEPARATOR)
        return Contrast(_decode_side(first, class_names, whole), _decode_side(second, class_names, whole))
    return _decode_side(value, class_names, whole)


def _decode_side(text: str, class_names: Sequence[str] | None, whole: str) -> int | str | Group:
    stripped = text.strip()
    if stripped.lower().startswith(GROUP_PREFIX):
        return _decode_group(stripped[len(GROUP_PREFIX) :].strip(), class_names, whole)
    return _decode_class(text, class_names, whole)


def _decode_group(text: str, class_names: Sequence[str] | None, whole: str) -> Group:
    name, separator, listed = text.partition(MEMBERS_SEPARATOR)
    name = name.strip()
    if not separator:
        if not name:
            raise LinkError(
                f"Link target {whole!r} has an empty group: expected 'group:NAME' (for example "
                "group:dog) or 'group:NAME=INDEX+INDEX'."
            )
        return Group(name)
    items = [item.strip() for item in listed.split(MEMBER_SEPARATOR)]
    if not listed.strip() or any(not item for item in items):
        raise LinkError(
            f"Link target {whole!r} lists an empty group member: expected 'group:NAME=INDEX+INDEX' "
            "(for example group:drinks=440+907)."
        )
    return Group([_decode_class(item, class_names, whole) for item in items], name=name or None)


# -- views --------------------------------------------------------------------------------------
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
            elif name == "run":
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


__all__ = [
    "CONCEPTS_K_RANGE",
    "CONTRAST_SEPARATOR",
    "GROUP_PREFIX",
    "LIST_SEPARATOR",
    "QUERY_KEYS",
    "TOP",
    "View",
    "decode_target",
    "encode_target",
    "view_fields",
]
