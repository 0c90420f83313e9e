"""How long do the dataset explorer's searches take on 20,000 inputs?

    .venv/bin/python benchmarks/bench_explore.py [--count 20000] [--dimensions 1280] [--map]

* the duplicate search (:func:`gradcam.dataset.duplicates.similar_pairs`): every pair of
  ``--count`` embeddings of EfficientNet-Lite0's size (1,280), blocked matrix products, at the
  default threshold; 200 planted near copies must all be found;
* with ``--map``: the 2-D layouts (PCA, then t-SNE) of the same vectors.

The vectors are synthetic with the statistics of real pooled features (non-negative, as after a
ReLU-like activation, so unrelated vectors have cosine around 0.6 as real ones do); the search's
cost depends on their count and dimension, not on their values.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from gradcam.dataset.duplicates import BLOCK, DEFAULT_THRESHOLD, similar_pairs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--dimensions", type=int, default=1280)
    parser.add_argument("--map", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = np.abs(rng.normal(size=(args.count, args.dimensions))).astype(np.float16).astype(np.float32)
    planted = rng.choice(args.count, size=(200, 2), replace=False)
    # Near copies: the original plus 10% noise (cosine about 0.99 with it).
    vectors[planted[:, 1]] = vectors[planted[:, 0]] * (1 + 0.1 * rng.normal(size=(200, args.dimensions)))
    print(
        f"{args.count} vectors x {args.dimensions}, CPU ({os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}), load average {os.getloadavg()[0]:.1f}"
    )
    started = time.perf_counter()
    i, j, s = similar_pairs(vectors, threshold=DEFAULT_THRESHOLD)
    seconds = time.perf_counter() - started
    found = {tuple(sorted(p)) for p in zip(i.tolist(), j.tolist())}
    missing = sum(tuple(sorted(p)) not in found for p in planted.tolist())
    print(
        f"duplicate search: {seconds:.2f} s for {args.count * (args.count - 1) // 2:,} pairs (block {BLOCK}, "
        f"threshold {DEFAULT_THRESHOLD}); {len(found)} pairs found, {200 - missing}/200 planted"
    )
    if args.map:
        from gradcam.dataset.layout import layout_2d

        for algorithm in ("pca", "tsne"):
            started = time.perf_counter()
            layout_2d(vectors, algorithm)
            print(f"map ({algorithm}): {time.perf_counter() - started:.1f} s")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
