"""Every bad or awkward image of the hardening issue, end to end on the real offline model:
the library (decode, then explain) and the CLI (one run over all of them at once).

The decoder's own refusals are covered file by file in test_images.py; here each input goes through
the whole path a user's file takes.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from gradcam.errors import ImageError
from gradcam.images import decode_image
from tests.helpers.bad_inputs import ROOT, Refused, Works, bad_inputs, espresso_top_right, exif_rotated_jpeg, write_all

CASES = bad_inputs()
IDS = [name for name, _, _ in CASES]
ESPRESSO = 967


@pytest.mark.parametrize("name, data, outcome", CASES, ids=IDS)
def test_library_explains_or_refuses_each_input(lite0, name, data, outcome):
    _, explainer = lite0
    if isinstance(outcome, Refused):
        with pytest.raises(ImageError) as info:
            decode_image(data, name=name)
        message = str(info.value)
        assert message.startswith(f"{name}: ") and "\n" not in message, message
        assert outcome.fragment in message, message
        return
    decoded = decode_image(data, name=name)
    assert decoded.pixels.shape == (outcome.height, outcome.width, 3) and decoded.pixels.dtype == np.uint8
    if outcome.note:
        assert any(outcome.note in note for note in decoded.notes), decoded.notes
    explanation = explainer.explain(decoded.pixels, method="gradcam")
    heatmap = explanation.heatmap
    assert heatmap.shape == (outcome.height, outcome.width)
    assert np.isfinite(heatmap).all() and heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    assert np.isfinite(explanation.probabilities).all()
    assert explanation.probabilities.sum() == pytest.approx(1.0, abs=1e-4)


def test_sixteen_bit_png_uses_the_whole_range_not_a_clipped_one():
    name, data, _ = next(case for case in CASES if case[0] == "deep16.png")
    pixels = decode_image(data, name=name).pixels
    # Pillow's plain convert("RGB") clips 16-bit values to 255: almost every pixel would be white.
    assert (pixels == 255).mean() < 0.5 and pixels.std() > 20


def test_exif_orientation_6_heatmap_lines_up_with_the_upright_image(lite0):
    _, explainer = lite0
    upright = espresso_top_right()
    decoded = decode_image(exif_rotated_jpeg(upright), name="rotated.jpg")
    assert decoded.pixels.shape == upright.shape
    assert np.abs(decoded.pixels.astype(int) - upright).mean() < 4  # really the upright picture
    heatmap = explainer.explain(decoded.pixels, ESPRESSO, method="gradcam").heatmap
    h, w = heatmap.shape
    quadrants = {
        "top-left": heatmap[: h // 2, : w // 2],
        "top-right": heatmap[: h // 2, w // 2 :],
        "bottom-left": heatmap[h // 2 :, : w // 2],
        "bottom-right": heatmap[h // 2 :, w // 2 :],
    }
    mass = {k: float(v.sum()) for k, v in quadrants.items()}
    peak_y, peak_x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
    assert peak_y < h // 2 and peak_x >= w // 2, (peak_y, peak_x, mass)
    assert mass["top-right"] > 0.5 * sum(mass.values()), mass
    # The stored (unrotated) pixels would put the cup in the top-left: the map follows the upright image.
    assert mass["top-right"] > 3 * mass["top-left"], mass


def test_cli_one_run_over_every_input(tmp_path):
    paths = write_all(tmp_path / "in")
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "gradcam", "explain", *map(str, paths), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    refused = [(path, outcome) for path, (_, _, outcome) in zip(paths, CASES) if isinstance(outcome, Refused)]
    working = [(path, outcome) for path, (_, _, outcome) in zip(paths, CASES) if isinstance(outcome, Works)]
    assert len(errors) == len(refused), errors
    for path, outcome in refused:
        line = [e for e in errors if e.startswith(f"error: {path}: ")]
        assert len(line) == 1 and outcome.fragment in line[0], (path, errors)
    records = json.loads((out / "results.json").read_text())
    assert [r["image"] for r in records] == [str(p) for p in paths]  # one record per file, in order
    for (path, outcome), record in zip(refused, [r for r in records if "error" in r]):
        assert record["image"] == str(path) and outcome.fragment in record["error"]
    for path, outcome in working:
        record = next(r for r in records if r["image"] == str(path))
        assert "error" not in record, record
        heatmap = np.load(out / record["heatmap"])
        assert heatmap.shape == (outcome.height, outcome.width) and np.isfinite(heatmap).all()
        assert (out / record["overlay"]).stat().st_size > 0
        if outcome.note:
            assert any(outcome.note in note for note in record["image_notes"]), record
    assert f"{len(working)} explanations" in result.stdout and f"{len(refused)} image(s) failed" in result.stdout
