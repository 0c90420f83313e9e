"""Plain words for viewers (gradcam.words): percentages, layer glosses, the small-image rule, and
whole percentages that add up; numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gradcam.words import layer_glosses, percent, small_image_warning, whole_percents


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.33, "33.0%"),
        (1.0, "100.0%"),
        (0.001, "0.1%"),
        (0.0005, "0.05%"),
        (0.00099, "0.099%"),
        (0.000012, "0.0012%"),
        (1e-9, "< 0.0001%"),
        (0.0, "0%"),
        (float("nan"), "n/a"),
    ],
)
def test_percent_keeps_small_probabilities_apart(p, text):
    assert percent(p) == text


def test_layer_glosses_count_stages_by_grid_changes():
    grids = [("stem", (112, 112)), ("b1", (56, 56)), ("b2", (56, 56)), ("b3", (14, 14)), ("head", (7, 7))]
    assert layer_glosses(grids) == {
        "stem": "stage 1 of 4, 112×112",
        "b1": "stage 2 of 4, 56×56",
        "b2": "stage 2 of 4, 56×56",
        "b3": "stage 3 of 4, 14×14",
        "head": "stage 4 of 4, 7×7",
    }
    assert layer_glosses([]) == {}


def test_lite0_layers_have_glosses_from_the_traced_model(lite0):
    _, explainer = lite0
    glosses = explainer.layer_glosses
    assert set(glosses) == set(explainer.layers)
    assert glosses["head_activation"] == "stage 5 of 5, 7×7"
    assert glosses["block4c_bn"] == "stage 4 of 5, 14×14"
    assert glosses["stem_conv"] == "stage 1 of 5, 112×112"


def test_small_image_rule_needs_both_sides_a_quarter_of_the_input():
    assert "only 1×1 pixels" in small_image_warning((1, 1), (224, 224))
    assert "only 55×55 pixels" in small_image_warning((55, 55), (224, 224))
    assert small_image_warning((56, 55), (224, 224)) == ""  # one side is large enough
    assert small_image_warning((30, 400), (224, 224)) == ""
    assert small_image_warning((96, 64), (224, 224)) == ""


@pytest.mark.parametrize(
    ("shares", "expected"),
    [([1 / 3, 1 / 3, 1 / 3], [34, 33, 33]), ([0.5, 0.25, 0.25], [50, 25, 25]), ([0.146, 0.146, 0.708], [15, 14, 71])],
)
def test_whole_percents_add_up(shares, expected):
    assert whole_percents(shares) == expected
    assert sum(whole_percents(shares)) == 100


def test_concept_shares_add_up_with_the_unclaimed_part():
    from gradcam.concepts import Concepts

    maps = np.zeros((2, 4, 4), np.float32)
    maps[0, :, :2] = 1.0  # concept 1 strongest on the left half
    maps[1, :2, 2:] = 0.5  # concept 2 on the top right quarter; the bottom right quarter is nobody's
    concepts = Concepts(
        layer="x",
        maps=maps,
        coarse=maps,
        embeddings=np.ones((2, 3), np.float32),
        top_classes=(),
        logits=None,
        seconds=0.0,
        reconstruction_error=0.0,
        iterations=1,
        seed=0,
        model_input=np.zeros((4, 4, 3), np.uint8),
        probabilities=np.ones(3, np.float32) / 3,
    )
    shares, unclaimed = concepts.shares()
    assert shares.tolist() == [0.5, 0.25]
    assert unclaimed == 0.25
