"""Groups of ImageNet-1k classes: the WordNet 3.0 hierarchy above the classes, and curated concepts.

* :func:`imagenet_groups`: every WordNet synset above the classes that covers at least two of them
  ("dog": the 118 breeds 151-268, "domestic cat": 281-285, "bird": 59, "vehicle": 67), from
  ``model_zoo/data/imagenet_hierarchy.json``, which ``scripts/make_imagenet_hierarchy.py`` generated
  once from WordNet 3.0's ``data.noun`` (Debian's ``wordnet-base``; licence in
  ``model_zoo/data/WORDNET_LICENSE.txt``). Every hypernym path is kept, so it is a DAG: a group can
  have several parents ("dog" is a canine and a domestic animal) and a class sits in every group above
  it.
* :func:`model_zoo.imagenet.concepts.concept_groups`: curated concepts ("alcohol", "gambling", ...).
* :func:`group`, :func:`group_members` and :func:`find_groups` look in both. A curated concept keeps
  its name where a WordNet group has the same one ("alcohol"); the WordNet group is then renamed
  "alcohol (WordNet)" (and its WordNet id still finds it), so every group name is unique.

The data files are read once per process (``lru_cache``).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..errors import ModelZooError, UnknownGroupError
from .concepts import concept_groups
from .groups import CURATED, DATA_DIR, WORDNET, ClassGroup
from .names import checked_index, classes_named, normalize

HIERARCHY_FILE = os.path.join(DATA_DIR, "imagenet_hierarchy.json")

# How a group matched in find_groups, best first.
GROUP_MATCH_KINDS = ("name", "wnid", "lemma", "prefix", "word", "substring", "suggestion")
_RANK = {kind: rank for rank, kind in enumerate(GROUP_MATCH_KINDS)}
_WNID = re.compile(r"n\d{8}")
# difflib ratio for "did you mean": 0.6 lets one swap in a short word through ("dgo" -> "dog", 0.67).
SUGGEST_CUTOFF = 0.6


@dataclass(frozen=True)
class GroupMatch:
    """One group found by :func:`find_groups`: the ``group``, how it matched (``kind``, one of
    :data:`GROUP_MATCH_KINDS`) and the text that matched (``matched``: a name, lemma or WordNet id)."""

    group: ClassGroup
    kind: str
    matched: str


def imagenet_groups() -> dict[str, ClassGroup]:
    """The WordNet groups by unique name, shallowest first (``"entity"``, the root, covers all 1000).

    A group whose name a curated concept has is listed as "name (WordNet)" ("alcohol (WordNet)").
    A new dict each call; the groups themselves are immutable."""
    return dict(_wordnet_groups())


def membership_matrix(groups: Iterable[ClassGroup], num_classes: int = 1000) -> np.ndarray:
    """A float32 ``(len(groups), num_classes)`` matrix of 0 and 1, row ``g`` marking group ``g``'s
    members: ``probabilities (N, 1000) @ matrix.T`` gives each group's probability (the sum of its
    members') for every image in one product."""
    rows = list(groups)
    matrix = np.zeros((len(rows), num_classes), dtype=np.float32)
    for row, found in enumerate(rows):
        if found.members and found.members[-1] >= num_classes:
            raise ModelZooError(
                f'Group "{found.name}" has class {found.members[-1]}, but the matrix has {num_classes} '
                "classes. Pass the model's number of classes (ImageNet-1k: 1000)."
            )
        matrix[row, list(found.members)] = 1.0
    return matrix


@dataclass(frozen=True)
class GroupProbability:
    """One entry of :func:`top_groups`: the ``group``, its ``probability`` (the sum of its members')
    and its most probable member (``best_member``, ``best_probability``)."""

    group: ClassGroup
    probability: float
    best_member: int
    best_probability: float


#: Groups wider than this are too general to tell a person anything ("entity", "artifact", "object").
TOP_GROUPS_MAX_SIZE = 160
#: WordNet groups nearer the root than this are abstract ("abstraction", "matter", "part").
TOP_GROUPS_MIN_DEPTH = 4


def top_groups(probabilities: np.ndarray, k: int = 5, min_gain: float = 0.02) -> list[GroupProbability]:
    """The most probable class groups of one image that say more than its classes do.

    A group is listed when its probability (the sum of its members') exceeds that of its most probable
    member by at least ``min_gain`` -- the group gathers evidence spread over several classes ("domestic
    cat" at 96% over five breeds at most 81%) -- it has at most :data:`TOP_GROUPS_MAX_SIZE` members and
    is not an abstract WordNet node (depth below :data:`TOP_GROUPS_MIN_DEPTH`). A group that adds less
    than ``min_gain`` to a smaller group inside it is left out ("cat" when "domestic cat" already has
    nearly all of its probability). Most probable first. Curated concepts take part.

    Args:
        probabilities: (1000,) one image's ImageNet class probabilities.
        k: at most this many groups.
        min_gain: see above, in probability (0.02 = 2 points).
    """
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape != (1000,):
        raise ModelZooError(
            f"top_groups needs the 1000 ImageNet class probabilities of one image; got shape {probabilities.shape}."
        )
    groups, matrix = _group_matrix()
    totals = matrix @ probabilities
    candidates = []
    for row, found in enumerate(groups):
        members = np.asarray(found.members)
        best = int(members[np.argmax(probabilities[members])])
        if (
            2 <= found.size <= TOP_GROUPS_MAX_SIZE
            and (found.depth is None or found.depth >= TOP_GROUPS_MIN_DEPTH)
            and totals[row] - probabilities[best] >= min_gain
        ):
            candidates.append(GroupProbability(found, float(totals[row]), best, float(probabilities[best])))
    sets = [frozenset(c.group.members) for c in candidates]
    # A group that adds less than min_gain to a smaller group inside it says nothing more: keep the smaller.
    kept = [
        c
        for c, members in zip(candidates, sets)
        if not any(other < members and c.probability - o.probability < min_gain for o, other in zip(candidates, sets))
    ]
    # Several WordNet groups can hold the same classes ("liquid", "fluid", "beverage"): keep the most
    # specific, the one below the others in the tree (then the deepest).
    by_members: dict[frozenset, list[GroupProbability]] = {}
    for c in kept:
        by_members.setdefault(frozenset(c.group.members), []).append(c)
    unique = []
    for same in by_members.values():
        wnids = {c.group.wnid for c in same}
        unique.append(
            min(same, key=lambda c: (not (set(c.group.parents) & wnids), -(c.group.depth or 99), c.group.name))
        )
    unique.sort(key=lambda c: (-c.probability, c.group.size, c.group.name))
    return unique[: max(int(k), 0)]


@functools.lru_cache(maxsize=1)
def _group_matrix() -> tuple[tuple[ClassGroup, ...], np.ndarray]:
    groups = tuple(_concepts().values()) + tuple(_wordnet_groups().values())
    return groups, membership_matrix(groups)


def class_parents(index: int) -> list[ClassGroup]:
    """The nearest WordNet groups above class ``index`` (282 tiger cat -> ["domestic cat"]); several
    where WordNet gives the class several hypernyms."""
    by_wnid = _by_wnid()
    return [by_wnid[w] for w in _hierarchy_data()["class_parents"][checked_index(index)]]


def class_groups(index: int) -> list[ClassGroup]:
    """Every WordNet group that contains class ``index``, smallest first (282 tiger cat: "domestic
    cat", "cat", "feline", ..., "entity"); among groups of one size, the deeper first.

    Smallest first rather than deepest first: with several hypernym paths, depth (the shortest path
    from the root) can rank a narrow group above a wide one ("domestic cat" is also a "domestic
    animal", two steps from the top, so it is shallower than "cat")."""
    return list(_groups_of_class()[checked_index(index)])


@functools.lru_cache(maxsize=1)
def _groups_of_class() -> tuple[tuple[ClassGroup, ...], ...]:
    found: list[list[ClassGroup]] = [[] for _ in range(1000)]
    for g in _wordnet_groups().values():
        for index in g.members:
            found[index].append(g)
    return tuple(tuple(sorted(gs, key=lambda g: (g.size, -(g.depth or 0), g.name))) for gs in found)


def group(name: str) -> ClassGroup:
    """The group that ``name`` names: a curated concept name, a WordNet group name, a WordNet id
    (``"n02084071"`` -> "dog") or a lemma that only one group has and no class has ("domestic dog"
    -> "dog"; "tank" is refused: it is class 847 and a word of "tank (vessel)"). Case and punctuation
    do not matter.

    Raises :class:`~model_zoo.errors.UnknownGroupError` with the closest group names when nothing
    matches, or with the candidates when a lemma belongs to several groups ("cap")."""
    if not isinstance(name, str):
        raise UnknownGroupError(f"Expected a group name (str); found {type(name).__name__} {name!r}.", query=repr(name))
    key = normalize(name)
    tables = _group_tables()
    if key in tables.by_name:
        return tables.by_name[key]
    if key in tables.by_wnid:
        return tables.by_wnid[key]
    candidates = tables.by_lemma.get(key, ())
    classes = classes_named(name)
    if candidates and classes:
        # "tank" is class 847 (the army tank) and a word of the group "tank (vessel)" (rain barrel,
        # water tower): guessing either would explain the wrong thing without a word.
        names = tuple(g.name for g in candidates)
        raise UnknownGroupError(
            f'"{name}" names ImageNet class {", ".join(str(i) for i in classes)} and is a word of the '
            "group(s) " + ", ".join(f'"{n}"' for n in names) + ". For the group, use its full name; "
            "for the class, use the class itself, not a group.",
            query=name,
            suggestions=names,
        )
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = tuple(g.name for g in candidates)
        raise UnknownGroupError(
            f'"{name}" is a word of {len(names)} groups: '
            + ", ".join(f'"{n}"' for n in names)
            + ". Use one of these names, or a WordNet id.",
            query=name,
            suggestions=names,
        )
    suggestions = tuple(g.name for g in _suggest(key, 5))
    hint = ("Closest groups: " + ", ".join(f'"{s}"' for s in suggestions) + ". ") if suggestions else ""
    raise UnknownGroupError(
        f'No class group is called "{name}" (looked in {len(_concepts())} curated concepts and '
        f"{len(_wordnet_groups())} WordNet groups, by name, WordNet id and lemma). {hint}"
        "Search with model_zoo.imagenet_hierarchy.find_groups.",
        query=name,
        suggestions=suggestions,
    )


def group_members(name: str) -> list[int]:
    """The sorted class indices of the group that ``name`` names (see :func:`group`):
    ``group_members("domestic cat")`` is ``[281, 282, 283, 284, 285]``."""
    return list(group(name).members)


def find_groups(query: str, limit: int = 10) -> list[GroupMatch]:
    """Groups that ``query`` finds, best first, at most ``limit`` (each group once, best match).

    Order: exact name, WordNet id, exact lemma; names that start with the query, names or lemmas with
    a word that starts with it, names containing it (3+ letters); close spellings only when nothing
    else matched ("dgo" -> "dog"), closest first. Ties: curated concepts first, then larger groups."""
    key = normalize(query) if isinstance(query, str) else ""
    if limit < 1 or not key:
        return []
    tables = _group_tables()
    best: dict[ClassGroup, tuple[int, int, str, str]] = {}  # group -> (rank, closeness order, kind, matched)

    def add(found: ClassGroup, kind: str, matched: str, order: int = 0) -> None:
        if found not in best or _RANK[kind] < best[found][0]:
            best[found] = (_RANK[kind], order, kind, matched)

    if key in tables.by_name:
        add(tables.by_name[key], "name", tables.by_name[key].name)
    if _WNID.fullmatch(key) and key in tables.by_wnid:
        add(tables.by_wnid[key], "wnid", key)
    for found in tables.by_lemma.get(key, ()):
        add(found, "lemma", next(lemma for lemma in found.lemmas if normalize(lemma) == key))
    word_start = re.compile(r"\b" + re.escape(key))
    for norm, found in tables.by_name.items():
        if norm.startswith(key):
            add(found, "prefix", found.name)
        elif word_start.search(norm):
            add(found, "word", found.name)
        elif len(key) >= 3 and key in norm:
            add(found, "substring", found.name)
    for norm, groups in tables.by_lemma.items():
        if word_start.search(norm):
            for found in groups:
                add(found, "word", next(lemma for lemma in found.lemmas if normalize(lemma) == norm))
    if not best:
        for order, found in enumerate(_suggest(key, limit)):  # closest spelling first
            add(found, "suggestion", found.name, order)
    ranked = sorted(
        best.items(), key=lambda item: (item[1][:2], item[0].source != CURATED, -item[0].size, item[0].name)
    )
    return [GroupMatch(group=found, kind=kind, matched=matched) for found, (_, _, kind, matched) in ranked[:limit]]


# --- loading --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _hierarchy_data() -> dict:
    try:
        with open(HIERARCHY_FILE, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ModelZooError(
            f"Expected the ImageNet hierarchy at {HIERARCHY_FILE}; could not read it ({exc}). It ships "
            "with the repository; restore it with git, or regenerate it: python scripts/make_imagenet_hierarchy.py"
        ) from None
    if data.get("format") != 1 or len(data.get("class_parents", ())) != 1000:
        raise ModelZooError(
            f"Expected format 1 with 1000 class_parents in {HIERARCHY_FILE}; found format "
            f"{data.get('format')!r}. Regenerate it: python scripts/make_imagenet_hierarchy.py"
        )
    return data


#: Suffix of a WordNet group whose name a curated concept took ("alcohol (WordNet)").
SHADOW_SUFFIX = " (WordNet)"


@functools.lru_cache(maxsize=1)
def _wordnet_groups() -> dict[str, ClassGroup]:
    curated = {normalize(n) for n in _concepts()}
    groups = {}
    for g in _hierarchy_data()["groups"]:
        # A curated concept keeps the plain name ("alcohol"): it is what people ask for. The WordNet
        # group is renamed so that every group name stays unique and group(g.name) finds g again.
        name = g["name"] + SHADOW_SUFFIX if normalize(g["name"]) in curated else g["name"]
        groups[name] = ClassGroup(
            name=name,
            members=tuple(g["members"]),
            source=WORDNET,
            wnid=g["wnid"],
            lemmas=tuple(g["lemmas"]),
            parents=tuple(g["parents"]),
            depth=g["depth"],
        )
    return groups


@functools.lru_cache(maxsize=1)
def _by_wnid() -> dict[str, ClassGroup]:
    return {g.wnid: g for g in _wordnet_groups().values()}


def _concepts() -> dict[str, ClassGroup]:
    return concept_groups()


@dataclass(frozen=True)
class _GroupTables:
    by_name: dict[str, ClassGroup]  # normalized name -> group, curated and WordNet
    by_wnid: dict[str, ClassGroup]
    by_lemma: dict[str, tuple[ClassGroup, ...]]  # normalized lemma -> WordNet groups with it
    all_groups: dict[str, ClassGroup]  # name -> group


@functools.lru_cache(maxsize=1)
def _group_tables() -> _GroupTables:
    by_name: dict[str, ClassGroup] = {}
    for g in (*_concepts().values(), *_wordnet_groups().values()):
        key = normalize(g.name)
        if key in by_name:  # a hand-edited data file could do this; say which file to fix
            raise ModelZooError(
                f'Expected unique group names; "{g.name}" and "{by_name[key].name}" are the same name '
                "ignoring case and punctuation. Rename one in model_zoo/data/concept_groups.json."
            )
        by_name[key] = g
    by_lemma: dict[str, list[ClassGroup]] = {}
    for g in _wordnet_groups().values():
        for lemma in dict.fromkeys(normalize(lemma) for lemma in g.lemmas):
            by_lemma.setdefault(lemma, []).append(g)
    return _GroupTables(
        by_name=by_name,
        by_wnid=dict(_by_wnid()),
        by_lemma={k: tuple(v) for k, v in by_lemma.items()},
        all_groups={g.name: g for g in by_name.values()},
    )


def shadowed_wordnet_groups() -> list[str]:
    """WordNet groups renamed because a curated concept has their name: ``["alcohol (WordNet)"]``."""
    return [name for name in _wordnet_groups() if name.endswith(SHADOW_SUFFIX)]


def _suggest(key: str, limit: int) -> list[ClassGroup]:
    tables = _group_tables()
    words = list(tables.by_name) + list(tables.by_lemma)
    found: list[ClassGroup] = []
    for close in difflib.get_close_matches(key, words, n=limit * 2, cutoff=SUGGEST_CUTOFF):
        for g in (tables.by_name[close],) if close in tables.by_name else tables.by_lemma[close]:
            if g not in found:
                found.append(g)
    return found[:limit]
