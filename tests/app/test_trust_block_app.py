"""The trust block and the near-zero flag in the app (Streamlit's AppTest, the real Lite0)."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.helpers.app import new_app as open_page  # noqa: E402
from tests.helpers.app import problems  # noqa: E402

pytestmark = pytest.mark.slow
QUESTIONS = ("faithful?", "about this class?", "stable?", "focused?")


def new_app(**query) -> AppTest:
    return open_page(default_timeout=600, **query)  # its checks run many passes: a longer timeout


def warnings(at: AppTest) -> list[str]:
    return [str(w.value) for w in at.warning]


def trust_lines(at: AppTest) -> list[str]:
    return [str(m.value) for m in at.markdown if any(f"**{q}**" in str(m.value) for q in QUESTIONS)]


def test_a_near_zero_class_is_flagged_first_and_its_trust_block_says_why():
    at = new_app(sample="coffee.jpg", **{"class": "slot"})
    at.run()
    assert problems(at) == []
    flags = [w for w in warnings(at) if "near zero" in w]
    assert flags and flags[0].startswith("slot is at p = ")
    assert trust_lines(at) == []  # on demand only
    at.button(key="trust_go_explain").click().run()
    assert problems(at) == []
    lines = trust_lines(at)
    assert [line.split("**")[1] for line in lines] == list(QUESTIONS)
    assert lines[0].startswith("1. **faithful?**") and "**cannot tell**" in lines[0] and "random map: " in lines[0]
    assert "random classes: " in lines[1] and "espresso's map" in lines[1]
    assert "random map: " in lines[2] and "random map: 0.33" in lines[3]
    # The block stays on the page when the page reruns for something else.
    at.run()
    assert len(trust_lines(at)) == 4


def test_the_concept_pair_flags_both_groups_and_offers_a_block_under_each_map():
    at = new_app(sample="coffee.jpg", view="classes", classes="group:alcohol,group:gambling")
    at.run()
    assert problems(at) == []
    flags = [w for w in warnings(at) if "near zero" in w]
    assert any(f.startswith("alcohol is at p = ") for f in flags)
    assert any(f.startswith("gambling is at p = ") for f in flags)
    keys = {b.key for b in at.button if (b.key or "").startswith("trust_go_compare_")}
    assert keys == {"trust_go_compare_0", "trust_go_compare_1", "trust_go_compare_2"}  # two groups + the contrast
    at.button(key="trust_go_compare_1").click().run()
    assert problems(at) == []
    lines = trust_lines(at)
    assert len(lines) == 4 and "**cannot tell**" in lines[0]
    assert any("Can the map of gambling be trusted?" in str(m.value) for m in at.markdown)


def test_compare_methods_offers_the_block_under_each_map():
    at = new_app(sample="coffee.jpg", view="methods", methods="gradcam,layercam")
    at.run()
    assert problems(at) == []
    keys = {b.key for b in at.button if (b.key or "").startswith("trust_go_methods_")}
    assert keys == {"trust_go_methods_0", "trust_go_methods_1"}
    at.button(key="trust_go_methods_1").click().run()
    assert problems(at) == []
    lines = trust_lines(at)
    assert len(lines) == 4 and lines[1].startswith("2. **about this class?**")
    assert "**yes**" in lines[1]  # espresso is the top class


def test_the_faithfulness_panel_offers_the_quantus_metrics_with_the_random_map():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.session_state["faithfulness_open"] = True  # the panel is drawn while open
    at.run()
    at.multiselect(key="faithfulness_methods").set_value(["gradcam"]).run()
    at.multiselect(key="faithfulness_extra").set_value(["sparseness", "complexity", "random_logit"]).run()
    at.button(key="faithfulness_go").click().run()
    assert problems(at) == []
    table = at.dataframe[0].value.set_index("method")
    assert {"sparseness", "complexity", "random_logit"} <= set(table.columns)
    assert set(table.index) == {"Grad-CAM", "random"}
    assert table.loc["Grad-CAM", "sparseness"] > table.loc["random", "sparseness"]
    config = at.dataframe[0].proto.columns
    assert '"Sparseness ' in config and '"Random logit ' in config  # the headers (JSON escapes the arrows)
