"""gradcam.export: the bytes people download and the links they share."""

from __future__ import annotations

import io
import json
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from gradcam import export
from gradcam.explanation import Explanation


def _explanation() -> Explanation:
    probabilities = np.array([0.7, 0.2, 0.1], np.float32)
    return Explanation(
        heatmap=np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4),
        coarse=np.ones((2, 2), np.float32),
        peak=2.5,
        probabilities=probabilities,
        target_index=1,
        target_name="banana",
        target_probability=0.2,
        method="gradcam",
        layer="conv",
        seconds=0.01,
        model_input=np.zeros((4, 4, 3), np.uint8),
        top=((0, "apple", 0.7), (1, "banana", 0.2), (2, "cherry", 0.1)),
    )


def test_png_npy_zip_round_trip():
    image = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    with Image.open(io.BytesIO(export.png_bytes(image))) as decoded:
        assert decoded.format == "PNG" and np.array_equal(np.asarray(decoded), image)
    heat = np.random.default_rng(1).random((5, 7)).astype(np.float32)
    assert np.array_equal(np.load(io.BytesIO(export.npy_bytes(heat)), allow_pickle=False), heat)
    archive = zipfile.ZipFile(io.BytesIO(export.zip_bytes({"a.txt": b"1", "b/c.bin": b"22"})))
    assert archive.namelist() == ["a.txt", "b/c.bin"] and archive.read("b/c.bin") == b"22"
    with pytest.raises(ValueError):
        export.zip_bytes([("x", b""), ("x", b"")])
    with pytest.raises(ValueError):
        export.png_bytes(heat)


def test_jpeg_and_data_uri_for_pictures_on_a_page():
    """One JPEG encoder and one data-URI builder serve the page, its colour bar and the HTML report."""
    import base64

    image = np.full((6, 9, 3), (200, 40, 10), np.uint8)
    data = export.jpeg_bytes(image, quality=95)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "JPEG" and decoded.size == (9, 6)
        assert np.abs(np.asarray(decoded).astype(int) - image).max() <= 8  # lossy, but close
    uri = export.data_uri(data, "image/jpeg")
    assert uri.startswith("data:image/jpeg;base64,") and base64.b64decode(uri.split(",", 1)[1]) == data
    with pytest.raises(export.ExportError, match="gradcam.colorize"):
        export.jpeg_bytes(np.zeros((6, 9), np.float32))


def test_provenance_record_has_what_reproduces_the_map():
    model = SimpleNamespace(
        name="tiny",
        label="Tiny",
        weights_sha256="ab" * 32,
        input_size=(4, 4),
        preprocessing="tf",
        class_names=["apple", "banana", "cherry"],
    )
    record = export.provenance(
        _explanation(),
        model=model,
        image_name="fruit.png",
        image_sha256="cd" * 32,
        image_size=(7, 5),
        method_label="Grad-CAM",
        method_paper="Selvaraju et al.",
        options={"aug_smooth": False},
        display={"colormap": "jet"},
    )
    data = json.loads(export.json_bytes(record))
    assert data["model"]["weights_sha256"] == "ab" * 32 and data["model"]["classes"] == 3
    assert data["image"] == {"name": "fruit.png", "sha256": "cd" * 32, "size_wh": [7, 5]}
    assert data["explanation"]["target_name"] == "banana" and data["explanation"]["layer"] == "conv"
    assert data["explanation"]["method_label"] == "Grad-CAM" and data["explanation"]["heatmap_shape"] == [3, 4]
    assert [p["name"] for p in data["probabilities_top"]] == ["apple", "banana", "cherry"]
    assert data["versions"]["numpy"] == np.__version__ and data["versions"]["python"]
    assert data["display"] == {"colormap": "jet"}


def test_views_from_links_are_checked_and_written_back_in_order():
    from gradcam_app import links  # parse_view and view_params moved from gradcam.export with the links

    view, problems = links.parse_view(
        {"model": "EfficientNet-Lite0", "class": ["x", "tea cup"], "method": "nope", "layer": " conv ", "extra": "1"},
        models=["efficientnet-lite0"],
        methods=["gradcam"],
    )
    assert view == {"model": "efficientnet-lite0", "class": "tea cup", "layer": "conv"}
    assert len(problems) == 1 and "method='nope'" in problems[0]
    assert list(links.view_params({"layer": "conv", "model": "m", "class": None, "view": ""})) == ["model", "layer"]


@pytest.mark.parametrize(
    "name, stem", [("../../etc/passwd", "passwd"), ("my photo.JPG", "my_photo"), ("", "image"), ("C:\\x\\y.png", "y")]
)
def test_safe_stem(name, stem):
    assert export.safe_stem(name) == stem


def _model():
    return SimpleNamespace(
        name="tiny",
        label="Tiny",
        weights_sha256="ab" * 32,
        input_size=(4, 4),
        preprocessing="tf",
        class_names=["apple", "banana", "cherry"],
    )


def _photo_explanation(height=30, width=40) -> tuple[np.ndarray, Explanation]:
    image = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    heat = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    base = _explanation()
    return image, Explanation(
        heatmap=heat,
        coarse=base.coarse,
        peak=base.peak,
        probabilities=base.probabilities,
        target_index=1,
        target_name="banana",
        target_probability=0.2,
        method="gradcam",
        layer="conv",
        seconds=0.01,
        model_input=base.model_input,
        top=base.top,
    )


def _bundle(display=None, image_name="my fruit.png"):
    image, explanation = _photo_explanation()
    return export.export_bundle(
        explanation,
        image=image,
        image_name=image_name,
        image_sha256="cd" * 32,
        model=_model(),
        display=display,
        method_label="Grad-CAM",
        method_paper="Selvaraju et al.",
        options={"aug_smooth": False},
        link="http://localhost:8501/?class=banana",
    )


def test_bundle_builds_nothing_until_asked_and_each_file_once():
    from gradcam import render

    bundle = _bundle({"colormap": "turbo", "alpha": 0.4, "top_fraction": 0.5})
    assert bundle.built() == []  # offering the buttons costs nothing
    png = bundle.png()
    assert bundle.built() == ["overlay", "png"] and bundle.png() is png
    with Image.open(io.BytesIO(png)) as decoded:
        expected = render.overlay(bundle.image, bundle.explanation.heatmap, "turbo", 0.4, keep=0.5)
        assert np.array_equal(np.asarray(decoded), expected)  # the overlay as shown, full size
    heat = np.load(io.BytesIO(bundle.heatmap_npy()), allow_pickle=False)
    assert np.array_equal(heat, bundle.explanation.heatmap)
    record = json.loads(bundle.provenance_json())
    assert record["schema"] == export.PROVENANCE_SCHEMA and record["link"].endswith("class=banana")
    assert record["display"] == {"colormap": "turbo", "alpha": 0.4, "top_fraction": 0.5}
    assert record["image"]["size_wh"] == [40, 30]


def test_bundle_names_and_zip():
    bundle = _bundle()
    assert bundle.filename("png") == "my_fruit_banana_gradcam_overlay.png"
    assert [bundle.filename(k) for k in ("npy", "json", "html", "zip")] == [
        "my_fruit_banana_gradcam_heatmap.npy",
        "my_fruit_banana_gradcam.json",
        "my_fruit_banana_gradcam_report.html",
        "my_fruit_banana_gradcam.zip",
    ]
    assert bundle.mime("html") == "text/html"
    archive = zipfile.ZipFile(io.BytesIO(bundle.zip()))
    assert archive.namelist() == [bundle.filename(k) for k in ("png", "npy", "json", "html")]
    assert archive.read(bundle.filename("json")) == bundle.provenance_json()
    assert archive.read(bundle.filename("html")).startswith(b"<!DOCTYPE html>")
    with pytest.raises(export.ExportError, match="Unknown export kind 'gif'"):
        bundle.filename("gif")


def test_bundle_reads_display_from_a_view():
    from gradcam_app.links import View

    bundle = _bundle(View(colormap="gray", alpha=0.2, top_percent=40))
    assert bundle.display == {"colormap": "gray", "alpha": 0.2, "top_fraction": 0.4}


def test_gallery_zip_numbers_images_and_keeps_failures():
    good = _bundle(image_name="a.jpg")
    archive = zipfile.ZipFile(io.BytesIO(export.gallery_zip([good, export.GalleryFailure("b.png", "broken"), good])))
    assert archive.namelist() == [
        "01_a_overlay.png",
        "01_a_heatmap.npy",
        "01_a.json",
        "02_b_ERROR.txt",
        "03_a_overlay.png",
        "03_a_heatmap.npy",
        "03_a.json",
        "index.json",
    ]
    assert archive.read("02_b_ERROR.txt") == b"broken\n"
    assert archive.read("01_a.json") == good.provenance_json()  # one schema: the single download's
    index = json.loads(archive.read("index.json"))
    assert index["schema"] == export.PROVENANCE_SCHEMA and [e["number"] for e in index["images"]] == [1, 2, 3]
    assert index["images"][1] == {"number": 2, "image": "b.png", "error": "broken"}


def test_export_errors_are_gradcam_errors():
    from gradcam.errors import ExportError, GradCamError

    with pytest.raises(ExportError, match="uint8 image"):
        export.png_bytes(np.zeros((2, 2), np.float32))
    with pytest.raises(ExportError, match="Duplicate name 'x'"):
        export.zip_bytes([("x", b""), ("x", b"")])
    image, explanation = _photo_explanation()
    with pytest.raises(ExportError, match="uint8 RGB image"):
        export.export_bundle(
            explanation, image=image.astype(np.float32), image_name="a", image_sha256="", model=_model()
        )
    assert issubclass(ExportError, GradCamError) and issubclass(ExportError, ValueError)


def test_top_order_breaks_ties_like_argmax():
    probabilities = np.array([0.1, 0.3, 0.3, 0.3])
    assert export.top_order(probabilities) == [1, 2, 3, 0]
    assert export.top_order(probabilities, 1) == [int(np.argmax(probabilities))]


def test_large_png_is_lossless_and_fast_coded():
    rng = np.random.default_rng(5)
    image = np.repeat(rng.integers(0, 255, (1500, 1, 3), dtype=np.uint8), 1400, axis=1)  # 2.1 MP
    assert image.shape[0] * image.shape[1] > export.FAST_PNG_PIXELS
    data = export.png_bytes(image)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "PNG" and decoded.mode == "RGB" and np.array_equal(np.asarray(decoded), image)
    gray = image[..., 0]
    with Image.open(io.BytesIO(export.png_bytes(gray))) as decoded:
        assert np.array_equal(np.asarray(decoded), gray)
