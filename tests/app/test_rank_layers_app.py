"""Compare layers offers "Rank these layers": gradcam.rank_layers's figures, best first (AppTest)."""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")
from tests.helpers.app import new_app, problems  # noqa: E402

pytestmark = pytest.mark.slow


def test_rank_these_layers_gives_each_its_figures_best_first():
    at = new_app(sample="coffee.jpg")
    at.default_timeout = 600  # ranking four layers' curves on a busy machine
    at.run()
    at.radio(key="view").set_value("layers").run()
    at.multiselect(key="compare_layers").set_value(["block6d_add", "head_activation"]).run()
    assert len(at.dataframe) == 0  # nothing computed before the button
    at.button(key="rank_layers").click().run()
    assert problems(at) == []
    (table,) = at.dataframe
    frame = table.value
    assert sorted(frame["layer"]) == ["block6d_add", "head_activation"]
    assert list(frame["score"]) == sorted(frame["score"], reverse=True)
    for _, row in frame.iterrows():
        assert row["score"] == pytest.approx(row["insertion_auc"] - row["deletion_auc"], abs=2e-4)
    assert any(str(c.value).startswith("Best: `") for c in at.caption)
    # the figures stay on the page when something else reruns it
    at.checkbox(key="compare_fuse").check().run()
    assert any(str(c.value).startswith("Best: `") for c in at.caption)
