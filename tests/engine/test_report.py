"""gradcam.report: the self-contained HTML page for people who will not open the app."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from gradcam.explanation import Contrast, Explanation  # noqa: F401 - Contrast documents the second case
from gradcam.report import html_report

NAMES = ["apple", "banana", "Egyptian <Mau> & co"]


def _model():
    return SimpleNamespace(
        name="tiny",
        label="Tiny Net",
        weights_sha256="ab" * 32,
        input_size=(4, 4),
        preprocessing="tf",
        class_names=NAMES,
    )


def _explanation(height, width, target=2, contrast=None) -> Explanation:
    heat = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    return Explanation(
        heatmap=heat,
        coarse=np.ones((2, 2), np.float32),
        peak=1.0,
        probabilities=np.array([0.15, 0.25, 0.6], np.float32),
        target_index=target,
        target_name=NAMES[target],
        target_probability=[0.15, 0.25, 0.6][target],
        method="gradcam",
        layer="conv",
        seconds=0.01,
        model_input=np.zeros((4, 4, 3), np.uint8),
        top=((2, NAMES[2], 0.6), (1, NAMES[1], 0.25), (0, NAMES[0], 0.15)),
        contrast_index=contrast,
        contrast_name=NAMES[contrast] if contrast is not None else None,
    )


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.text, self.open = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag not in ("meta", "img", "br", "link"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (tag, self.open[-5:])
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.open == [], "unclosed tags"
    return parser


def _decode(uri: str) -> np.ndarray:
    head, data = uri.split(",", 1)
    assert head == "data:image/jpeg;base64"
    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def big_page():
    image = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
    return html_report(
        _explanation(3000, 4000),
        image=image,
        model=_model(),
        image_name="phone photo.jpg",
        image_sha256="cd" * 32,
        display={"colormap": "turbo", "alpha": 0.5, "top_fraction": 0.3},
    )


def test_report_is_valid_self_contained_html_with_the_pictures(big_page):
    page = _parse(big_page)
    assert page.tags[0] == "html" and "head" in page.tags and "body" in page.tags
    assert len(page.images) == 3  # original, heatmap, overlay
    for uri in page.images:
        pixels = _decode(uri)
        assert max(pixels.shape[:2]) <= 1024 and pixels.shape[:2] == (768, 1024)
    assert not re.search(r"https?://", big_page), "a report must not load anything from the network"
    assert "<script" not in big_page
    assert len(big_page) < 2_000_000  # a 12-megapixel photo still gives a page small enough to mail


def test_report_names_the_class_probabilities_model_and_provenance(big_page):
    text = " ".join(_parse(big_page).text)
    assert "Egyptian <Mau> & co" in text and "&lt;Mau&gt;" in big_page  # escaped in the source
    assert "60.00%" in text and "25.00%" in text
    assert "Tiny Net" in text and "phone photo.jpg" in text and "conv" in text
    assert "ab" * 32 in text and "cd" * 32 in text  # weights and image digests in the provenance table
    assert "display.colormap" in text and "turbo" in text


def test_report_of_several_maps_shows_each():
    image = np.full((40, 50, 3), 128, np.uint8)
    maps = [_explanation(40, 50, 2), _explanation(40, 50, 2, contrast=1)]
    html = html_report(maps, image=image, model=_model(), image_name="x.png", image_sha256="00")
    page = _parse(html)
    assert len(page.images) == 1 + 2 * len(maps)
    assert "rather than banana" in " ".join(page.text)
