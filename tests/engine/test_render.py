"""gradcam.render: colour tables, overlays (with "show the top X%"), display sizes, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gradcam import render
from gradcam.errors import GradCamError, RenderError


def _photo(height=60, width=80, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _ramp(height=60, width=80):
    return np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))


def test_colormap_table_is_public_read_only_and_checked():
    table = render.colormap_table("jet")
    assert table.shape == (256, 3) and table.dtype == np.uint8 and not table.flags.writeable
    assert np.array_equal(render.colorize(np.array([[0.0, 1.0]], np.float32), "jet")[0], table[[0, 255]])
    with pytest.raises(RenderError, match="Unknown colour map 'nope'.*jet, turbo"):
        render.colormap_table("nope")


def test_top_percent_shows_the_photo_where_the_map_is_hidden():
    photo, heat = _photo(), _ramp()
    full = render.overlay(photo, heat, "jet", 0.6)
    top = render.overlay(photo, heat, "jet", 0.6, keep=0.25)
    shown = heat >= np.quantile(heat, 0.75)
    assert 0.2 < shown.mean() < 0.3
    # Hidden pixels are the photo itself, not the colour map's lowest colour blended in...
    assert np.array_equal(top[~shown], photo[~shown])
    # ...and the shown ones are exactly the ordinary overlay.
    assert np.array_equal(top[shown], full[shown])
    assert np.array_equal(render.overlay(photo, heat, "jet", 0.6, keep=1.0), full)
    # A map with no positive evidence is drawn whole (there is no "top" to pick).
    empty = np.zeros_like(heat)
    assert np.array_equal(render.overlay(photo, empty, "jet", 0.6, keep=0.1), render.overlay(photo, empty, "jet", 0.6))


def test_overlay_blends_and_resizes_the_heatmap():
    photo = _photo()
    coloured = render.colorize(_ramp(), "viridis")
    blended = render.overlay(photo, _ramp(), "viridis", 0.25).astype(int)
    expected = 0.75 * photo + 0.25 * coloured
    assert np.abs(blended - expected).max() <= 1
    small = render.overlay(photo, _ramp(6, 8), "jet", 0.5)  # a coarse map is upsampled to the photo
    assert small.shape == photo.shape


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: render.overlay(_photo(), _ramp(), alpha=1.5), "alpha must be between 0"),
        (lambda: render.overlay(_photo(), _ramp(), keep=0.0), r"keep must be in \(0, 1\]"),
        (lambda: render.overlay(_photo().astype(np.float32), _ramp()), "uint8 RGB image"),
        (lambda: render.overlay(_photo(), np.zeros((2, 3, 4))), "heatmap of shape"),
        (lambda: render.keep_top(_ramp(), 1.5), r"fraction must be in \(0, 1\]"),
        (lambda: render.fit_for_display(np.zeros((4, 4, 2), np.uint8)), r"\(H, W, 3\)"),
    ],
)
def test_render_errors_are_gradcam_errors_that_say_what_was_expected(call, fragment):
    with pytest.raises(RenderError, match=fragment) as info:
        call()
    assert isinstance(info.value, GradCamError) and isinstance(info.value, ValueError)


def test_keep_top_still_zeroes_the_rest():
    heat = _ramp()
    kept = render.keep_top(heat, 0.5)
    assert np.array_equal(kept > 0, render.top_mask(heat, 0.5) & (heat > 0))
    assert render.keep_top(heat, 1.0) is heat


def test_fit_for_display_shrinks_photo_and_map_alike():
    photo = _photo(3000, 4000)
    heat = np.random.default_rng(1).random((3000, 4000)).astype(np.float32)
    small_photo = render.fit_for_display(photo, 1280)
    small_heat = render.fit_for_display(heat, 1280)
    assert small_photo.shape == (960, 1280, 3) and small_photo.dtype == np.uint8
    assert small_heat.shape == (960, 1280) and small_heat.dtype == np.float32
    assert 0.0 <= small_heat.min() and small_heat.max() <= 1.0
    assert render.overlay(small_photo, small_heat).shape == (960, 1280, 3)
    ordinary = _photo(480, 640)
    assert render.fit_for_display(ordinary) is ordinary  # small enough: no copy, no cost
    assert render.display_size(1000, 10, 100) == (100, 1)
    assert render.display_size(5, 7, 100) == (5, 7)


def _numpy_overlay(photo, heat, alpha=0.5):
    """The float32 NumPy overlay this module used before (1.2 s for 12 MP on an idle 2-core machine)."""
    index = np.clip(heat * 255.0 + 0.5, 0, 255).astype(np.uint8)
    coloured = render.colormap_table("jet")[index].astype(np.float32)
    return np.clip((1.0 - alpha) * photo.astype(np.float32) + alpha * coloured + 0.5, 0, 255).astype(np.uint8)


def test_overlay_of_a_12_megapixel_photo_is_fast():
    # Measured against the old NumPy overlay on the same machine at the same moment, so a busy
    # machine slows both: the OpenCV one took about a sixth of its time (0.2 s against 1.2 s
    # idle), and a third with "show the top 30%" (the quantile is most of the rest).
    photo = _photo(3000, 4000)
    heat = np.tile(np.linspace(0, 1, 4000, dtype=np.float32), (3000, 1))
    old = min(_seconds(lambda: _numpy_overlay(photo, heat)) for _ in range(2))
    new = min(_seconds(lambda: render.overlay(photo, heat, "jet", 0.5)) for _ in range(3))
    top = min(_seconds(lambda: render.overlay(photo, heat, "jet", 0.5, keep=0.3)) for _ in range(3))
    assert new < 0.5 * old and top < 0.7 * old, f"12 MP overlay {new:.2f} s, with keep {top:.2f} s, NumPy {old:.2f} s"
    assert np.abs(render.overlay(photo, heat).astype(int) - _numpy_overlay(photo, heat)).max() <= 2


def _seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started
