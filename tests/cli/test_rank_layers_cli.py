"""`python -m gradcam rank-layers`: the layers ranked by insertion minus deletion, best first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gradcam", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_rank_layers_prints_and_writes_the_rows_best_first(tmp_path):
    out = tmp_path / "ranked.json"
    result = run_cli(
        "rank-layers",
        "sample_images/coffee.jpg",
        "--layer",
        "block6d_add",
        "--layer",
        "head_activation",
        "--steps",
        "4",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["target"] == "espresso" and record["steps"] == 4
    scores = [row["score"] for row in record["layers"]]
    assert sorted(row["layer"] for row in record["layers"]) == ["block6d_add", "head_activation"]
    assert scores == sorted(scores, reverse=True)
    best = record["layers"][0]["layer"]
    assert f"Best for 'espresso' with gradcam: {best}" in result.stdout


def test_rank_layers_refuses_a_pixel_method_and_an_unknown_layer():
    pixel = run_cli("rank-layers", "sample_images/coffee.jpg", "--method", "saliency")
    assert pixel.returncode == 2 and "does not use a layer" in pixel.stderr
    unknown = run_cli("rank-layers", "sample_images/coffee.jpg", "--layer", "nope")
    assert unknown.returncode == 2 and "nope" in unknown.stderr
