"""The trust block (gradcam.trust): the words for each threshold on hand-made figures, then the
block of real Lite0 maps (the top class and a near-zero one) and the HTML report carrying it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from gradcam import trust
from gradcam.metrics import Evaluation
from gradcam.report import html_report


def evaluation(scores: dict, baseline: dict | None = None, **details) -> Evaluation:
    base = Evaluation(baseline, {}, "random", None, 0, "x", 0.5) if baseline is not None else None
    return Evaluation(scores, {}, "gradcam", "layer", 0, "x", 0.5, base, details)


# -- the words, on figures made by hand --------------------------------------------------------
def test_near_zero_flag_threshold():
    assert trust.NEAR_ZERO_PROBABILITY == 0.01
    assert trust.near_zero(0.0099) and not trust.near_zero(0.01)
    assert trust.near_zero_flag("slot", 0.5) == ""
    flag = trust.near_zero_flag("slot", 0.000098)
    assert flag.startswith("slot is at p = 0.01%") and "cannot judge this map" in flag


@pytest.mark.parametrize(
    ("gap", "random_gap", "probability", "answer"),
    [
        (0.40, 0.05, 0.9, trust.YES),  # advantage 0.35 = 39% of p
        (0.10, 0.05, 0.9, trust.PARTLY),  # advantage 0.05 = 6% of p
        (0.05, 0.06, 0.9, trust.NO),  # worse than random
        (0.20, 0.0, 0.9, trust.YES),  # exactly 0.2 x 0.9 = 0.18 < 0.2
        (0.001, 0.0, 0.004, trust.CANNOT_TELL),  # near zero: the curves are flat
    ],
)
def test_faithful_line(gap, random_gap, probability, answer):
    line = trust.faithful_line(
        evaluation(
            {"deletion_auc": 0.1, "insertion_auc": 0.1 + gap},
            {"deletion_auc": 0.2, "insertion_auc": 0.2 + random_gap},
        ),
        probability,
        "espresso",
    )
    assert line.answer == answer
    assert line.value == pytest.approx(gap) and line.random_value == pytest.approx(random_gap)
    assert line.figure.startswith("insertion − deletion = ") and line.random_figure.startswith("random map: ")
    assert line.reading


def test_faithful_line_at_the_threshold():
    p = 0.5
    edge = trust.FAITHFUL_SHARE * p
    made = trust.faithful_line(
        evaluation({"deletion_auc": 0, "insertion_auc": edge}, {"deletion_auc": 0, "insertion_auc": 0}), p, "x"
    )
    below = trust.faithful_line(
        evaluation({"deletion_auc": 0, "insertion_auc": edge * 0.99}, {"deletion_auc": 0, "insertion_auc": 0}), p, "x"
    )
    assert made.answer == trust.YES and below.answer == trust.PARTLY


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        (0.0, trust.YES),
        (0.25, trust.YES),
        (0.26, trust.PARTLY),
        (0.5, trust.PARTLY),
        (0.51, trust.NO),
        (math.nan, trust.CANNOT_TELL),
    ],
)
def test_stable_line(value, answer):
    line = trust.stable_line(
        evaluation({"max_sensitivity": value}, {"max_sensitivity": 0.71}, max_sensitivity_samples=20), 0.2
    )
    assert line.answer == answer and line.random_figure == "random map: 0.71"
    if answer != trust.CANNOT_TELL:
        assert "±20% of the pixel range (20 noisy copies)" in line.reading


@pytest.mark.parametrize(
    ("gini", "answer"), [(0.9, trust.YES), (0.6, trust.YES), (0.5, trust.PARTLY), (0.44, trust.NO)]
)
def test_focused_line(gini, answer):
    line = trust.focused_line(evaluation({"sparseness": gini}, {"sparseness": 1 / 3}))
    assert line.answer == answer and line.random_figure == "random map: 0.33"
    # A map even over a share f of the image has Gini 1 - f: the reading gives that share.
    assert f"{1 - gini:.0%} of the image" in line.reading


# -- real maps ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reports(lite0):
    _, explainer = lite0
    image = np.asarray(Image.open("sample_images/coffee.jpg").convert("RGB"))
    top = explainer.explain(image)
    slot = explainer.explain(image, target="slot")
    seen = []
    top_report = trust.trust_report(explainer, image, top, sensitivity_samples=4, progress=lambda f, m: seen.append(f))
    slot_report = trust.trust_report(explainer, image, slot, sensitivity_samples=4)
    return image, top, slot, top_report, slot_report, seen


def test_the_block_of_the_top_class(reports):
    _, top, _, report, _, seen = reports
    assert not report.near_zero and report.flag == ""
    assert [line.question for line in report.lines] == ["faithful?", "about this class?", "stable?", "focused?"]
    assert report.line("about_class").answer == trust.YES and report.line("about_class").figure == "the top class"
    # Espresso's Grad-CAM map on this photo beats the random map's curves by far.
    assert report.line("faithful").answer == trust.YES
    assert report.line("faithful").value > report.line("faithful").random_value
    assert report.line("focused").random_value == pytest.approx(1 / 3, abs=0.01)
    assert report.line("stable").random_value > 0.6
    assert report.forward_images > 200 and report.explained_images == 5
    assert seen == sorted(seen) and seen[-1] == 1.0
    json.dumps(report.summary())  # JSON-ready


def test_a_near_zero_class_is_flagged_first(reports):
    _, _, slot, _, report, _ = reports
    assert slot.target_probability < 0.01
    assert report.near_zero and "near zero" in report.flag
    assert report.line("faithful").answer == trust.CANNOT_TELL
    assert report.line("about_class").value is not None  # its similarity to espresso's map
    assert report.line("about_class").random_figure.startswith("random classes: ")


def test_the_html_report_carries_the_block_and_the_flag(reports, lite0):
    model, _ = lite0
    image, top, slot, top_report, slot_report, _ = reports
    page = html_report([top, slot], image=image, model=model, image_name="coffee.jpg", trust=[top_report, slot_report])
    assert "<h2>Can this map be trusted?</h2>" in page
    # Each map's block asks every question, and the opening sentence answers them for the first map.
    assert "Can it be trusted? faithful?" in page
    for question in ("faithful?", "about this class?", "stable?", "focused?"):
        assert page.count(question) == 2 + 1
    assert "random map: " in page and "Near zero probability." in page
    # The flag comes before the pictures.
    assert page.index("Near zero probability.") < page.index("The image and what the model looked at")
    # Without a trust block, a near-zero class is still flagged.
    plain = html_report(slot, image=image, model=model, image_name="coffee.jpg")
    assert "Near zero probability." in plain and "faithful?" not in plain
