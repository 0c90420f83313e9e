"""`gradcam explain` records say whether each map is about its class (similarity_to_top, verdict)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "results"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gradcam",
            "explain",
            "sample_images/coffee.jpg",
            "--target",
            "cup",
            "--target",
            "slot",
            "--contrast",
            "slot",
            "espresso",
            "--top-k",
            "1",
            "--html",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return {
        r["target_name"] if r["contrast_name"] is None else r["contrast_name"] + "!": r
        for r in json.loads((out / "results.json").read_text())
    }, out


def test_each_record_carries_its_similarity_and_verdict(records):
    found, _ = records
    assert set(found) == {"cup", "slot", "espresso", "espresso!"}
    assert found["espresso"]["verdict"] == "top class" and found["espresso"]["similarity_to_top"] == 1.0
    cup = found["cup"]
    assert cup["verdict"] == "same as top" and cup["similarity_to_top"] >= 0.8
    assert cup["verdict_reading"].startswith(f"{cup['similarity_to_top']:.0%} the same as espresso's map")
    assert found["slot"]["verdict"] in ("same as top", "partly shared", "distinct")
    assert found["espresso!"]["verdict"] == "not applicable" and found["espresso!"]["similarity_to_top"] is None
    for record in found.values():
        made = record["provenance"]
        assert made["explanation"]["similarity_to_top"] == record["similarity_to_top"]
        assert made["explanation"]["verdict"] == record["verdict"]
        assert made["class_sensitivity"]["top_name"] == "espresso"


def test_the_html_report_says_it(records):
    found, out = records
    page = (out / found["cup"]["report"]).read_text()
    assert "About this class? cup: same as top" in page
    assert "the same as espresso&#x27;s map: this mostly shows where the model looks" in page
