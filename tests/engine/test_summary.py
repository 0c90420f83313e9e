"""The report's plain sentences (gradcam.summary): where a map's evidence lies and how concentrated,
the near-zero caveat, and the trust sentence from faithfulness figures; worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from gradcam.summary import evidence_share, faithfulness_sentence, map_place, near_zero_caveat, summary_sentences


def test_evidence_share_and_place_on_a_hand_made_map():
    heat = np.zeros((6, 6), np.float32)
    heat[:2, :2] = 1.0  # all the evidence in the upper left ninth
    assert evidence_share(heat) == 2 / 36  # half of 4 equal cells: 2 of 36
    assert map_place(heat) == "the upper left"
    heat = np.zeros((6, 6), np.float32)
    heat[2:4, 2:4] = 1.0
    assert map_place(heat) == "the centre"
    assert evidence_share(np.ones((4, 4))) == 0.5
    assert evidence_share(np.zeros((4, 4))) == 0.0


def explanation(target_index=0, probability=0.6, name="tabby", probabilities=(0.6, 0.3, 0.1), **extra):
    heat = np.zeros((6, 6), np.float32)
    heat[:, 4:] = 1.0
    return SimpleNamespace(
        probabilities=np.array(probabilities),
        top=((0, "tabby", 0.6), (1, "tiger cat", 0.3)),
        heatmap=heat,
        target_name=name,
        target_index=target_index,
        target_probability=probability,
        target_members=None,
        contrast_name=extra.get("contrast_name"),
        empty=False,
    )


def test_summary_says_prediction_place_and_that_trust_was_not_checked():
    first, second = summary_sentences(explanation(), model_label="Lite0", method_label="Grad-CAM")
    assert first == (
        "Lite0 predicts tabby (60.0%). The Grad-CAM map of its evidence for tabby lies mostly in the right of the "
        "picture: half of it sits in 17% of the picture."
    )
    assert second.startswith("Whether the map can be trusted was not checked")


def test_a_class_near_zero_gets_the_caveat():
    sentences = summary_sentences(
        explanation(target_index=2, probability=0.0004, name="slot"), model_label="Lite0", method_label="Grad-CAM"
    )
    assert "its evidence for slot (0.04%)" in sentences[0]
    assert sentences[-1] == near_zero_caveat("slot", 0.0004)
    assert "only 0.04%" in sentences[-1] and "as strong as the top class's" in sentences[-1]
    assert near_zero_caveat("tabby", 0.2) == ""


def test_faithfulness_figures_against_the_random_map_make_the_trust_sentence():
    baseline = SimpleNamespace(scores={"deletion": 0.30, "insertion": 0.20})
    good = SimpleNamespace(
        scores={"deletion": 0.10, "insertion": 0.50},
        baseline=baseline,
        beats_baseline=lambda: {"deletion": True, "insertion": True},
    )
    text = faithfulness_sentence(good)
    assert text.startswith("It can be trusted as far as these checks go: it beats a random map on 2 of 2")
    assert "deletion 0.10 against 0.30 (lower is better)" in text
    bad = SimpleNamespace(
        scores=good.scores, baseline=baseline, beats_baseline=lambda: {"a": False, "b": False, "c": True}
    )
    assert faithfulness_sentence(bad).startswith("It should not be trusted")
    sentences = summary_sentences(explanation(), model_label="Lite0", method_label="Grad-CAM", evaluation=good)
    assert sentences[1] == text


def test_a_class_sensitivity_verdict_joins_the_trust_sentence():
    record = {
        "verdict": "same as top",
        "similarity_to_top": 0.91,
        "top_name": "tabby",
        "target": "slot",
        "reading": "its map is the top class's map again.",
    }
    sentences = summary_sentences(
        explanation(target_index=2, probability=0.0004, name="slot"),
        model_label="Lite0",
        method_label="Grad-CAM",
        sensitivity=record,
    )
    assert (
        sentences[1]
        == "Is it about slot? Same as top (similarity to tabby's map 0.91): its map is the top class's map again."
    )
    top = dict(record, verdict="top class")
    assert summary_sentences(explanation(), model_label="L", method_label="G", sensitivity=top)[1].startswith("Whether")
