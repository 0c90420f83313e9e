"""The meeting-room fixes in the app, with Streamlit's AppTest (no browser): the small-image warning,
the contrast's swap button, the view tabs kept with a bad upload, percentages that read as such,
layer names with a gloss, and concept shares that add up.

The offline EfficientNet-Lite0 is loaded once per test session (AppTest runs the script in this
process, so st.cache_resource keeps it between tests).
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.helpers.app import new_app, problems  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _upload_allowed(monkeypatch):
    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "1")


def png(size: tuple[int, int], colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(at: AppTest, name: str, data: bytes, kind: str = "image/png") -> AppTest:
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="uploads").set_value((name, data, kind)).run()
    return at


def main_elements(at: AppTest) -> list:
    """The main area's elements in page order (warnings, images, ...), flattened."""
    found = []

    def walk(node):
        for child in getattr(node, "children", {}).values():
            found.append(child)
            walk(child)

    walk(at.main)
    return found


def test_a_one_pixel_image_is_warned_about_before_its_map():
    at = upload(new_app().run(), "dot.png", png((1, 1)))
    assert [str(e.value) for e in at.exception] == []
    warnings = [w.value for w in at.warning if "only 1×1 pixels" in w.value]
    assert warnings, [w.value for w in at.warning]
    assert "224×224" in warnings[0] and "Upload a larger version" in warnings[0]
    order = main_elements(at)
    warning_at = next(i for i, e in enumerate(order) if "only 1×1 pixels" in str(getattr(e, "value", "")))
    heatmap_at = next(
        i
        for i, e in enumerate(order)
        if any(img.caption.startswith("Heatmap · ") for img in getattr(getattr(e, "proto", None), "imgs", ()))
    )
    assert warning_at < heatmap_at, "the warning must come before the map"


def test_an_image_of_ordinary_size_gets_no_warning():
    at = upload(new_app().run(), "ok.png", png((96, 64)))
    assert not [w.value for w in at.warning if "pixels: the model looks at" in w.value]


def test_swap_button_puts_the_second_class_first():
    at = new_app(view="classes").run()
    assert problems(at) == []
    at.button(key="preset_Dog or cat?").click().run()
    assert at.multiselect(key="compare_classes").value[:2] == ["group:dog", "group:domestic cat"]
    swap = at.button(key="compare_swap")
    assert swap.label == "Swap: why domestic cat rather than dog"
    swap.click().run()
    assert problems(at) == []
    assert at.multiselect(key="compare_classes").value[:2] == ["group:domestic cat", "group:dog"]
    titles = [m.value for m in at.markdown if m.value.startswith("**Why ")]
    assert titles == ["**Why domestic cat rather than dog**"]
    assert at.query_params["classes"].startswith("group:domestic cat,group:dog")


def test_a_bad_upload_keeps_the_view_tabs():
    at = new_app().run()
    at.radio(key="view").set_value("classes").run()
    upload(at, "broken.png", b"not an image at all", "image/png")
    assert at.error, "the bad file is explained"
    assert at.radio(key="view").value == "classes", "the view tabs stay, on the chosen view"


def test_probabilities_read_as_percentages_with_digits_for_small_ones():
    at = new_app(view="classes", classes="285,800").run()
    labels = at.multiselect(key="compare_classes").options
    # every option ends in a percentage; the small ones keep two significant digits, never "0.0%"
    assert all(re.search(r"(\d[\d.]*%|< 0\.0001%)$", label) for label in labels[:50]), labels[:5]
    assert not any(label.endswith(" 0.0%") for label in labels)


def test_layer_picker_glosses_each_layer():
    at = new_app().run()
    layer = at.selectbox(key="layer")
    assert layer.value == "head_activation"
    labels = layer.options
    assert "head_activation · stage 5 of 5, 7×7" in labels
    assert any(label.startswith("block4c_bn · stage 4 of 5, 14×14") for label in labels)


def test_concept_shares_add_up_to_the_whole_picture():
    at = new_app(view="concepts").run()
    assert problems(at) == []
    shares = [
        int(m.group(1))
        for e in at.get("image")
        for img in e.proto.imgs
        if (m := re.search(r"Concept \d+ · (\d+)% of the picture", img.caption))
    ]
    rest = [int(m.group(1)) for c in at.caption if (m := re.match(r"(\d+)% of the picture belongs", c.value))]
    assert len(shares) == 4
    assert sum(shares) + sum(rest) == 100
    assert any(c.value.startswith("Reconstruction error ") for c in at.caption)


def step_title(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**") and " / " in m.value[:12])


def test_presentation_mode_steps_through_the_prepared_sequence():
    at = new_app(present="1").run()
    assert problems(at) == []
    assert step_title(at) == "**1 / 4 · The photo**"
    captions = [img.caption for e in at.main.get("image") for img in e.proto.imgs]
    assert captions == ["cat_and_coffee.jpg · 640×320 pixels"], "the photo step shows the photo alone"
    assert at.query_params["present"] == "1" and at.query_params["step"] == "1"
    at.button(key="gc_next").click().run()
    assert step_title(at) == "**2 / 4 · Top class**"
    assert any(
        c.startswith("Heatmap · Egyptian cat") for c in (img.caption for e in at.get("image") for img in e.proto.imgs)
    )
    at.button(key="gc_next").click().run()
    assert step_title(at).startswith("**3 / 4 · Class: ")
    low = at.query_params["class"]
    assert low and low != "top"
    at.button(key="gc_next").click().run()
    assert step_title(at) == "**4 / 4 · Compare classes: Egyptian cat, tiger cat**"
    assert at.radio(key="view").value == "classes"
    assert at.button(key="gc_next").disabled
    at.button(key="gc_prev").click().run()
    assert step_title(at).startswith("**3 / 4 · Class: ")
    assert at.query_params["step"] == "3"
    # the whole sequence travels in the link: a new page opened on it shows the same step
    again = new_app(**{key: at.query_params[key] for key in at.query_params}).run()
    assert step_title(again) == step_title(at)
    assert again.query_params["class"] == low


def test_a_sequence_is_built_from_views_and_exit_leaves_presentation_mode():
    at = new_app().run()
    at.button(key="gc_add_photo").click().run()
    at.radio(key="view").set_value("methods").run()
    at.button(key="gc_add_step").click().run()
    assert any("The photo → Compare methods" in c.value for c in at.sidebar.caption)
    at.toggle(key="present").set_value(True).run()
    assert step_title(at) == "**1 / 2 · The photo**"
    at.button(key="gc_next").click().run()
    assert step_title(at) == "**2 / 2 · Compare methods**"
    at.button(key="gc_exit").click().run()
    assert "present" not in at.query_params and at.toggle(key="present").value is False
    assert at.radio(key="view").value == "methods"


@pytest.fixture()
def photo_store(tmp_path, monkeypatch):
    """A photo store folder of this test's own (what a replica sharing the store would be given)."""
    folder = tmp_path / "photos"
    monkeypatch.setenv("GRADCAM_PHOTO_STORE_DIR", str(folder))
    return folder


def test_a_link_on_an_uploaded_photo_reopens_it_in_a_new_session(photo_store):
    at = upload(new_app().run(), "red.png", png((96, 64)))
    sha = at.query_params["photo"]
    assert len(sha) == 64 and "sample" not in at.query_params
    again = new_app(**{key: at.query_params[key] for key in at.query_params}).run()
    assert problems(again) == []
    assert again.radio(key="source").value == "Photo"
    captions = [img.caption for e in again.get("image") for img in e.proto.imgs]
    assert "Original · 96×64" in captions, captions
    assert again.query_params["photo"] == sha


def test_an_unknown_photo_id_says_so_and_shows_no_other_image(photo_store):
    at = new_app(photo="0" * 64, view="explain").run()
    assert [str(e.value) for e in at.exception] == []
    assert any("no longer on the server" in str(e.value) and "upload it again" in str(e.value) for e in at.error)
    assert not [img for e in at.get("image") for img in e.proto.imgs if img.caption.startswith("Heatmap")]
    assert at.radio(key="view").value == "explain"


@pytest.fixture()
def media(monkeypatch):
    """The media manager of each AppTest run (the last one), to build deferred downloads as a
    browser's click would."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.media_file_manager import MediaFileManager

    made = []

    class Recording(MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Recording)
    return made


def report_html(at: AppTest, media: list) -> str:
    """The page's one "Report" download, built as a click would build it."""
    buttons = [b for b in at.get("download_button") if b.proto.label == "Report"]
    assert len(buttons) == 1, [b.proto.label for b in at.get("download_button")]
    proto = buttons[0].proto
    if proto.HasField("deferred_file_id"):
        entry = media[-1]._deferred_callables[proto.deferred_file_id]
        data = entry["callable"]()
    else:
        data = media[-1]._storage.get_file(proto.url.rsplit("/", 1)[-1]).content
    return data.decode("utf-8") if isinstance(data, bytes) else data


@pytest.mark.parametrize(
    ("query", "heading"),
    [
        ({}, "Grad-CAM Explorer report"),
        ({"view": "classes", "classes": "285,800"}, "Compare classes"),
        ({"view": "methods", "methods": "gradcam,gradcam++"}, "Compare methods"),
        ({"view": "layers"}, "Compare layers"),
        ({"view": "models", "models": "efficientnet-lite0,efficientnet-lite1"}, "Compare models"),
    ],
)
def test_every_view_has_one_report_that_opens_with_a_summary(media, query, heading):
    at = new_app(**query).run()
    assert problems(at) == []
    page = report_html(at, media)
    assert f"<h1>{heading}" in page
    assert 'class="summary"' in page and " predicts " in page
    assert "<details><summary>Appendix: provenance" in page
