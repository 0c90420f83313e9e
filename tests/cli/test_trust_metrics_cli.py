"""``gradcam evaluate`` with the trust metrics (Quantus 0.6's definitions) on the real Lite0."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEW = ("sparseness", "complexity", "faithfulness_correlation", "irof", "max_sensitivity", "random_logit")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gradcam", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )


def test_evaluate_writes_each_trust_metric_and_the_random_maps(tmp_path):
    metrics = [arg for key in NEW for arg in ("--metric", key)]
    result = run_cli(
        "evaluate",
        "sample_images/coffee.jpg",
        *metrics,
        "--correlation-runs",
        "8",
        "--sensitivity-samples",
        "3",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["metrics"] == list(NEW)
    first = record["results"][0]
    assert set(NEW) <= set(first["scores"]) and set(NEW) <= set(first["baseline"]["scores"])
    assert set(NEW) <= set(first["beats_baseline"])
    assert first["details"]["max_sensitivity_samples"] == 3 and first["details"]["faithfulness_correlation_runs"] == 8
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(NEW) <= set(rows[0])
    methods = [row["method"] for row in rows]
    assert "gradcam" in methods and "random" in methods
    gradcam_row = rows[methods.index("gradcam")]
    assert 0 < float(gradcam_row["sparseness"]) < 1 and float(gradcam_row["max_sensitivity"]) >= 0
    assert gradcam_row["beats_random"].endswith("/6")


def test_evaluate_refuses_bad_trust_options(tmp_path):
    result = run_cli(
        "evaluate",
        "sample_images/coffee.jpg",
        "--metric",
        "max_sensitivity",
        "--sensitivity-samples",
        "0",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 2 and "--sensitivity-samples 1 or more" in result.stderr
    unknown = run_cli("evaluate", "sample_images/coffee.jpg", "--metric", "gini-ish", "--out", str(tmp_path))
    assert unknown.returncode == 2 and "Available:" in unknown.stderr and "random_logit" in unknown.stderr
