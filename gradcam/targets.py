"""What to explain: a class index or name, ``Contrast(a, b)``, a weight vector, or the top prediction.

A target written as text (:func:`encode_target`, :func:`decode_target`) is how it travels in the
app's links, the CLI's ``--target`` and a dataset run's manifest:

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

A group listed by its members travels with them (by index, so a text never depends on a name
lookup) and its name; a named group (WordNet or curated) by its name. Group names cannot hold
``-vs-``, ``,``, ``=`` or ``+``.

Every target becomes a :class:`ResolvedTarget` before any computing: a weight row over the logits
(the score explained is ``weights . logits``), or the marker for "the image's top prediction",
which is chosen inside the compiled pass so that a new image costs one pass, not two, or a
class group (``kind == "group"``, see :class:`gradcam.Group`): its score is the log-sum-exp of its
members' logits (minus the other group's, for a contrast), whose gradient is the linear
weighting :func:`group_weights` computes from the logits, inside the same compiled pass.

Ties: among classes of equal probability the lowest class index ranks first, everywhere (the top
list, the "top prediction" target, :func:`top_classes`), which is ``np.argmax``'s rule and
``tf.argmax``'s on this platform.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import LinkError, TargetError, UnknownClassError


@dataclass(frozen=True, init=False)
class Group:
    """Several classes explained as one target: "where does the model see *a dog*?".

    ``Group("dog")`` names a group of ImageNet classes: a WordNet group ("dog", the 118 breeds;
    "domestic cat"; "musical instrument") or a curated concept ("alcohol", "gambling"); see
    :mod:`model_zoo.imagenet_hierarchy` and :mod:`model_zoo.concept_groups`. Named groups need a
    model with the 1000 ImageNet-1k outputs in their usual order. ``Group(["wine bottle", "beer
    bottle"], name="alcohol")`` lists its members (class indices or names) for any model.

    The score explained is the log-sum-exp of the members' logits, ``log sum_c exp(z_c)``: for one
    member it is exactly that class's logit (a one-class group has that class's map), and since
    ``log P(group) = lse(z_group) - lse(z_all)``, the contrast of two groups explains exactly
    ``log P(A) - log P(B)``: the softmax's normaliser cancels. Its gradient is the members'
    gradients weighted by their share of the group's probability, so it costs what one class costs.
    The probability shown for a group is the sum of its members' probabilities. Models whose
    outputs are independent sigmoids (multi-label) are refused: their probabilities do not add up.

    Attributes:
        members: the group's name (str) as given, or its member classes (a tuple of indices or names).
        name: the name shown for the group; default the group's own name, or the members joined by "+".
    """

    members: str | tuple[int | str, ...]
    name: str | None

    def __init__(self, members: str | Sequence[int | str | np.integer], name: str | None = None):
        if not isinstance(members, str):
            members = tuple(int(m) if isinstance(m, np.integer) else m for m in members)
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "name", name)


@dataclass(frozen=True)
class Contrast:
    """A contrastive target: "why ``target`` rather than ``other``".

    The score explained is ``logit[target] - logit[other]``, so the map shows the evidence that
    separates the two classes. Either may be a class index, a class name or a :class:`Group`
    (the group's score is the log-sum-exp of its members' logits: two groups give
    ``log P(target) - log P(other)``).
    """

    target: int | str | Group
    other: int | str | Group


#: What ``explain`` accepts as a target: an index, a name, None (the top prediction), a Group, or a Contrast.
Target = int | str | None | Group | Contrast


#: ResolvedTarget.mode: the weights as given, the image's top prediction, a class group.
WEIGHTS, TOP_PREDICTION, GROUP = 0, 1, 2


@dataclass(frozen=True, eq=False)
class ResolvedTarget:
    """One target, ready for the engine.

    Attributes:
        kind: ``"top"`` (the image's top prediction), ``"class"``, ``"contrast"``, ``"group"`` (a
            :class:`gradcam.Group`, or a contrast with a group on either side) or ``"weights"``
            (a weight vector given by the caller).
        weights: float32 (classes,), the score's weights over the logits; None for ``"top"``.
            For a group: +1 on the members, -1 on the other group's (the score is not linear:
            see :func:`group_weights`).
        name, members: for a group target, the name shown and the member indices (sorted);
            other_name, other_members: the same for the other side of a contrast.
    """

    kind: str
    weights: np.ndarray | None = None
    name: str | None = None
    members: tuple[int, ...] = ()
    other_name: str | None = None
    other_members: tuple[int, ...] = ()

    @property
    def is_top(self) -> bool:
        """True when the class is the image's top prediction, chosen during the pass."""
        return self.kind == "top"

    @property
    def mode(self) -> int:
        """How the compiled functions read :attr:`weights`: :data:`WEIGHTS`, :data:`TOP_PREDICTION`
        or :data:`GROUP`."""
        return {"top": TOP_PREDICTION, "group": GROUP}.get(self.kind, WEIGHTS)

    @classmethod
    def from_weights(cls, weights: np.ndarray) -> ResolvedTarget:
        """A target given directly as a weight row (e.g. the class chosen on an original image,
        reused for its augmented copies)."""
        return cls("weights", np.asarray(weights, np.float32))


def group_weights(logits: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """The gradient of a group score with respect to the logits, per row.

    The score is ``lse(z[A]) - lse(z[B])``, with A the classes of ``signs > 0`` and B those of
    ``signs < 0`` (``lse`` of an empty set counts as 0). Its derivative by ``z_c`` is the softmax
    of the logits restricted to A at c, minus the one restricted to B: the weights of a linear
    score with exactly the group score's gradient at these logits. :mod:`gradcam.compute` computes
    the same inside its compiled pass.

    Args:
        logits: (B, classes).
        signs: (B, classes), +1 on A's members, -1 on B's, 0 elsewhere.
    """
    logits = np.asarray(logits, np.float64)
    out = np.zeros(logits.shape, np.float64)
    for sign in (1.0, -1.0):
        mask = np.asarray(signs) * sign > 0
        z = np.where(mask, logits, -np.inf)
        peak = z.max(axis=1, keepdims=True)
        e = np.where(mask, np.exp(z - np.where(np.isfinite(peak), peak, 0.0)), 0.0)
        total = e.sum(axis=1, keepdims=True)
        out += sign * np.divide(e, total, out=np.zeros_like(e), where=total > 0)
    return out.astype(np.float32)


def group_scores(logits: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """``lse(z[A]) - lse(z[B])`` per row of ``logits`` (M, classes), for one ``signs`` row
    (classes,) as in :func:`group_weights`."""
    logits = np.asarray(logits, np.float64)
    total = np.zeros(len(logits), np.float64)
    for sign in (1.0, -1.0):
        members = np.flatnonzero(np.asarray(signs) * sign > 0)
        if len(members):
            z = logits[:, members]
            peak = z.max(axis=1, keepdims=True)
            total += sign * (peak[:, 0] + np.log(np.exp(z - peak).sum(axis=1)))
    return total


#: The image's own top prediction.
TOP = ResolvedTarget("top")


class TargetResolver:
    """Turns what a person asks for into :class:`ResolvedTarget`, with messages that help.

    Args:
        class_names: one name per model output.
        output_activation: the model's own output activation; ``"sigmoid"`` (independent,
            multi-label outputs) refuses groups, whose probability is a sum.
    """

    def __init__(self, class_names: Sequence[str], output_activation: str = "softmax"):
        self.class_names = [str(name) for name in class_names]
        self.output_activation = output_activation
        # The first class of a repeated name wins (reversed, so that earlier indices overwrite).
        self._by_name = {n.lower(): i for i, n in reversed(list(enumerate(self.class_names)))}
        self._imagenet: bool | None = None

    @property
    def is_imagenet(self) -> bool:
        """True when the class names are the ImageNet-1k classes in their usual order (the model
        zoo's names): synonyms, WordNet ids and named groups then apply."""
        if self._imagenet is None:
            self._imagenet = False
            if len(self.class_names) == 1000:
                from model_zoo.imagenet import imagenet_class_names, imagenet_display_names

                self._imagenet = self.class_names in (imagenet_display_names(), imagenet_class_names())
        return self._imagenet

    def class_index(self, target: int | str) -> int:
        """The index of a class given by index or name (case-insensitive, surrounding spaces
        ignored; a string of digits is an index). On an ImageNet model every synonym and the
        WordNet id find the class too (``"one-armed bandit"``, ``"n04243546"``)."""
        if isinstance(target, (bool, np.bool_)):
            raise TargetError(f"A class index or name is expected; got {target!r}.")
        if isinstance(target, (int, np.integer)):
            index = int(target)
            if not 0 <= index < len(self.class_names):
                raise UnknownClassError(
                    f"Class index {index} is out of range: the model has {len(self.class_names)} "
                    f"classes, 0 to {len(self.class_names) - 1}."
                )
            return index
        if isinstance(target, str):
            text = target.strip()
            if text.lower() in self._by_name:
                return self._by_name[text.lower()]
            if text.isdigit():
                return self.class_index(int(text))
            if self.is_imagenet:
                from model_zoo.errors import AmbiguousClassError, ClassLookupError
                from model_zoo.imagenet import class_index

                try:
                    return class_index(text)  # ILSVRC synonyms and WordNet ids
                except AmbiguousClassError:
                    raise  # "crane": it names the candidates
                except ClassLookupError:
                    pass
            raise UnknownClassError(f"Unknown class {target!r}. {self.suggest(text)}")
        raise TargetError(f"A class index, a class name, None, a Group or a Contrast is expected; got {target!r}.")

    def suggest(self, text: str) -> str:
        """A sentence naming up to five class names close to ``text``, for error messages."""
        lowered = text.lower()
        close = difflib.get_close_matches(lowered, list(self._by_name), n=5, cutoff=0.6)
        close += [n for n in self._by_name if lowered in n and n not in close][: 5 - len(close)]
        if close:
            return "Closest names: " + ", ".join(repr(self.class_names[self._by_name[n]]) for n in close) + "."
        return f"The model has {len(self.class_names)} classes; see explainer.class_names."

    def group(self, group: Group) -> tuple[str, tuple[int, ...]]:
        """``(name, sorted member indices)`` of a :class:`Group`."""
        if isinstance(group.members, str):
            if not self.is_imagenet:
                raise TargetError(
                    f"Group({group.members!r}) names a group of ImageNet classes, but this model's "
                    f"{len(self.class_names)} outputs are not the ImageNet-1k classes. List the "
                    "members instead: Group(['class a', 'class b'], name='my group')."
                )
            from model_zoo.imagenet import group as named_group

            found = named_group(group.members)  # an UnknownGroupError (a TargetError) names the closest
            return group.name or found.name, tuple(found.members)
        members = tuple(sorted({self.class_index(member) for member in group.members}))
        if not members:
            raise TargetError("A group needs at least one class; got Group([]).")
        name = group.name or " + ".join(self.class_names[i] for i in members)
        return str(name), members

    def resolve(self, target: Target | np.ndarray) -> ResolvedTarget:
        """``target`` as a :class:`ResolvedTarget`: None is the top prediction; an index or a
        name one class; a :class:`Group` its members' log-sum-exp; ``Contrast(a, b)`` the
        difference of two scores; a float vector of shape (classes,) any weighting of the logits."""
        if target is None:
            return TOP
        classes = len(self.class_names)
        if isinstance(target, np.ndarray):
            if target.shape != (classes,):
                raise TargetError(f"A target weight vector must have shape ({classes},); got {target.shape}.")
            return ResolvedTarget.from_weights(target)
        row = np.zeros(classes, np.float32)
        if isinstance(target, Contrast):
            return self._contrast(target.target, target.other, row)
        if isinstance(target, Group):
            name, members = self.group(target)
            self._refuse_sigmoid(repr(name))
            row[list(members)] = 1.0
            return ResolvedTarget("group", row, name, members)
        row[self.class_index(target)] = 1.0
        return ResolvedTarget("class", row)

    def _contrast(self, first: int | str | Group, second: int | str | Group, row: np.ndarray) -> ResolvedTarget:
        if isinstance(first, Group) or isinstance(second, Group):
            (name, members), (other_name, other_members) = self._side(first), self._side(second)
            if set(members) & set(other_members):
                shared = ", ".join(repr(self.class_names[i]) for i in sorted(set(members) & set(other_members))[:5])
                raise TargetError(
                    f"A contrast needs two sides with no class in common; {name!r} and {other_name!r} "
                    f"share {shared}. Remove the shared classes from one side."
                )
            self._refuse_sigmoid(f"{name!r} rather than {other_name!r}")
            row[list(members)], row[list(other_members)] = 1.0, -1.0
            return ResolvedTarget("group", row, name, members, other_name, other_members)
        a, b = self.class_index(first), self.class_index(second)
        if a == b:
            raise TargetError(f"A contrast needs two different classes; got {self.class_names[a]!r} twice.")
        row[a], row[b] = 1.0, -1.0
        return ResolvedTarget("contrast", row)

    def _side(self, side: int | str | Group) -> tuple[str, tuple[int, ...]]:
        if isinstance(side, Group):
            return self.group(side)
        index = self.class_index(side)
        return self.class_names[index], (index,)

    def _refuse_sigmoid(self, what: str) -> None:
        if self.output_activation == "sigmoid":
            raise TargetError(
                f"Cannot explain the group target {what}: this model's outputs are independent "
                "sigmoids (a multi-label model), so a group's probability is not the sum of its "
                "members' and the log-sum-exp score has no meaning. Explain the classes one by one."
            )


def class_order(probabilities: np.ndarray, k: int | None = None) -> list[int]:
    """Class indices from the most to the least probable, the first ``k`` of them (all when None).

    The one ranking of classes everywhere (the top list, the report, the app's class pickers):
    among equal probabilities the lower index comes first, the rule ``np.argmax`` (and so the
    explainer's "top prediction") follows; ``argsort()[::-1]`` would put the higher first.

    Args:
        probabilities: (classes,) one image's class probabilities (any shape is flattened).
        k: how many to return (fewer when there are fewer classes); None for all.
    """
    values = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    # A stable sort of the negated values keeps equal probabilities in index order.
    order = np.argsort(-values, kind="stable")
    return [int(i) for i in (order if k is None else order[: max(int(k), 0)])]


def top_classes(probabilities: np.ndarray, class_names: Sequence[str], k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes as ``(index, name, probability)``, most probable first;
    among equal probabilities the lowest index first (:func:`class_order`).

    Args:
        probabilities: (classes,) one image's class probabilities.
        class_names: one name per class.
        k: how many to return (fewer when there are fewer classes).
    """
    probabilities = np.asarray(probabilities)
    return [(i, str(class_names[i]), float(probabilities[i])) for i in class_order(probabilities, k)]


# -- targets as text ----------------------------------------------------------------------------
#: How "the top prediction" is written.
TOP_TEXT = "top"
#: Between the two classes of a contrast: "285-vs-800" reads as "285 rather than 800".
CONTRAST_SEPARATOR = "-vs-"
#: Separates the items of a list (compared classes, methods, layers) in one query value.
LIST_SEPARATOR = ","
#: The prefix of a class group: "group:dog".
GROUP_PREFIX = "group:"
#: Between a listed group's name and its members: "group:drinks=440+907".
MEMBERS_SEPARATOR, MEMBER_SEPARATOR = "=", "+"


def _name_is_safe(name: str, class_names: Sequence[str]) -> bool:
    """Whether a class can travel by its name and come back as the same class: not empty, not a
    number, not a word the format reserves, no separator inside, and no other class so named
    (ImageNet has two "crane" and two "maillot")."""
    return (
        bool(name)
        and name == name.strip()
        and not name.isdigit()
        and name.lower() != TOP_TEXT
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
        return TOP_TEXT
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
        if not isinstance(member, str):
            members.append(operator.index(member))
        elif class_names is None:
            raise LinkError(f"Group member {member!r} is a name: pass class_names, or give the members as indices.")
        else:
            members.append(_class_index(member, class_names))
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
    if not value or value.lower() == TOP_TEXT:
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


__all__ = [
    "CONTRAST_SEPARATOR",
    "GROUP",
    "GROUP_PREFIX",
    "LIST_SEPARATOR",
    "TOP_TEXT",
    "Contrast",
    "Group",
    "Target",
    "TOP",
    "TOP_PREDICTION",
    "WEIGHTS",
    "ResolvedTarget",
    "TargetResolver",
    "class_order",
    "decode_target",
    "encode_target",
    "group_scores",
    "group_weights",
    "top_classes",
]
