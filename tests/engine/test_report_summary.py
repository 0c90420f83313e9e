"""The HTML report reads as a summary: it opens with plain sentences (prediction, where the map
lies, whether it can be trusted), adds a caveat for a class near zero, gives the faithfulness figures
when they were computed, and folds the provenance into a collapsed appendix. Real Lite0 maps of a
shipped sample."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from gradcam.images import decode_image
from gradcam.report import html_report

ROOT = Path(__file__).resolve().parents[2]


class Structure(HTMLParser):
    """Paragraph classes in order, and whether a <table> sits inside a <details> (collapsed: no
    ``open`` attribute)."""

    def __init__(self):
        super().__init__()
        self.paragraphs: list[tuple[str, str]] = []
        self.details_open: list[bool] = []
        self.table_in_details = False
        self._p: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "details":
            self.details_open.append("open" in attrs)
        if tag == "table" and self.details_open:
            self.table_in_details = True
        if tag == "p":
            self._p, self._text = attrs.get("class") or "", []

    def handle_endtag(self, tag):
        if tag == "p" and self._p is not None:
            self.paragraphs.append((self._p, "".join(self._text)))
            self._p = None

    def handle_data(self, data):
        if self._p is not None:
            self._text.append(data)


@pytest.fixture(scope="module")
def photo():
    return decode_image((ROOT / "sample_images" / "cat_and_coffee.jpg").read_bytes()).pixels


def parse(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    return parser


def test_the_report_opens_with_a_summary_and_folds_the_provenance_away(lite0, photo):
    model, explainer = lite0
    e = explainer.explain(photo, None)
    page = html_report(e, image=photo, model=model, image_name="cat_and_coffee.jpg")
    doc = parse(page)
    kinds = [kind for kind, _ in doc.paragraphs]
    assert kinds[0] == "summary", kinds
    summary = doc.paragraphs[0][1]
    assert re.match(
        r"EfficientNet-Lite0 predicts Egyptian cat \(\d+\.\d%\)\. The Grad-CAM map of its evidence", summary
    )
    assert "half of it sits in" in summary and "was not checked" in summary
    assert "caveat" not in kinds, "the top class needs no caveat"
    assert doc.details_open == [False], "one appendix, collapsed"
    assert doc.table_in_details
    assert page.index("<details") > page.index("<h2>Classes</h2>"), "the provenance comes last"


def test_a_class_near_zero_gets_a_caveat_in_the_report(lite0, photo):
    model, explainer = lite0
    probabilities = explainer.explain(photo, None).probabilities
    low = int(np.argsort(probabilities)[10])  # far below 0.5%
    e = explainer.explain(photo, low)
    assert e.target_probability < 0.005
    doc = parse(html_report(e, image=photo, model=model, image_name="cat_and_coffee.jpg"))
    caveats = [text for kind, text in doc.paragraphs if kind == "caveat"]
    assert len(caveats) == 1
    assert caveats[0].startswith(f"Caveat: the model gives {e.target_name} only ")
    assert "as strong as the top class's" in caveats[0]
    assert "0.0%" not in caveats[0], "a small probability keeps its digits"


def test_computed_faithfulness_figures_say_whether_the_map_can_be_trusted(lite0, photo):
    import gradcam

    model, explainer = lite0
    e = explainer.explain(photo, None)
    evaluation = gradcam.evaluate(explainer, photo, e, steps=10, road_fractions=(0.5,))
    page = html_report(e, image=photo, model=model, image_name="cat_and_coffee.jpg", evaluations=[evaluation])
    summary = parse(page).paragraphs[0][1]
    assert re.search(r"beats a random map on \d+ of \d+ faithfulness scores", summary), summary
    assert "<h2>How faithful is the map?</h2>" in page
    assert "a random map</th>" in page


def test_the_same_report_as_a_pdf(lite0, photo):
    try:
        import weasyprint  # noqa: F401
    except (ImportError, OSError) as error:
        pytest.skip(f"WeasyPrint or the system's Pango is missing ({error}): pip install '.[pdf]'")
    from gradcam.report import pdf_report

    model, explainer = lite0
    e = explainer.explain(photo, None)
    pdf = pdf_report(html_report(e, image=photo, model=model, image_name="cat_and_coffee.jpg"))
    assert pdf.startswith(b"%PDF-") and len(pdf) > 20_000  # the three pictures are inside
