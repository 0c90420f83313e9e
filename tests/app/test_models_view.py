"""The app's Compare models view with Streamlit's AppTest: EfficientNet-Lite0 and Lite1 (both
offline) side by side, the shared scale, a deep link that reopens the comparison, an own
1000-class model that joins the comparison and one whose classes do not match."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
import model_zoo  # noqa: E402
from tests.helpers.app import new_app, overlay_panels, problems  # noqa: E402

pytestmark = pytest.mark.slow
LITES = ["efficientnet-lite0", "efficientnet-lite1"]


@pytest.fixture(autouse=True)
def _lite1_offline(monkeypatch):
    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "1")
    statuses = {info.name: info.status for info in model_zoo.list_models()}
    if statuses.get("efficientnet-lite1") not in (model_zoo.READY, model_zoo.NEEDS_CONVERSION):
        pytest.skip("EfficientNet-Lite1's weights package is not installed")


def _panel_titles(at) -> list[str]:
    return [m.value.strip("*") for m in at.markdown if m.value.startswith("**EfficientNet")]


def _agreement(at) -> list[str]:
    return [m.value for m in at.markdown if "↔" in m.value]


def test_compare_lite0_and_lite1_side_by_side_with_probabilities_top1_and_agreement():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.radio(key="view").set_value("models").run()
    assert problems(at) == []
    picker = at.multiselect(key="compare_models")
    assert picker.value == LITES  # the model in use and the next offline one
    assert any(o.startswith("EfficientNet-Lite2") for o in picker.options)  # offline only: no download
    assert not any(o.startswith("ResNet50") for o in picker.options)
    assert _panel_titles(at) == ["EfficientNet-Lite0", "EfficientNet-Lite1"]
    captions = [c for c in overlay_panels(at) if c.startswith("p(")]
    assert len(captions) == 2 and all(c.startswith("p(espresso) = ") and "top-1: espresso" in c for c in captions)
    assert "224×224 input" in captions[0] and "240×240 input" in captions[1]
    (line,) = _agreement(at)
    assert "EfficientNet-Lite0 ↔ EfficientNet-Lite1: **ρ = +" in line
    assert any("Spearman" in c.value for c in at.caption)
    assert any("one per model" in c.value for c in at.caption)
    query = {k: v for k, v in at.query_params.items()}
    assert query["view"] in ("models", ["models"])
    assert query["models"] in ("efficientnet-lite0,efficientnet-lite1", ["efficientnet-lite0,efficientnet-lite1"])

    # another class: every panel explains it, with each model's own p and top-1
    at.selectbox(key="klass").set_value(968).run()  # cup
    captions = [c for c in overlay_panels(at) if c.startswith("p(")]
    assert all(c.startswith("p(cup) = ") and "top-1: espresso" in c and "(differs)" in c for c in captions)
    # the shared colour scale
    at.checkbox(key="shared_scale").check().run()
    assert problems(at) == []
    colour_bars = [h.proto.body for h in at.get("html") if "gc-colour-bar" in h.proto.body]
    assert any("strongest map among the models" in bar for bar in colour_bars)
    shared = at.query_params["shared"]
    assert shared in ("1", ["1"])


def test_a_deep_link_reopens_the_comparison():
    at = new_app(
        sample="coffee.jpg",
        view="models",
        models="efficientnet-lite1,EfficientNet-Lite0",
        shared="1",
        **{"class": "cup"},
    )
    at.run()
    assert problems(at) == [] and not at.warning
    assert at.radio(key="view").value == "models"
    assert at.multiselect(key="compare_models").value == ["efficientnet-lite1", "efficientnet-lite0"]
    assert at.checkbox(key="shared_scale").value is True
    assert _panel_titles(at) == ["EfficientNet-Lite1", "EfficientNet-Lite0"]
    assert all(c.startswith("p(cup) = ") for c in overlay_panels(at) if c.startswith("p("))
    assert len(_agreement(at)) == 1


def test_a_bad_model_in_a_link_is_named_and_the_rest_compared():
    at = new_app(sample="coffee.jpg", view="models", models="efficientnet-lite0,alexnet,efficientnet-lite1")
    at.run()
    assert [str(e.value) for e in at.exception] == []
    assert any("models='alexnet' ignored" in w.value for w in at.warning)
    assert _panel_titles(at) == ["EfficientNet-Lite0", "EfficientNet-Lite1"]


def _small_model(tmp_path: Path, classes: int = 5) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))
    path = tmp_path / ("five.keras" if classes == 5 else f"own_{classes}.keras")
    model.save(path)
    return path


def _own_model_in_compare_view(path: Path):
    """The app on coffee.jpg with the own model at ``path`` in use, on the Compare models view."""
    at = new_app(sample="coffee.jpg")
    at.run()
    at.selectbox(key="model").set_value("__user__").run()
    at.file_uploader(key="user_model_file").set_value([(path.name, path.read_bytes(), "application/octet-stream")])
    at.run()
    at.radio(key="view").set_value("models").run()
    return at


def test_an_own_1000_class_model_joins_the_comparison_beside_a_zoo_model(tmp_path):
    """Classes that match by count (1000, no names file): the own model is offered, picked first
    with the zoo's default beside it, and both panels explain the same class."""
    at = _own_model_in_compare_view(_small_model(tmp_path, 1000))
    assert problems(at) == []
    assert not any("cannot join" in w.value for w in at.warning)
    picker = at.multiselect(key="compare_models")
    assert picker.value[0] == "__user__" and len(picker.value) == 2, picker.value
    titles = [
        m.value.strip("*")
        for m in at.markdown
        if m.value.startswith("**") and ("own_1000" in m.value or "EfficientNet" in m.value)
    ]
    assert len(titles) == 2 and "own_1000" in titles[0], titles
    captions = [c for c in overlay_panels(at) if c.startswith("p(")]
    assert len(captions) == 2 and "32×32 input" in captions[0] and "224×224 input" in captions[1], captions
    (line,) = _agreement(at)
    assert "↔" in line and "ρ" in line


def test_an_own_model_whose_classes_differ_is_not_compared_and_the_page_says_why(tmp_path):
    at = _own_model_in_compare_view(_small_model(tmp_path, 5))
    assert [str(e.value) for e in at.exception] == []
    warning = " ".join(w.value for w in at.warning)
    assert "cannot join the comparison" in warning and "do not match" in warning and "has 5" in warning
    assert not any(o.startswith("Your model") for o in at.multiselect(key="compare_models").options)
