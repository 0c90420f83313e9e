"""The web app's flows with Streamlit's AppTest (no browser): sample, upload, class change,
compare modes, method and layer change, deep links, own-model upload and its refusals.

The zoo model (EfficientNet-Lite0) is loaded once per test session: AppTest runs the script in
this process, so st.cache_resource keeps it between tests.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.helpers.app import SAMPLES, heatmap, new_app, overlay_panels, problems

pytestmark = pytest.mark.slow


def top_buttons(at: AppTest):
    """The top-5 class buttons (not the top groups' buttons beside them)."""
    return [b for b in at.button if (b.key or "").startswith("top_") and " · " in b.label and b.label.endswith("%")]


def png(size=(96, 64), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_own_model(at: AppTest, path: Path, names: bytes | None = None) -> AppTest:
    """Pick "your own model" in the sidebar and upload ``path`` (and a class-names .txt); not run."""
    at.selectbox(key="model").set_value("__user__").run()
    at.file_uploader(key="user_model_file").set_value((path.name, path.read_bytes(), "application/octet-stream"))
    if names is not None:
        at.file_uploader(key="user_names_file").set_value(("names.txt", names, "text/plain"))
    return at


@pytest.fixture(autouse=True)
def _upload_allowed(monkeypatch):
    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "1")


def test_first_open_explains_a_sample_with_the_default_model():
    at = new_app()
    at.run()
    assert problems(at) == []
    caption, _ = heatmap(at)
    assert caption == "Heatmap · Egyptian cat"
    assert len(top_buttons(at)) == 5
    assert [d.label for d in at.download_button] == ["Overlay PNG", "Heatmap .npy", "Provenance JSON", "Report"]
    assert at.selectbox(key="model").value == "efficientnet-lite0"
    assert any("gc-probs" in h.proto.body for h in at.get("html")), "the probability bars are missing"
    assert any("What the model saw" in m.value for m in at.markdown)
    params = dict(at.query_params)
    assert params["model"] == ["efficientnet-lite0"] or params["model"] == "efficientnet-lite0"


def test_class_change_by_button_and_by_search_changes_the_heatmap():
    at = new_app()
    at.run()
    caption, url = heatmap(at)
    espresso = next(b for b in top_buttons(at) if b.label.startswith("espresso"))
    espresso.click().run()
    assert problems(at) == []
    caption2, url2 = heatmap(at)
    assert caption2 == "Heatmap · espresso" and url2 != url
    import model_zoo

    at.selectbox(key="klass").set_value(966).run()  # the searchable picker over all classes
    assert heatmap(at)[0] == f"Heatmap · {model_zoo.imagenet_class_names()[966]}"


def test_upload_several_images_is_a_gallery_and_a_bad_file_says_what_is_wrong():
    at = new_app()
    at.run()
    at.radio(key="source").set_value("Upload").run()
    assert any("Upload one or several images" in i.value for i in at.info)
    at.file_uploader(key="uploads").set_value(
        [
            ("coffee.jpg", (SAMPLES / "coffee.jpg").read_bytes(), "image/jpeg"),
            ("red.png", png(), "image/png"),
            ("notes.png", b"this is not an image at all", "image/png"),
        ]
    ).run()
    assert [str(e.value) for e in at.exception] == []
    errors = [str(e.value) for e in at.error]
    assert len(errors) == 1 and "notes.png" in errors[0]
    gallery = at.radio(key="gallery")
    assert gallery.options == ["1. coffee.jpg", "2. red.png"]
    assert heatmap(at)[0] == "Heatmap · espresso"
    gallery.set_value("2. red.png").run()
    assert heatmap(at)[0].startswith("Heatmap · ")
    at.button(key="build_zip").click().run()
    assert any(d.label.startswith("ZIP of 2 images") for d in at.download_button)


def test_compare_classes_on_one_scale_with_a_contrast():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.radio(key="view").set_value("classes").run()
    assert problems(at) == []
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles[0].startswith("**espresso") and len(at.multiselect(key="compare_classes").value) == 2
    assert any("rather than" in t for t in titles)
    captions = overlay_panels(at)
    assert "peak 100% of the strongest" in captions
    at.multiselect(key="compare_classes").set_value([967, 968, 504]).run()
    assert len([c for c in overlay_panels(at) if "of the strongest" in c]) == 3


def test_compare_methods_and_layers():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.radio(key="view").set_value("methods").run()
    assert problems(at) == []
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert {"**Grad-CAM**", "**Grad-CAM++**", "**LayerCAM**", "**Eigen-CAM**"} <= set(titles)
    at.radio(key="view").set_value("layers").run()
    assert problems(at) == []
    assert len(at.multiselect(key="compare_layers").value) >= 3
    assert any("7×7 map" in c for c in overlay_panels(at))


def test_method_and_layer_change():
    at = new_app(sample="coffee.jpg")
    at.run()
    _, url = heatmap(at)
    at.selectbox(key="method").set_value("gradcam++").run()
    assert problems(at) == []
    _, url2 = heatmap(at)
    assert url2 != url
    layers = at.selectbox(key="layer").options
    earlier = next(path for path in layers if "block6" in path)
    at.selectbox(key="layer").set_value(earlier).run()
    assert problems(at) == []
    assert any(earlier in c.value for c in at.caption)
    at.selectbox(key="method").set_value("saliency").run()
    assert problems(at) == [] and at.selectbox(key="layer").disabled


def test_occlusion_runs_in_the_app_from_a_link_and_says_how():
    at = new_app(sample="coffee.jpg", method="occlusion", **{"class": "espresso"})
    at.run()
    assert problems(at) == []
    assert heatmap(at)[0] == "Heatmap · espresso" and at.selectbox(key="layer").disabled
    caption = next(c.value for c in at.caption if c.value.startswith("**Occlusion** for **espresso**"))
    assert "a 28x28 square of the image's mean colour at 225 positions, 14 pixels apart" in caption


def test_display_changes_do_not_recompute(monkeypatch):
    at = new_app(sample="coffee.jpg")
    at.run()
    caption = next(c.value for c in at.caption if "map computed in" in c.value)
    at.selectbox(key="colormap").set_value("viridis").run()
    at.slider(key="alpha").set_value(0.8).run()
    at.slider(key="top_percent").set_value(20).run()
    assert problems(at) == []
    # the reported compute time is the cached result's: the model was not called again
    assert (
        next(c.value for c in at.caption if "map computed in" in c.value).split(" · this")[0]
        == caption.split(" · this")[0]
    )


def test_deep_link_reproduces_model_sample_class_method_and_layer():
    at = new_app(
        model="efficientnet-lite0",
        sample="coffee.jpg",
        **{"class": "tea cup"},
        method="gradcam++",
        layer="block7a_project_bn",
    )
    at.run()
    assert problems(at) == []
    assert heatmap(at)[0] == "Heatmap · cup"  # an older link's name ("tea cup") still finds class 968
    assert at.selectbox(key="method").value == "gradcam++"
    assert at.selectbox(key="layer").value == "block7a_project_bn"
    params = {k: (v[-1] if isinstance(v, list) else v) for k, v in dict(at.query_params).items()}
    assert params["class"] == "cup" and params["layer"] == "block7a_project_bn"


def test_deep_link_with_bad_values_warns_and_falls_back():
    at = new_app(model="no-such-model", **{"class": "unicorn"}, method="magic")
    at.run()
    assert [str(e.value) for e in at.exception] == []
    warnings = " ".join(str(w.value) for w in at.warning)
    assert "model='no-such-model'" in warnings and "method='magic'" in warnings and "unicorn" in warnings
    assert heatmap(at)[0] == "Heatmap · Egyptian cat"


def test_model_needing_a_download_explains_itself_and_keeps_the_page(monkeypatch):
    import model_zoo

    offline = [i.name for i in model_zoo.list_models() if i.status == model_zoo.NEEDS_DOWNLOAD]
    if not offline:
        pytest.skip("every zoo model's weights are on this machine")
    at = new_app()
    at.run()
    at.selectbox(key="model").set_value(offline[0]).run()
    assert [str(e.value) for e in at.exception] == []
    assert at.error, "the missing weights must be explained"
    assert heatmap(at)[0].startswith("Heatmap · "), "the previous model keeps the page useful"


# -- own models -------------------------------------------------------------------------------
def _tiny_model(tmp_path: Path, with_lambda: bool = False) -> Path:
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    if with_lambda:
        x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path / ("lambda.keras" if with_lambda else "tiny.keras")
    model.save(path)
    return path


def test_own_model_upload_explains_with_its_class_names(tmp_path):
    path = _tiny_model(tmp_path)
    at = new_app()
    at.run()
    at.selectbox(key="model").set_value("__user__").run()
    assert any("Upload a .keras" in i.value for i in at.info)
    upload_own_model(at, path, b"apple\nbanana\ncherry\n")
    at.run()
    assert problems(at) == []
    assert heatmap(at)[0].split(" · ")[1] in {"apple", "banana", "cherry"}
    assert at.selectbox(key="layer").value == "conv"


def test_own_model_with_code_is_refused_before_loading(tmp_path):
    path = _tiny_model(tmp_path, with_lambda=True)
    at = new_app()
    at.run()
    upload_own_model(at, path)
    at.run()
    assert [str(e.value) for e in at.exception] == []
    assert any("Lambda" in str(e.value) for e in at.error)
    assert heatmap(at)[0].startswith("Heatmap · "), "the zoo model keeps the page useful"


def test_own_model_class_names_of_the_wrong_length_are_refused(tmp_path):
    path = _tiny_model(tmp_path)
    at = new_app()
    at.run()
    upload_own_model(at, path, b"apple\nbanana\n")
    at.run()
    assert [str(e.value) for e in at.exception] == []
    assert at.error


def test_model_upload_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "0")
    at = new_app(model="__user__")
    at.run()
    assert "__user__" not in at.selectbox(key="model").options
    assert at.selectbox(key="model").value == "efficientnet-lite0"
    assert not [u for u in at.file_uploader if u.key == "user_model_file"]


def test_faithfulness_expander_ranks_methods_with_curves():
    at = new_app(sample="coffee.jpg")
    at.run()
    assert not problems(at)
    at.session_state["faithfulness_open"] = True  # the panel is drawn while open
    at.run()
    at.multiselect(key="faithfulness_methods").set_value(["gradcam", "layercam"]).run()
    at.button(key="faithfulness_go").click().run()
    assert not problems(at)
    table = at.dataframe[0].value
    assert set(table["method"]) == {"Grad-CAM", "LayerCAM", "random"}
    assert {"deletion_auc", "insertion_auc", "average_drop", "road_morf"} <= set(table.columns)
    # the real maps beat the random one on insertion for this photo (espresso)
    by_method = table.set_index("method")
    assert by_method.loc["Grad-CAM", "insertion_auc"] > by_method.loc["random", "insertion_auc"]
    assert len(at.get("vega_lite_chart")) == 2  # the deletion and insertion curves


def test_own_model_without_a_spatial_layer_gets_a_message_and_saliency_works(tmp_path):
    import keras

    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    path = tmp_path / "flat.keras"
    model.save(path)
    at = new_app()
    at.run()
    upload_own_model(at, path)
    at.run()
    assert [str(e.value) for e in at.exception] == []
    assert any("CAM methods cannot run" in str(e.value) for e in at.error)
    at.selectbox(key="method").set_value("saliency").run()
    assert problems(at) == []
    assert heatmap(at)[0].startswith("Heatmap · ")


def test_an_own_vision_transformer_is_explained_with_token_layers_and_occlusion(tmp_path):
    """The built-in-layers-only token model of tests/engine/test_token_models.py, uploaded: its token
    layers are offered as grids, Grad-CAM draws a map at the last one, the sidebar points at
    Occlusion, and Occlusion draws one too."""
    import keras

    from tests.helpers.toy_models import gap_token_model

    keras.utils.set_random_seed(6)
    path = tmp_path / "tokens.keras"
    gap_token_model().save(path)
    at = new_app()
    at.run()
    upload_own_model(at, path, names=b"a\nb\nc\n")
    at.run()
    assert problems(at) == []
    assert heatmap(at)[0].startswith("Heatmap · ")
    picker = at.selectbox(key="layer")
    assert picker.value == "final_norm" and "final_norm (tokens as 8x8)" in picker.options
    assert any("Check one against **Occlusion**" in c.value for c in at.sidebar.caption)
    at.selectbox(key="method").set_value("occlusion").run()
    assert problems(at) == [] and heatmap(at)[0].startswith("Heatmap · ")
    assert any(c.value.startswith("**Occlusion** for ") for c in at.caption)
    assert not any("Check one against **Occlusion**" in c.value for c in at.sidebar.caption)


# -- what a new user hit (issue 9) ------------------------------------------------------------
def _tied_model(tmp_path: Path) -> Path:
    """An untrained own model whose classes all get the same probability."""
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="logits", kernel_initializer="zeros", bias_initializer="zeros")(x)
    path = tmp_path / "untrained.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_tied_probabilities_highlight_the_class_the_heatmap_explains(tmp_path):
    path = _tied_model(tmp_path)
    at = new_app()
    at.run()
    upload_own_model(at, path, b"lemon\nfig\napple\n")
    at.run()
    assert problems(at) == []
    buttons = top_buttons(at)
    assert [b.label for b in buttons] == ["lemon · 33.3%", "fig · 33.3%", "apple · 33.3%"], "lowest index first"
    primary = [b.label.split(" · ")[0] for b in buttons if b.proto.type == "primary"]
    assert primary == ["lemon"]
    assert heatmap(at)[0] == "Heatmap · lemon", "one rule for ties: lowest index, as np.argmax"


def test_a_model_that_fails_to_load_is_not_left_selected(tmp_path):
    path = _tiny_model(tmp_path, with_lambda=True)
    at = new_app()
    at.run()
    upload_own_model(at, path)
    at.run()
    refusal = next(str(e.value) for e in at.error if "Lambda" in str(e.value))
    assert refusal.startswith("lambda.keras"), "the file is named as uploaded, not by a server temp path"
    assert "/tmp" not in refusal
    # the sidebar names the model whose results the page shows
    in_use = " ".join(str(w.value) for w in at.sidebar.warning)
    assert "In use meanwhile: **EfficientNet-Lite0**" in in_use


def test_browser_back_returns_to_the_previous_view(monkeypatch):
    import gradcam_app.router  # follow_link and history_navigation: the router's

    at = new_app(sample="coffee.jpg")
    at.run()
    first = dict(at.query_params)
    caption = heatmap(at)[0]
    at.selectbox(key="method").set_value("gradcam++").run()
    espresso = next(b for b in top_buttons(at) if not b.label.startswith("espresso"))
    espresso.click().run()
    assert dict(at.query_params) != first and heatmap(at)[0] != caption
    # A widget's rerun that still carries the old URL (the browser had not applied the new one)
    # changes nothing
    at.query_params.clear()
    at.query_params.update(first)
    at.run()
    assert at.selectbox(key="method").value == "gradcam++" and heatmap(at)[0] != caption
    # Back: the browser reruns the page with the previous URL, marked as history navigation
    monkeypatch.setattr(gradcam_app.router, "history_navigation", lambda: True)
    at.query_params.clear()
    at.query_params.update(first)
    at.run()
    assert problems(at) == []
    assert at.selectbox(key="method").value == "gradcam"
    assert heatmap(at)[0] == caption
    assert dict(at.query_params) == first, "following Back writes no new URL"


def test_shared_links_keep_the_display_settings():
    at = new_app(sample="coffee.jpg", colormap="viridis", alpha="0.8", top="20")
    at.run()
    assert problems(at) == []
    assert at.selectbox(key="colormap").value == "viridis"
    assert at.slider(key="alpha").value == pytest.approx(0.8)
    assert at.slider(key="top_percent").value == 20
    at.selectbox(key="colormap").set_value("magma").run()
    at.radio(key="view").set_value("classes").run()  # a full page run writes the link
    params = dict(at.query_params)
    assert params["colormap"] == "magma" and params["top"] == "20" and float(params["alpha"]) == 0.8


def test_top_percent_shows_the_original_photo_outside_the_kept_part():
    import numpy as np

    from gradcam_app.widgets import blend

    photo = np.full((20, 30, 3), 90, np.uint8)
    heat = np.zeros((20, 30), np.float32)
    heat[:, :15] = np.linspace(0.2, 1.0, 15)[None, :]
    shown = blend(photo, heat, "jet", 0.6, 0.25)
    hidden = heat < np.quantile(heat, 0.75)
    assert np.array_equal(shown[hidden], photo[hidden]), "the hidden part is the photo itself"
    assert not np.array_equal(shown[~hidden], photo[~hidden])


def test_compare_methods_reuses_class_independent_maps_and_chips_say_each_cost_once():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.radio(key="view").set_value("methods").run()
    chips = at.multiselect(key="compare_methods").options
    assert chips and not any("(1 forward" in chip for chip in chips)
    other = next(b for b in top_buttons(at) if not b.label.startswith("espresso"))
    other.click().run()
    assert problems(at) == []
    captions = overlay_panels(at)
    eigen = next(c for c in captions if "same map for every class" in c)
    assert "cached" in eigen, eigen  # Eigen-CAM does not depend on the class: not recomputed
    assert not any("0.00 s" in c for c in captions)


def test_faithfulness_table_reads_as_a_table():
    at = new_app(sample="coffee.jpg")
    at.run()
    at.session_state["faithfulness_open"] = True  # the panel is drawn while open
    at.run()
    at.multiselect(key="faithfulness_methods").set_value(["gradcam"]).run()
    at.button(key="faithfulness_go").click().run()
    config = at.dataframe[0].proto.columns
    for header in ("Deletion AUC", "Insertion AUC", "Average drop (%)", "Mean rank"):
        assert header in config, header


def test_probability_bars_show_the_top_classes_and_highlight_what_is_explained(monkeypatch):
    """The class probabilities are HTML bars (no chart library): ten top classes, the explained
    class(es) highlighted, a group's own bar first, each value written beside its bar."""
    from types import SimpleNamespace

    import numpy as np

    from gradcam_app import widgets

    names = [f"class {i}" for i in range(20)]
    probabilities = np.linspace(1.0, 2.0, 20, dtype=np.float32)[::-1]  # class 0 most probable
    probabilities /= probabilities.sum()
    one = SimpleNamespace(probabilities=probabilities, target_index=15, target_members=None)
    rows = widgets.probability_rows(names, one)
    assert [label for label, _, _ in rows[:10]] == [f"class {i} ({i})" for i in range(10)]
    assert rows[10] == ("class 15 (15)", float(probabilities[15]), "explained"), "a low class is added, highlighted"
    assert [kind for _, _, kind in rows[:10]] == ["other"] * 10

    group = SimpleNamespace(
        probabilities=probabilities,
        target_index=1,
        target_members=(1, 2),
        target_name="pair",
        target_probability=float(probabilities[1] + probabilities[2]),
    )
    rows = widgets.probability_rows(names, group)
    assert rows[0] == ("pair (group of 2)", pytest.approx(float(probabilities[1] + probabilities[2])), "group")
    assert [kind for _, _, kind in rows[1:4]] == ["other", "explained", "explained"]

    drawn = []
    monkeypatch.setattr(widgets.st, "html", drawn.append)
    widgets.probability_chart(SimpleNamespace(class_names=names), one)
    (markup,) = drawn
    assert markup.count('class="gc-track"') == 11
    assert f"width: {probabilities[0] * 100:.2f}%" in markup
    assert widgets.BAR_COLOURS["explained"] in markup and widgets.percent(float(probabilities[15])) in markup
