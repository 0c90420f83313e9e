"""Class groups and map strength in the web app (AppTest, the real EfficientNet-Lite0): the top
groups, the search over classes and groups, group comparison with its one-click concept pairs, the
group editor, deep links that carry groups, and "show strength"."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from tests.helpers.app import heatmap, new_app, overlay_panels, problems  # noqa: E402

pytestmark = pytest.mark.slow


def params(at) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_top_groups_explain_several_classes_as_one():
    at = new_app(sample="cat_and_coffee.jpg")
    at.run()
    groups = [b for b in at.button if b.key and b.key.startswith("topgroup_")]
    assert groups and groups[0].label.startswith("domestic cat · 5 classes · ")
    groups[0].click().run()
    assert problems(at) == []
    assert heatmap(at)[0] == "Heatmap · domestic cat"
    assert "a group of 5 classes" in captions(at)
    assert params(at)["class"] == "group:domestic cat"


def test_one_search_finds_classes_and_groups():
    at = new_app(sample="chelsea.jpg")
    at.run()
    picker = at.selectbox(key="klass")
    labels = picker.options  # as shown: "slot  (800) · one-armed bandit · n04243546", "dog · group of 118 · 0.2%"
    assert "Egyptian cat  (285) · n02124075" in labels
    assert "slot  (800) · one-armed bandit · n04243546" in labels  # synonyms and WordNet ids are searchable
    assert any(o.startswith("dog · group of 118 · ") for o in labels)
    assert any(o.startswith("alcohol · group of ") for o in labels)
    assert "1000 classes and" in picker.label and "groups" in picker.label
    picker.set_value("group:dog").run()
    assert problems(at) == []
    assert heatmap(at)[0] == "Heatmap · dog"
    assert params(at)["class"] == "group:dog"


def test_a_deep_link_carries_named_and_own_groups_and_bad_ones_warn():
    at = new_app(sample="coffee.jpg", **{"class": "group:drinks=440+907+966"})
    at.run()
    assert problems(at) == []
    assert heatmap(at)[0] == "Heatmap · drinks"
    assert at.selectbox(key="klass").value == "group:drinks=440+907+966"  # the link's own group is offered
    bad = new_app(sample="coffee.jpg", **{"class": "group:dgo"})
    bad.run()
    warnings = " ".join(str(w.value) for w in bad.warning)
    assert "class='group:dgo' ignored" in warnings and '"dog"' in warnings
    assert heatmap(bad)[0] == "Heatmap · espresso"  # the top prediction instead


def test_concept_pairs_compare_groups_on_one_scale_with_their_contrast():
    at = new_app(sample="cat_and_coffee.jpg")
    at.run()
    at.radio(key="view").set_value("classes").run()
    next(b for b in at.button if b.label == "Alcohol or gambling?").click().run()
    assert problems(at) == []
    assert at.multiselect(key="compare_classes").value == ["group:alcohol", "group:gambling"]
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert any(t.startswith("**alcohol · ") for t in titles) and any(t.startswith("**gambling · ") for t in titles)
    assert "**Why alcohol rather than gambling**" in titles
    assert params(at)["classes"] == "group:alcohol,group:gambling"
    linked = new_app(sample="chelsea.jpg", view="classes", classes="group:dog,group:domestic cat,285")
    linked.run()
    assert problems(linked) == []
    assert linked.multiselect(key="compare_classes").value == ["group:dog", "group:domestic cat", 285]


def test_the_group_editor_makes_a_group_that_travels_in_the_link():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.session_state["group_editor_open"] = True  # the editor is drawn while open
    at.run()
    at.text_input(key="group_name").set_value("hot drinks")
    at.multiselect(key="group_members").set_value([967, 968, 969]).run()
    at.button(key="group_make").click().run()
    assert problems(at) == []
    assert heatmap(at)[0] == "Heatmap · hot drinks"
    assert params(at)["class"] == "group:hot drinks=967+968+969"
    at.text_input(key="group_name").set_value("a+b").run()
    at.button(key="group_make").click().run()
    assert any("cannot travel in a link" in str(e.value) for e in at.error)
    assert heatmap(at)[0] == "Heatmap · hot drinks"  # the page keeps what it showed


def test_show_strength_draws_a_weak_class_weak():
    at = new_app(sample="cat_and_coffee.jpg", **{"class": "800"})  # slot machine, p ~ 0.0%
    at.run()
    at.toggle(key="scale_to_top").set_value(True).run()
    assert problems(at) == []
    overlay = next(c for c in overlay_panels(at) if c.startswith("Overlay · "))
    assert "rank " in overlay and "of the top class's" in overlay
    share = float(overlay.split("peak ")[1].split("%")[0])
    assert share < 100, overlay
    at.selectbox(key="method").set_value("saliency").run()
    assert problems(at) == []
    colour_bars = [h.proto.body for h in at.get("html") if "gc-colour-bar" in h.proto.body]
    assert any("99th percentile" in bar for bar in colour_bars)  # pixel maps are clipped for display
