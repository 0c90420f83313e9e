"""The app's concepts view ("What parts does the model see?", Deep Feature Factorization), the
Compare layers view's fused panel, and Eigen-Grad-CAM in the method picker, with AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.app import heatmap, new_app, overlay_panels, problems

pytest.importorskip("streamlit")
pytestmark = pytest.mark.slow

OVERLAY = "Each pixel coloured by its strongest concept"


@pytest.fixture(autouse=True)
def _upload_allowed(monkeypatch):
    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "1")


def legend(at) -> list[str]:
    """The legend's lines, without their colour swatch: "**Concept 1** · espresso 98%, ..."."""
    return [m.value.split("</span>", 1)[1] for m in at.markdown if "</span>**Concept " in m.value]


def query(at) -> dict[str, str]:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}


def concepts_app(**params):
    at = new_app(**params)
    at.run()
    if at.radio(key="view").value != "concepts":
        at.radio(key="view").set_value("concepts").run()
    return at


def test_concepts_view_draws_an_overlay_a_legend_of_classes_and_follows_k():
    at = concepts_app(sample="cat_and_coffee.jpg")
    assert problems(at) == []
    assert any(caption.startswith(OVERLAY) and "k = 4" in caption for caption in overlay_panels(at))
    lines = legend(at)
    assert [line.split(" · ")[0] for line in lines] == [f"**Concept {i}**" for i in range(1, 5)]
    text = " ".join(lines)
    assert "espresso" in text and "Egyptian cat" in text and "%" in text  # classes named, with scores
    assert sum(caption.startswith("Concept ") for caption in overlay_panels(at)) == 4  # the maps beside
    assert any("reconstruction error" in c.value and "computed in" in c.value for c in at.caption)
    assert not [b for b in at.button if (b.key or "").startswith("top_")], "no class is chosen in this view"
    assert query(at)["view"] == "concepts" and "k" not in query(at) and "class" not in query(at)

    at.slider(key="concepts_k").set_value(6).run()
    assert problems(at) == []
    assert len(legend(at)) == 6 and any("k = 6" in caption for caption in overlay_panels(at))
    assert query(at)["k"] == "6"


def test_a_deep_link_reopens_the_concepts_view_with_its_k():
    at = new_app(view="concepts", k="3", sample="cat_and_coffee.jpg")
    at.run()
    assert problems(at) == [] and not at.warning
    assert at.radio(key="view").value == "concepts"
    assert at.slider(key="concepts_k").value == 3 and len(legend(at)) == 3
    assert query(at)["k"] == "3"


def test_a_bad_k_in_a_link_is_refused_with_a_message_and_the_default_kept():
    at = new_app(view="concepts", k="50")
    at.run()
    assert [str(e.value) for e in at.exception] == [] and not at.error
    assert any("k='50' ignored" in w.value and "from 2 to 8" in w.value for w in at.warning)
    assert at.slider(key="concepts_k").value == 4 and len(legend(at)) == 4


def _model(tmp_path: Path, channels: int) -> Path:
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / f"conv{channels}.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def _upload(at, path: Path) -> None:
    at.selectbox(key="model").set_value("__user__").run()
    at.file_uploader(key="user_model_file").set_value((path.name, path.read_bytes(), "application/octet-stream"))
    at.file_uploader(key="user_names_file").set_value(("names.txt", b"apple\nbanana\ncherry\n", "text/plain"))
    at.run()


def test_a_k_larger_than_the_layer_allows_shows_the_library_message_and_keeps_the_page(tmp_path):
    at = concepts_app()
    _upload(at, _model(tmp_path, channels=2))
    assert [str(e.value) for e in at.exception] == []
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "k=4 concepts cannot be found at layer 'conv'" in errors[0]
    assert "k must be from 1 to 2" in errors[0]
    at.slider(key="concepts_k").set_value(2).run()  # what the message says to do
    assert problems(at) == []
    assert len(legend(at)) == 2 and any(n in " ".join(legend(at)) for n in ("apple", "banana", "cherry"))


def test_a_layer_whose_head_cannot_run_alone_still_shows_its_concepts_and_says_why_no_classes():
    at = concepts_app()
    at.selectbox(key="layer").set_value("block6c_bn").run()
    assert problems(at) == []
    assert any("skip connection" in w.value and "block6c_bn" in w.value for w in at.warning)
    assert all(line.endswith("no classes at this layer") for line in legend(at)) and len(legend(at)) == 4
    assert any(caption.startswith(OVERLAY) for caption in overlay_panels(at))


def test_a_model_without_a_spatial_layer_is_told_concepts_need_one(tmp_path):
    import keras

    inputs = keras.Input((16, 16, 3))
    path = tmp_path / "flat.keras"
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs))).save(path)
    at = concepts_app()
    _upload(at, path)
    assert [str(e.value) for e in at.exception] == []
    assert any("Concepts need a layer with a spatial output" in i.value for i in at.info)
    assert not legend(at)


def test_the_sidebar_layer_picker_is_used_by_the_concepts_view_even_with_a_pixel_method():
    at = concepts_app()
    at.selectbox(key="method").set_value("saliency").run()
    assert not at.selectbox(key="layer").disabled
    at.selectbox(key="layer").set_value("head_bn").run()
    assert problems(at) == []
    assert any("layer head_bn" in caption for caption in overlay_panels(at))
    at.radio(key="view").set_value("explain").run()  # the other views keep their behaviour
    assert at.selectbox(key="layer").disabled and problems(at) == []


def test_compare_layers_fuses_the_chosen_layers_into_one_more_panel_and_the_link_keeps_it():
    at = new_app(sample="cat_and_coffee.jpg")
    at.run()
    at.radio(key="view").set_value("layers").run()
    chosen = at.multiselect(key="compare_layers").value
    assert not any(t.startswith("**Fused") for t in (m.value for m in at.markdown)), "off by default"
    at.checkbox(key="compare_fuse").check().run()
    assert problems(at) == []
    assert f"**Fused · {len(chosen)} layers**" in [m.value for m in at.markdown]
    fused = [c for c in overlay_panels(at) if "mean of the layers' maps" in c]
    assert len(fused) == 1 and fused[0].startswith(" + ".join(chosen))
    assert query(at)["fuse"] == "1"

    at.multiselect(key="compare_layers").set_value(chosen[:1]).run()
    assert any("two or more layers" in i.value for i in at.info) and problems(at) == []

    link = new_app(sample="cat_and_coffee.jpg", view="layers", layers="block5c_add,head_activation", fuse="1")
    link.run()
    assert problems(link) == []
    assert link.checkbox(key="compare_fuse").value
    assert any(c.startswith("block5c_add + head_activation · mean") for c in overlay_panels(link))


def test_eigengradcam_is_in_the_method_picker_and_explains_without_problems():
    at = new_app(sample="cat_and_coffee.jpg")
    at.run()
    assert "Eigen-Grad-CAM" in at.selectbox(key="method").options  # as the picker labels it
    at.selectbox(key="method").set_value("eigengradcam").run()
    assert problems(at) == []
    assert heatmap(at)[0].startswith("Heatmap · ")
    assert any("**Eigen-Grad-CAM**" in c.value for c in at.caption)
    assert query(at)["method"] == "eigengradcam"
