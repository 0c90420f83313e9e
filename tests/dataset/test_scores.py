"""The output scores of every run (issue 21, item 1): entropy, margin, label probability and
FiftyOne's mistakenness, checked on numbers worked out by hand, then on a real run against the
model's own probabilities recomputed here."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from gradcam.dataset import RowFilter, build_report, filter_rows
from gradcam.dataset.scores import SCORE_COLUMNS, output_scores
from gradcam.images import decode_image


def test_scores_by_hand():
    # p = (0.5, 0.3, 0.2): H = -(0.5 ln 0.5 + 0.3 ln 0.3 + 0.2 ln 0.2) = 1.0296530 nats.
    scores = output_scores(np.array([0.5, 0.3, 0.2], np.float32), predicted_index=0, label_index=1)
    assert scores["entropy"] == pytest.approx(1.0296530, abs=1e-6)
    assert scores["margin"] == pytest.approx(0.2, abs=1e-7)
    assert scores["label_probability"] == pytest.approx(0.3, abs=1e-7)
    # The prediction (0) contradicts the label (1): m = +1, (exp(-1.0296530) + 1) / 2 = 0.6785654.
    assert scores["mistakenness"] == pytest.approx(0.6785654, abs=1e-6)
    agreeing = output_scores(np.array([0.5, 0.3, 0.2]), predicted_index=0, label_index=0)
    assert agreeing["mistakenness"] == pytest.approx(0.3214346, abs=1e-6)  # m = -1: (1 - 0.3571309) / 2
    assert agreeing["label_probability"] == 0.5


def test_certain_uniform_and_unlabelled():
    certain = output_scores(np.array([0.0, 1.0, 0.0, 0.0]), predicted_index=1, label_index=3)
    assert certain["entropy"] == 0.0 and certain["margin"] == 1.0
    assert certain["mistakenness"] == 1.0 and certain["label_probability"] == 0.0  # confident and wrong
    uniform = output_scores(np.full(4, 0.25), predicted_index=0, label_index=None)
    assert uniform["entropy"] == pytest.approx(math.log(4)) and uniform["margin"] == 0.0
    assert uniform["label_probability"] is None and uniform["mistakenness"] is None


def test_a_real_runs_scores_match_the_models_probabilities(labelled_run, lite0):
    _, explainer = lite0
    rows = pq.read_table(labelled_run / "results.parquet").to_pylist()
    source = labelled_run.parent.parent / "src-photos" / "images"
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 8
    for row in ok:
        p = explainer.predict(decode_image((source / row["path"]).read_bytes(), name=row["path"]).pixels)
        p64 = p.astype(np.float64)
        by_hand = -np.sum(p64[p64 > 0] * np.log(p64[p64 > 0]))
        assert row["entropy"] == pytest.approx(by_hand, abs=1e-4), row["path"]
        top = np.sort(p64)[::-1]
        assert row["margin"] == pytest.approx(top[0] - top[1], abs=1e-5)
        # The stored top-5 holds the same two probabilities.
        assert row["margin"] == pytest.approx(row["top5_probabilities"][0] - row["top5_probabilities"][1], abs=1e-6)
        if row["label_index"] is None:
            assert row["label_probability"] is None and row["mistakenness"] is None
            continue
        assert row["label_probability"] == pytest.approx(p64[row["label_index"]], abs=1e-5)
        m = 1.0 if row["label_index"] != row["predicted_index"] else -1.0
        assert row["mistakenness"] == pytest.approx((m * math.exp(-by_hand) + 1) / 2, abs=1e-4)
    # cat_3 is labelled espresso on purpose: the model contradicts that label, so it is the most
    # probably mislabelled input of the run.
    worst = max((r for r in ok if r["mistakenness"] is not None), key=lambda r: r["mistakenness"])
    assert worst["path"] == "cat_3.jpg" and worst["mistakenness"] > 0.5
    errors = [r for r in rows if r["status"] == "error"]
    assert errors and all(r[c] is None for r in errors for c in SCORE_COLUMNS)


def test_report_sorts_and_filters_use_the_scores(labelled_run, capsys):
    from gradcam.cli import main

    assert main(["dataset", "report", str(labelled_run)]) == 0
    out = capsys.readouterr().out
    assert "Mean entropy" in out and "label probably wrong: cat_3.jpg" in out
    report = build_report(labelled_run, write=False)
    assert report["scores"]["most_mistaken"][0]["path"] == "cat_3.jpg"
    rows = pq.read_table(labelled_run / "results.parquet").to_pylist()
    hardest = filter_rows(rows, RowFilter(sort="entropy"))
    entropies = [r["entropy"] for r in hardest]
    assert entropies == sorted(entropies, reverse=True) and report["scores"]["hardest"][0]["path"] == hardest[0]["path"]
    assert [r["path"] for r in filter_rows(rows, RowFilter(mistakenness=(0.5, 1.0)))] == ["cat_3.jpg"]
    low = filter_rows(rows, RowFilter(entropy=(0.0, 1.0)))
    assert low and all(r["entropy"] <= 1.0 for r in low)
    assert "Labels most probably wrong" in (labelled_run / "report.html").read_text()
