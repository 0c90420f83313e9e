"""``python -m gradcam explain --cache-dir DIR``: the second run reads the maps the first one stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def explain(out: Path, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gradcam",
            "explain",
            "sample_images/coffee.jpg",
            "--out",
            str(out),
            "--cache-dir",
            str(cache),
        ],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_second_run_reads_the_maps_from_the_cache_folder(tmp_path):
    import dataclasses

    import numpy as np

    from gradcam.result_cache import ResultCache

    first = explain(tmp_path / "one", tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    cache = ResultCache(tmp_path / "cache")
    (key,) = [k for k in cache._store if ":x:" in k]
    stored = cache.get_explanation(key)
    (npy,) = sorted((tmp_path / "one").glob("*.npy"))
    np.testing.assert_array_equal(np.load(npy), stored.heatmap)
    # Make the stored map recognisable: the second run must write exactly what is stored.
    marked = dataclasses.replace(stored, heatmap=np.ascontiguousarray(1.0 - stored.heatmap))
    assert cache.put_explanation(key, marked)
    second = explain(tmp_path / "two", tmp_path / "cache")
    assert second.returncode == 0, second.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "two" / npy.name), marked.heatmap)
    assert json.loads((tmp_path / "two" / "results.json").read_text())[0]["target_name"] == "espresso"
