"""Compare layers offers "Rank these layers": gradcam.rank_layers's figures, best first (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "streamlit_app.py")
pytestmark = pytest.mark.slow


def test_rank_these_layers_gives_each_its_figures_best_first():
    at = AppTest.from_file(APP, default_timeout=600)
    at.query_params["sample"] = "coffee.jpg"
    at.run()
    at.radio(key="view").set_value("layers").run()
    at.multiselect(key="compare_layers").set_value(["block6d_add", "head_activation"]).run()
    assert len(at.dataframe) == 0  # nothing computed before the button
    at.button(key="rank_layers").click().run()
    assert [str(e.value) for e in at.exception] + [str(e.value) for e in at.error] == []
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
