"""Two runs side by side (issue 21, item 5): the same folder (less one photo, plus one) through
EfficientNet-Lite0 and EfficientNet-Lite1; inputs paired by their bytes, ``prediction_agrees``
and ``map_agreement`` checked against values worked out here from the two runs' own rows and
heatmaps (scipy's Spearman on 56x56 area-averaged maps), inputs in one run only listed."""

from __future__ import annotations

import io
import json
import shutil

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy.stats import spearmanr

from gradcam.dataset import run_dataset
from gradcam.dataset.comparison import COLUMNS
from tests.helpers.dataset_runs import image_bytes


@pytest.fixture(scope="module")
def two_runs(labelled_run, tmp_path_factory):
    import model_zoo

    root = tmp_path_factory.mktemp("compare")
    source = labelled_run.parent.parent / "src-photos" / "images"
    other = root / "images"
    shutil.copytree(source, other)
    (other / "cat_3.jpg").unlink()  # in run A only
    (other / "extra" / "rocket_again.jpg").parent.mkdir()
    flipped = Image.open(io.BytesIO(image_bytes("rocket.jpg"))).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    flipped.save(other / "extra" / "rocket_again.jpg", quality=80)  # in run B only (other bytes)
    run_dataset(other, root / "lite1", model=model_zoo.load_model("efficientnet-lite1"), batch_size=9)
    return labelled_run, root / "lite1", root


def test_comparison_against_values_worked_out_by_hand(two_runs, capsys):
    from gradcam.cli import main

    run_a, run_b, root = two_runs
    out = root / "comparison"
    assert main(["dataset", "compare", str(run_a), str(run_b), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "7 inputs in both runs" in printed and printed.count(" only") == 2
    table = pq.read_table(out / "comparison.parquet")
    assert tuple(table.column_names) == COLUMNS
    rows = {r["sha256"]: r for r in table.to_pylist()}
    a = {r["sha256"]: r for r in pq.read_table(run_a / "results.parquet").to_pylist() if r["status"] == "ok"}
    b = {r["sha256"]: r for r in pq.read_table(run_b / "results.parquet").to_pylist() if r["status"] == "ok"}
    shared = set(a) & set(b)
    assert set(rows) == shared and len(shared) == 7
    disagreements = 0
    for digest in shared:
        row, x, y = rows[digest], a[digest], b[digest]
        assert row["path"] == x["path"] and row["predicted_index_a"] == x["predicted_index"]
        assert row["predicted_index_b"] == y["predicted_index"]
        assert row["prediction_agrees"] == (x["predicted_index"] == y["predicted_index"])
        disagreements += not row["prediction_agrees"]
        maps = [
            cv2.resize(np.load(run / r["heatmap_path"]).astype(np.float32), (56, 56), interpolation=cv2.INTER_AREA)
            for run, r in ((run_a, x), (run_b, y))
        ]
        rho = spearmanr(maps[0].ravel(), maps[1].ravel()).statistic
        assert row["map_agreement"] == pytest.approx(rho, abs=1e-6), row["path"]
        assert row["entropy_a"] == x["entropy"] and row["entropy_b"] == y["entropy"]
    report = json.loads((out / "comparison.json").read_text())
    assert report["agreement_rate"] == pytest.approx(1 - disagreements / 7)
    assert report["only_in_a"]["paths"][0] == "cat_3.jpg" and "notes.jpg" in report["only_in_a"]["paths"]
    assert report["only_in_b"]["paths"][0] == "extra/rocket_again.jpg"
    assert sum(c["count"] for c in report["per_class"]) == 7
    worst = report["most_disagreeing"][0]
    assert worst["prediction_agrees"] is False or worst["map_agreement"] == min(
        r["map_agreement"] for r in rows.values()
    )
    assert "Where the runs disagree most" in (out / "comparison.html").read_text()


def test_an_unfinished_run_is_refused(two_runs, tmp_path, capsys):
    from gradcam.cli import main

    run_a, _, _ = two_runs
    assert main(["dataset", "compare", str(run_a), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a finished run" in capsys.readouterr().err
