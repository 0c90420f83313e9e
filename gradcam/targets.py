"""What to explain: a class index or name, ``Contrast(a, b)``, a weight vector, or the top prediction.

Every target becomes a :class:`ResolvedTarget` before any computing: a weight row over the logits
(the score explained is ``weights . logits``), or the marker for "the image's top prediction",
which is chosen inside the compiled pass so that a new image costs one pass, not two. A new kind
of target (a class group scored by the log-sum-exp of its members' logits, say) is one more
``kind`` here and one more score in :mod:`gradcam.compute`.

Ties: among classes of equal probability the lowest class index ranks first, everywhere (the top
list, the "top prediction" target, :func:`top_classes`), which is ``np.argmax``'s rule and
``tf.argmax``'s on this platform.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import TargetError, UnknownClassError
from .explanation import Contrast, Target


@dataclass(frozen=True, eq=False)
class ResolvedTarget:
    """One target, ready for the engine.

    Attributes:
        kind: ``"top"`` (the image's top prediction), ``"class"``, ``"contrast"`` or ``"weights"``
            (a weight vector given by the caller).
        weights: float32 (classes,), the score's weights over the logits; None for ``"top"``.
    """

    kind: str
    weights: np.ndarray | None = None

    @property
    def is_top(self) -> bool:
        """True when the class is the image's top prediction, chosen during the pass."""
        return self.kind == "top"

    @classmethod
    def from_weights(cls, weights: np.ndarray) -> ResolvedTarget:
        """A target given directly as a weight row (e.g. the class chosen on an original image,
        reused for its augmented copies)."""
        return cls("weights", np.asarray(weights, np.float32))


#: The image's own top prediction.
TOP = ResolvedTarget("top")


class TargetResolver:
    """Turns what a person asks for into :class:`ResolvedTarget`, with messages that help.

    Args:
        class_names: one name per model output.
    """

    def __init__(self, class_names: Sequence[str]):
        self.class_names = [str(name) for name in class_names]
        # The first class of a repeated name wins (reversed, so that earlier indices overwrite).
        self._by_name = {n.lower(): i for i, n in reversed(list(enumerate(self.class_names)))}

    def class_index(self, target: int | str) -> int:
        """The index of a class given by index or name (case-insensitive, surrounding spaces
        ignored; a string of digits is an index)."""
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
            raise UnknownClassError(f"Unknown class {target!r}. {self.suggest(text)}")
        raise TargetError(f"A class index, a class name, None or a Contrast is expected; got {target!r}.")

    def suggest(self, text: str) -> str:
        """A sentence naming up to five class names close to ``text``, for error messages."""
        lowered = text.lower()
        close = difflib.get_close_matches(lowered, list(self._by_name), n=5, cutoff=0.6)
        close += [n for n in self._by_name if lowered in n and n not in close][: 5 - len(close)]
        if close:
            return "Closest names: " + ", ".join(repr(self.class_names[self._by_name[n]]) for n in close) + "."
        return f"The model has {len(self.class_names)} classes; see explainer.class_names."

    def resolve(self, target: Target | np.ndarray) -> ResolvedTarget:
        """``target`` as a :class:`ResolvedTarget`: None is the top prediction; an index or a
        name one class; ``Contrast(a, b)`` the difference of two logits; a float vector of shape
        (classes,) any weighting of the logits."""
        if target is None:
            return TOP
        classes = len(self.class_names)
        if isinstance(target, np.ndarray):
            if target.shape != (classes,):
                raise TargetError(f"A target weight vector must have shape ({classes},); got {target.shape}.")
            return ResolvedTarget.from_weights(target)
        row = np.zeros(classes, np.float32)
        if isinstance(target, Contrast):
            a, b = self.class_index(target.target), self.class_index(target.other)
            if a == b:
                raise TargetError(f"A contrast needs two different classes; got {self.class_names[a]!r} twice.")
            row[a], row[b] = 1.0, -1.0
            return ResolvedTarget("contrast", row)
        row[self.class_index(target)] = 1.0
        return ResolvedTarget("class", row)


def top_classes(probabilities: np.ndarray, class_names: Sequence[str], k: int = 5) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes as ``(index, name, probability)``, most probable first;
    among equal probabilities the lowest index first (``np.argmax``'s rule).

    Args:
        probabilities: (classes,) one image's class probabilities.
        class_names: one name per class.
        k: how many to return (fewer when there are fewer classes).
    """
    probabilities = np.asarray(probabilities)
    # A stable sort of the negated values keeps equal probabilities in index order.
    order = np.argsort(-probabilities, kind="stable")[: max(int(k), 0)]
    return [(int(i), str(class_names[i]), float(probabilities[i])) for i in order]


__all__ = ["TOP", "ResolvedTarget", "TargetResolver", "top_classes"]
