"""Cost of each faithfulness metric, as a multiple of one forward pass.

    python benchmarks/bench_metrics.py [--model efficientnet-lite0] [--repeats 3] [--image PATH]

Uses the model zoo's EfficientNet-Lite0 (offline, real weights) at 224 x 224; without the model
zoo, a random-weight keras.applications.MobileNetV2 at 224 x 224. Prints, for each metric, the
median wall time over ``--repeats`` runs (after one warm-up run) and that time divided by the
median time of one compiled forward pass of one image (batch of 1). Perturbed images run in
batches (``--batch-size``, default 64), so a metric costs fewer "passes" than the images it
sends through the network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import gradcam  # noqa: E402
from gradcam.metrics import evaluate  # noqa: E402


def load(name: str):
    try:
        import model_zoo

        return model_zoo.load_model(name), name
    except Exception as error:  # noqa: BLE001 -- any failure: fall back to an offline stand-in
        import keras

        print(f"(model zoo unavailable: {error}; using a random-weight MobileNetV2)", file=sys.stderr)
        model = keras.applications.MobileNetV2(input_shape=(224, 224, 3), weights=None)
        return model, "MobileNetV2 (random weights)"


def timed(function, repeats: int) -> tuple[float, object]:
    result = function()  # warm-up: tracing, first-call allocations
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--image", default=str(Path(__file__).resolve().parents[1] / "sample_images" / "coffee.jpg"))
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    model, label = load(args.model)
    explainer = gradcam.Explainer(model)
    if Path(args.image).exists():
        image = gradcam.images.load_image(args.image)
    else:
        image = (np.random.default_rng(0).random((224, 224, 3)) * 255).astype(np.uint8)
    explanation = explainer.explain(image, method=args.method)
    model_input = explanation.model_input[None]
    forward, _ = timed(lambda: explainer.probabilities_of(model_input), max(args.repeats, 20))
    h, w = explainer.input_size
    print(
        f"Model: {label} at {h}x{w}; image {Path(args.image).name}; method {args.method}; "
        f"class {explanation.target_name!r}; batch size {args.batch_size}; steps {args.steps}"
    )
    print(f"One forward pass (batch of 1): {forward * 1000:.1f} ms\n")

    common = dict(steps=args.steps, batch_size=args.batch_size, baseline=False)
    h0, w0 = image.shape[:2]
    cases = [
        ("deletion", dict(metrics=["deletion"])),
        ("insertion", dict(metrics=["insertion"])),
        ("average_drop", dict(metrics=["average_drop"])),
        ("road (MoRF + LeRF, 9 levels)", dict(metrics=["road"])),
        ("pointing_game", dict(metrics=["pointing_game"], box=(0, 0, w0 // 2, h0 // 2))),
        ("randomization (top layer)", dict(metrics=["randomization"])),
        ("evaluate() defaults, no baseline", dict()),
        ("evaluate() defaults + random baseline", dict(baseline=True)),
    ]
    rows = []
    for name, options in cases:

        def run(options=options):
            return evaluate(explainer, image, explanation, **{**common, **options})

        seconds, result = timed(run, args.repeats)
        rows.append((name, seconds * 1000, seconds / forward, result.forward_images))
    width = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(width)}  {'median ms':>10}  {'x forward':>10}  {'images':>7}")
    for name, ms, multiple, images in rows:
        print(f"{name.ljust(width)}  {ms:10.1f}  {multiple:10.1f}  {images:7d}")
    print(
        "\n'images': images sent through the network (the full image once, plus the perturbed ones);"
        "\nrandomization: the model copy is made on the warm-up run and reused (first call costs more)."
    )


if __name__ == "__main__":
    main()
