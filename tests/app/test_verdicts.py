"""The app says, under a map of a class other than the top one, whether that map is about the
class or the top class's map again, and offers the contrastive map in one click (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "streamlit_app.py")
pytestmark = pytest.mark.slow

CUP, SLOT, ESPRESSO = 968, 800, 967


def new_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=240)
    for key, value in query.items():
        at.query_params[key] = value
    return at


def problems(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


def verdicts(at: AppTest) -> list[str]:
    """The class-sensitivity lines on the page, whatever their colour."""
    texts = [str(e.value) for kind in (at.warning, at.info, at.success) for e in kind] + [
        str(c.value) for c in at.caption
    ]
    return [t for t in texts if "About this class?" in t]


def captions(at: AppTest) -> list[str]:
    return [img.caption for image in at.get("image") for img in image.proto.imgs]


def test_a_second_class_is_the_same_as_top_and_one_click_opens_its_contrast():
    at = new_app(sample="coffee.jpg")
    at.run()
    assert verdicts(at) == []  # the top class itself: nothing to compare
    at.selectbox(key="klass").set_value(CUP).run()
    assert problems(at) == []
    (line,) = verdicts(at)
    assert "About this class? Same as top." in line
    assert "the same as espresso's map: this mostly shows where the model looks, not what is specific to cup" in line
    assert any(str(w.value) == line for w in at.warning)
    button = at.button(key="explain_contrast")
    assert button.label == "Why cup rather than espresso?"
    button.click().run()
    assert problems(at) == []
    assert at.radio(key="view").value == "classes"
    assert at.multiselect(key="compare_classes").value == [CUP, ESPRESSO]
    assert at.checkbox(key="compare_contrast").value is True
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert "**Why cup rather than espresso**" in titles
    # the compare view says it again under cup's map, without offering the contrast it shows
    assert any("About this class? Same as top." in t for t in verdicts(at))
    assert [b for b in at.button if (b.key or "").startswith("classes_contrast_")] == []


def test_a_low_probability_class_gets_its_similarity_and_verdict():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.selectbox(key="klass").set_value(SLOT).run()
    assert problems(at) == []
    (line,) = verdicts(at)
    assert "the same as espresso's map" in line and "slot" in line
    verdict = line.split("About this class? ", 1)[1].split(".", 1)[0].lower()
    assert verdict in ("same as top", "partly shared", "distinct")
    assert ("explain_contrast" in [b.key for b in at.button]) == (verdict == "same as top")


def test_compare_classes_and_methods_show_the_similarity_on_each_map():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.radio(key="view").set_value("classes").run()
    at.multiselect(key="compare_classes").set_value([CUP, SLOT]).run()  # the top class not among them
    assert problems(at) == []
    shown = captions(at)
    assert sum("the same as espresso's map" in c for c in shown) == 2
    assert len(verdicts(at)) == 2
    at.radio(key="view").set_value("methods").run()
    at.selectbox(key="klass").set_value(CUP).run()
    assert problems(at) == []
    shown = captions(at)
    for method in ("Grad-CAM", "Grad-CAM++", "LayerCAM"):
        assert any(c.startswith("cup") and "the same as espresso's map" in c for c in shown), (method, shown)
    assert any("same map for every class" in c and "espresso's map" not in c for c in shown)  # Eigen-CAM
