"""Long use: 200 successive explanations of different images and targets in one process. Resident
memory after warm-up grows by at most 150 MB and every cache stays within its bound. The figures
are printed in the terminal summary."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import numpy as np
import pytest

from gradcam import limits
from tests.helpers.bad_inputs import ROOT, photo
from tests.helpers.summary import FIGURES

SAMPLES = sorted(p.name for p in (ROOT / "sample_images").glob("*.jpg"))
METHODS = ["gradcam", "gradcam++", "layercam", "eigencam", "saliency", "hirescam"]
WARM_UP, RUNS, ALLOWED_MB = 20, 200, 150


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource  # not Linux: peak, not current (still an upper bound on growth)

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def variant(rng) -> np.ndarray:
    """A random crop of a random sample, at a random size, with a few random pixels changed."""
    image = photo(SAMPLES[rng.integers(len(SAMPLES))])
    h, w = image.shape[:2]
    ch, cw = rng.integers(h // 2, h + 1), rng.integers(w // 2, w + 1)
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = image[y : y + ch, x : x + cw].copy()
    ys, xs = rng.integers(0, ch, 20), rng.integers(0, cw, 20)
    crop[ys, xs] = rng.integers(0, 256, (20, 3), dtype=np.uint8)
    return crop


def explain_once(explainer, rng, layers):
    method = METHODS[rng.integers(len(METHODS))]
    target = None if rng.random() < 0.2 else int(rng.integers(len(explainer.class_names)))
    layer = layers[rng.integers(len(layers))] if method != "saliency" else None
    result = explainer.explain(variant(rng), target, method=method, layer=layer)
    assert np.isfinite(result.heatmap).all()


@pytest.mark.slow
def test_two_hundred_explanations_keep_memory_and_caches_bounded(lite0):
    _, explainer = lite0
    rng = np.random.default_rng(2024)
    layers = explainer.layers[-4:]  # the last spatial layers (different activation sizes)
    budget = limits.ACTIVATION_CACHE_MB * 1024 * 1024
    for _ in range(WARM_UP):
        explain_once(explainer, rng, layers)
    gc.collect()
    before = rss_mb()
    largest_cache = 0
    for _ in range(RUNS):
        explain_once(explainer, rng, layers)
        largest_cache = max(largest_cache, len(explainer.cache))
        assert len(explainer.cache) <= limits.ACTIVATION_CACHE_ENTRIES
        assert explainer.cache.nbytes <= budget
    gc.collect()
    after = rss_mb()
    growth = after - before
    figures = (
        f"RSS after {WARM_UP} warm-up explanations {before:.0f} MB, after {RUNS} more {after:.0f} MB, "
        f"growth {growth:+.0f} MB (allowed {ALLOWED_MB}); explainer cache at most {largest_cache} "
        f"entries (bound {limits.ACTIVATION_CACHE_ENTRIES}), now {explainer.cache.nbytes / 2**20:.1f} MiB "
        f"(bound {limits.ACTIVATION_CACHE_MB} MiB)"
    )
    print("\n" + figures)
    FIGURES.append(("long use (200 explanations, Lite0)", figures))
    assert growth <= ALLOWED_MB, figures


def test_every_cache_in_the_code_has_a_bound():
    """Every functools.lru_cache has a maxsize, every Streamlit cache a max_entries."""
    unbounded = []
    files = [
        *ROOT.glob("gradcam/**/*.py"),
        *ROOT.glob("model_zoo/**/*.py"),
        *ROOT.glob("gradcam_app/**/*.py"),
        ROOT / "streamlit_app.py",
    ]
    app_caches = 0
    for path in files:
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                name = ast.unparse(call.func if call else decorator)
                keywords = {k.arg: k.value for k in call.keywords} if call else {}
                if name.endswith(("cache_data", "cache_resource")):
                    app_caches += 1
                    bound = keywords.get("max_entries")
                elif name.endswith(("lru_cache", "functools.cache")) or name == "cache":
                    bound = keywords.get("maxsize", call.args[0] if call and call.args else None)
                else:
                    continue
                if bound is None or (isinstance(bound, ast.Constant) and bound.value is None):
                    unbounded.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not unbounded, unbounded
    if (ROOT / "streamlit_app.py").exists():
        assert app_caches >= 3
