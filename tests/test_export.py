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
        heatmap=np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), coarse=np.ones((2, 2), np.float32),
        peak=2.5, probabilities=probabilities, target_index=1, target_name="banana", target_probability=0.2,
        method="gradcam", layer="conv", seconds=0.01, model_input=np.zeros((4, 4, 3), np.uint8),
        top=((0, "apple", 0.7), (1, "banana", 0.2), (2, "cherry", 0.1)))


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


def test_provenance_record_has_what_reproduces_the_map():
    model = SimpleNamespace(name="tiny", label="Tiny", weights_sha256="ab" * 32, input_size=(4, 4),
                            preprocessing="tf", class_names=["apple", "banana", "cherry"])
    record = export.provenance(_explanation(), model=model, image_name="fruit.png", image_sha256="cd" * 32,
                               image_size=(7, 5), method_label="Grad-CAM", method_paper="Selvaraju et al.",
                               options={"aug_smooth": False}, display={"colormap": "jet"})
    data = json.loads(export.json_bytes(record))
    assert data["model"]["weights_sha256"] == "ab" * 32 and data["model"]["classes"] == 3
    assert data["image"] == {"name": "fruit.png", "sha256": "cd" * 32, "size_wh": [7, 5]}
    assert data["explanation"]["target_name"] == "banana" and data["explanation"]["layer"] == "conv"
    assert data["explanation"]["method_label"] == "Grad-CAM" and data["explanation"]["heatmap_shape"] == [3, 4]
    assert [p["name"] for p in data["probabilities_top"]] == ["apple", "banana", "cherry"]
    assert data["versions"]["numpy"] == np.__version__ and data["versions"]["python"]
    assert data["display"] == {"colormap": "jet"}


def test_views_from_links_are_checked_and_written_back_in_order():
    view, problems = export.parse_view(
        {"model": "EfficientNet-Lite0", "class": ["x", "tea cup"], "method": "nope", "layer": " conv ", "extra": "1"},
        models=["efficientnet-lite0"], methods=["gradcam"])
    assert view == {"model": "efficientnet-lite0", "class": "tea cup", "layer": "conv"}
    assert len(problems) == 1 and "method='nope'" in problems[0]
    assert list(export.view_params({"layer": "conv", "model": "m", "class": None, "view": ""})) == ["model", "layer"]


@pytest.mark.parametrize("name, stem", [("../../etc/passwd", "passwd"), ("my photo.JPG", "my_photo"),
                                        ("", "image"), ("C:\\x\\y.png", "y")])
def test_safe_stem(name, stem):
    assert export.safe_stem(name) == stem
