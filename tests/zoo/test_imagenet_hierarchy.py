"""Class groups: the shipped WordNet hierarchy file (counts, no cycles, real leaves, regenerates
identically), its generator's parser on a hand-written data.noun, the group lookups, and the curated
concept groups (every member's index matches its name)."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from model_zoo.concept_groups import concept_groups, not_in_imagenet
from model_zoo.errors import ModelZooError, UnknownGroupError
from model_zoo.imagenet import concepts as concept_module
from model_zoo.imagenet_hierarchy import (
    HIERARCHY_FILE,
    class_groups,
    class_parents,
    find_groups,
    group,
    group_members,
    imagenet_groups,
    membership_matrix,
    shadowed_wordnet_groups,
)
from model_zoo.imagenet_names import class_index, find_classes, imagenet_display_names, normalize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORDNET_DATA_NOUN = "/usr/share/wordnet/data.noun"


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_imagenet_hierarchy", os.path.join(ROOT, "scripts", "make_imagenet_hierarchy.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shipped() -> dict:
    with open(HIERARCHY_FILE, encoding="utf-8") as fh:
        return json.load(fh)


# --- the shipped file -------------------------------------------------------------------------------


def test_group_counts_match_the_anchors():
    assert group_members("dog") == list(range(151, 269))  # the 118 breeds
    assert group_members("domestic cat") == [281, 282, 283, 284, 285]
    assert len(group_members("bird")) == 59
    assert len(group_members("vehicle")) == 67
    assert len(group_members("musical instrument")) == 26
    assert group_members("entity") == list(range(1000))


def test_every_group_is_two_or_more_real_classes_with_a_unique_name(shipped):
    groups = shipped["groups"]
    assert len(groups) == 472
    names = [g["name"].casefold() for g in groups]
    assert len(set(names)) == len(names)
    assert len({g["wnid"] for g in groups}) == len(groups)
    for g in groups:
        assert len(g["members"]) >= 2, g["name"]
        assert g["members"] == sorted(set(g["members"])), g["name"]
        assert all(isinstance(i, int) and 0 <= i < 1000 for i in g["members"]), g["name"]
        assert g["lemmas"] and g["name"].split(" (")[0] == g["lemmas"][0]


def test_the_hierarchy_is_a_dag_whose_groups_hold_exactly_the_classes_below_them(shipped):
    by_wnid = {g["wnid"]: g for g in shipped["groups"]}
    roots = [g["name"] for g in shipped["groups"] if not g["parents"]]
    assert roots == ["entity"]
    # No cycles: Kahn's algorithm consumes every group.
    children: dict[str, list[str]] = {w: [] for w in by_wnid}
    indegree = {w: len(g["parents"]) for w, g in by_wnid.items()}
    for w, g in by_wnid.items():
        for p in g["parents"]:
            assert p in by_wnid, f"{g['name']}: parent {p} is not a group"
            children[p].append(w)
    queue, seen = [w for w, d in indegree.items() if d == 0], 0
    while queue:
        w = queue.pop()
        seen += 1
        for c in children[w]:
            indegree[c] -= 1
            if indegree[c] == 0:
                queue.append(c)
    assert seen == len(by_wnid)
    # Depth is one more than the shallowest parent's; a group's classes are within each parent's.
    for g in shipped["groups"]:
        if g["parents"]:
            assert g["depth"] == 1 + min(by_wnid[p]["depth"] for p in g["parents"]), g["name"]
        for p in g["parents"]:
            assert set(g["members"]) <= set(by_wnid[p]["members"]), (g["name"], by_wnid[p]["name"])
    # Members are exactly the classes whose parents lead up to the group, on any path.
    ancestors: dict[str, set[str]] = {}

    def up(wnid: str) -> set[str]:
        if wnid not in ancestors:
            ancestors[wnid] = {wnid}.union(*(up(p) for p in by_wnid[wnid]["parents"]))
        return ancestors[wnid]

    assert len(shipped["class_parents"]) == 1000
    below: dict[str, set[int]] = {w: set() for w in by_wnid}
    for index, parents in enumerate(shipped["class_parents"]):
        assert parents, index
        for w in set().union(*(up(p) for p in parents)):
            below[w].add(index)
    for w, g in by_wnid.items():
        assert below[w] == set(g["members"]), g["name"]


def test_no_group_takes_a_class_name():
    classes = {normalize(n) for n in imagenet_display_names()}
    assert not [g.name for g in imagenet_groups().values() if normalize(g.name) in classes]
    assert not [g.name for g in concept_groups().values() if normalize(g.name) in classes]
    tank = group("tank (vessel)")  # rain barrel and water tower, not 847 the army tank
    assert 847 not in tank.members and tank.members == (756, 900)
    with pytest.raises(UnknownGroupError, match="names ImageNet class 847") as info:
        group("tank")
    assert info.value.suggestions == ("tank (vessel)",)


def test_dog_has_both_its_wordnet_parents():
    dog = group("dog")
    parents = {group(p).name for p in dog.parents}
    assert parents == {"canine", "domestic animal"}
    assert set(dog.members) <= set(group("domestic animal").members)


@pytest.mark.skipif(
    not os.path.isfile(WORDNET_DATA_NOUN),
    reason=f"SKIPPED LOUDLY: {WORDNET_DATA_NOUN} is absent, so the shipped hierarchy cannot be "
    "regenerated and compared here (apt-get install wordnet-base to run this check)",
)
def test_the_shipped_file_regenerates_identically_from_wordnet():
    with open(HIERARCHY_FILE, encoding="utf-8") as fh:
        assert _script().generate(os.path.dirname(WORDNET_DATA_NOUN)) == fh.read()


# --- the generator, on a hand-written data.noun ------------------------------------------------------

TINY_DATA_NOUN = """\
  1 a licence header line, skipped
00000001 03 n 01 entity 0 000 | the root
00000002 03 n 01 animal 0 001 @ 00000001 n 0000 | an animal
00000003 03 n 01 pet 0 001 @ 00000001 n 0000 | a pet
00000004 03 n 02 dog 0 domestic_dog 0 002 @ 00000002 n 0000 @ 00000003 n 0000 | two hypernyms
00000005 03 n 01 beagle 0 001 @ 00000004 n 0000 | a class
00000006 03 n 01 poodle 0 001 @ 00000004 n 0000 | a class
00000007 03 n 01 cat 0 001 @ 00000002 n 0000 | covers one class only: not a group
00000008 03 n 01 tabby 0 001 @ 00000007 n 0000 | a class
00000009 03 n 01 Rex 0 001 @i 00000003 n 0000 | an instance: a class
00000010 03 n 01 object 0 001 @ 00000001 n 0000 | another sense
00000011 03 n 01 pet 1 001 @ 00000010 n 0000 | a second "pet" group
00000012 03 n 01 rock 0 001 @ 00000011 n 0000 | a class
00000013 03 n 01 stone 0 001 @ 00000011 n 0000 | a class
"""


def test_the_generator_follows_every_hypernym_path_and_qualifies_shared_names(tmp_path):
    script = _script()
    path = tmp_path / "data.noun"
    path.write_text(TINY_DATA_NOUN, encoding="utf-8")
    synsets = script.parse_data_noun(str(path))
    assert synsets[4] == (("dog", "domestic_dog"), (2, 3))
    assert synsets[9] == (("Rex",), (3,))  # "@i" instance hypernyms count
    classes = ["n00000005", "n00000006", "n00000008", "n00000009", "n00000012", "n00000013"]
    built = script.build_hierarchy(synsets, classes)
    groups = {g["name"]: g for g in built["groups"]}
    assert set(groups) == {"entity", "animal", "pet (entity)", "dog", "object", "pet (object)"}
    assert groups["dog"]["members"] == [0, 1] and groups["dog"]["lemmas"] == ["dog", "domestic dog"]
    assert groups["dog"]["parents"] == ["n00000002", "n00000003"]
    assert groups["animal"]["members"] == [0, 1, 2]  # tabby through "cat", a one-class synset
    assert groups["pet (entity)"]["members"] == [0, 1, 3]  # the dogs by their second path, and Rex
    assert groups["entity"]["members"] == [0, 1, 2, 3, 4, 5] and groups["entity"]["depth"] == 0
    assert groups["dog"]["depth"] == 2
    assert built["class_parents"][2] == ["n00000002"]  # "cat" covers one class: the nearest group is "animal"
    # A group may not take a class's name either (ignoring case): it gets its parent as a qualifier.
    renamed = script.build_hierarchy(synsets, classes, ["beagle", "poodle", "tabby", "Rex", "ANIMAL", "stone"])
    assert "animal (entity)" in {g["name"] for g in renamed["groups"]} and "animal" not in {
        g["name"] for g in renamed["groups"]
    }
    text = script.render(built)
    assert json.loads(text)["groups"] == built["groups"] and text == script.render(built)


def test_the_generator_names_a_malformed_line(tmp_path):
    path = tmp_path / "data.noun"
    path.write_text("00000001 03 n zz entity\n", encoding="utf-8")
    script = _script()
    with pytest.raises(script.WordNetFormatError, match=r"data.noun:1: expected a synset line"):
        script.parse_data_noun(str(path))


def test_the_script_reports_missing_wordnet_files(tmp_path, capsys):
    assert _script().main(["--wordnet-dir", str(tmp_path), "--check"]) == 2
    assert "apt-get install wordnet-base" in capsys.readouterr().err


# --- lookups ----------------------------------------------------------------------------------------


def test_groups_are_found_by_name_wnid_and_lemma():
    dog = group("dog")
    assert dog.source == "wordnet" and dog.wnid == "n02084071" and dog.size == 118
    assert group("n02084071") is dog and group("Domestic Dog") is dog and group("DOG") is dog
    assert group("canis familiaris") is dog
    assert imagenet_groups()["domestic cat"].members == (281, 282, 283, 284, 285)
    assert find_groups("dog")[0].group is dog and find_groups("dog")[0].kind == "name"
    assert find_groups("n02084071")[0].kind == "wnid"
    assert all(g.name != "dog" for g in (m.group for m in find_groups("dog")[1:]))  # each group once


def test_unknown_group_names_suggest_the_closest():
    with pytest.raises(UnknownGroupError) as info:
        group("dgo")
    assert "dog" in info.value.suggestions and '"dog"' in str(info.value)
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownGroupError, match="cap .headdress."):
        group("cap")  # a word of three groups: the error lists them
    assert [m.group.name for m in find_groups("dgo")][0] == "dog"
    assert find_groups("") == [] and find_groups("xyzzy qqq") == []


def test_a_class_knows_its_groups():
    assert [g.name for g in class_parents(282)] == ["domestic cat"]
    chain = [g.name for g in class_groups(282)]
    assert chain[:3] == ["domestic cat", "cat", "feline"] and chain[-1] == "entity"
    sizes = [g.size for g in class_groups(282)]
    assert sizes == sorted(sizes)


def test_the_membership_matrix_sums_member_probabilities():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 1000))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    groups = [group("dog"), group("alcohol"), group("gambling")]
    matrix = membership_matrix(groups)
    assert matrix.shape == (3, 1000) and matrix.dtype == np.float32
    by_hand = np.stack([probabilities[:, list(g.members)].sum(axis=1) for g in groups], axis=1)
    np.testing.assert_allclose(probabilities @ matrix.T, by_hand, rtol=1e-6)
    np.testing.assert_allclose(probabilities @ membership_matrix([group("entity")]).T, 1.0, rtol=1e-6)
    with pytest.raises(ModelZooError, match="Pass the model's number of classes"):
        membership_matrix([group("dog")], num_classes=200)


def test_a_group_record_says_what_was_explained():
    assert group("domestic cat").as_record() == {
        "group": "domestic cat",
        "source": "wordnet",
        "members": [281, 282, 283, 284, 285],
        "wnid": "n02121808",
    }
    assert group("gambling").as_record() == {"group": "gambling", "source": "curated", "members": [800]}
    json.dumps([g.as_record() for g in imagenet_groups().values()])  # JSON-ready


# --- curated concept groups ------------------------------------------------------------------------


def test_curated_members_exist_and_match_their_names():
    with open(concept_module.CONCEPTS_FILE, encoding="utf-8") as fh:
        raw = json.load(fh)
    names = imagenet_display_names()
    for entry in raw["groups"]:
        assert entry["rationale"].strip() and "\n" not in entry["rationale"], entry["name"]
        for index, name in entry["members"]:
            assert names[index] == name, (entry["name"], index, name)
            assert class_index(name) == index
    groups = concept_groups()
    assert list(groups) == [e["name"] for e in raw["groups"]]
    assert {440, 441, 901, 907, 966, 503} <= set(groups["alcohol"].members)
    assert groups["gambling"].members == (800,)
    assert {413, 763, 764} <= set(groups["weapons"].members)
    assert all(g.source == "curated" and g.depth is None for g in groups.values())


def test_a_curated_concept_keeps_its_name_and_the_wordnet_group_stays_reachable():
    assert group("alcohol").source == "curated"
    assert shadowed_wordnet_groups() == ["alcohol (WordNet)"]
    wordnet_alcohol = group("n07884567")
    assert wordnet_alcohol.name == "alcohol (WordNet)" and wordnet_alcohol.members == (966, 968, 969)
    assert group(wordnet_alcohol.name) is wordnet_alcohol
    assert [m.group.source for m in find_groups("alcohol")][:2] == ["curated", "wordnet"]
    # Every group name, curated or WordNet, finds that very group.
    for g in (*concept_groups().values(), *imagenet_groups().values()):
        assert group(g.name) == g


def test_the_file_says_what_imagenet_cannot_see():
    text = " ".join(not_in_imagenet()).lower()
    for absent in ("cigarette", "dice", "knife"):
        assert absent in text
        assert not [m for m in find_classes(absent) if m.kind in {"name", "synonym", "alias"}]


def test_a_wrong_member_name_in_the_concepts_file_is_refused(tmp_path, monkeypatch):
    bad = {
        "about": "",
        "not_in_imagenet": [],
        "groups": [{"name": "alcohol", "rationale": "x", "members": [[440, "beer glass"]]}],
    }
    path = tmp_path / "concept_groups.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    monkeypatch.setattr(concept_module, "CONCEPTS_FILE", str(path))
    concept_module._concepts_data.cache_clear()
    concept_module._concept_groups.cache_clear()
    try:
        with pytest.raises(ModelZooError, match=r'class 440 is "beer bottle"'):
            concept_groups()
    finally:
        monkeypatch.undo()
        concept_module._concepts_data.cache_clear()
        concept_module._concept_groups.cache_clear()
    assert concept_groups()["alcohol"].size == 7


def test_top_groups_gather_spread_evidence_and_skip_what_adds_nothing():
    from model_zoo.imagenet_hierarchy import top_groups

    probabilities = np.full(1000, 0.0)
    probabilities[[281, 282, 283, 285]] = [0.2, 0.2, 0.15, 0.2]  # four cat breeds: 75% "domestic cat"
    probabilities[[440, 907]] = [0.05, 0.05]  # beer bottle, wine bottle
    probabilities[0] = 1.0 - probabilities.sum()
    found = top_groups(probabilities, k=10)
    names = [g.group.name for g in found]
    assert names[0] == "domestic cat" and found[0].probability == pytest.approx(0.75)
    assert found[0].best_member in (281, 282, 285) and found[0].best_probability == pytest.approx(0.2)
    # "cat", "feline", "carnivore" add nothing to "domestic cat": not listed; nor the abstract top of the tree
    assert not {"cat", "feline", "carnivore", "entity", "object", "whole"} & set(names)
    assert "alcohol" in names  # the curated concept takes part (beer + wine bottle: 10%)
    assert len({frozenset(g.group.members) for g in found}) == len(found)  # one group per set of classes
    assert top_groups(probabilities, k=1) == found[:1]
    one_class = np.zeros(1000)
    one_class[285] = 1.0
    assert top_groups(one_class) == []  # every group is just its top class
    with pytest.raises(ModelZooError, match="1000 ImageNet class probabilities"):
        top_groups(np.ones(10) / 10)
