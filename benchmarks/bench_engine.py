"""How fast is the engine, against the model's own forward pass and against tf-keras-vis?

    python3 run.py bench            # installs tf-keras-vis into .venv first
    .venv/bin/python benchmarks/bench_engine.py [--repeats 30] [--skip-scorecam]

Prints one table: median milliseconds per image and the ratio to one compiled forward pass of the
same model (EfficientNet-Lite0, 224x224, batch 1, CPU), for our engine and for tf-keras-vis on the
same model, images and targets. Each "new image" timing uses a different image, so no cache helps.
The machine is shared and noisy: read ratios, not single milliseconds, and rerun to compare.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from gradcam._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's own import, to hide its start-up notices

import gradcam  # noqa: E402
import model_zoo  # noqa: E402
import tensorflow as tf  # noqa: E402
from gradcam.images import load_image  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"


def median_ms(fn, inputs, warmup: int = 2) -> float:
    for item in inputs[:warmup]:
        fn(item)
    times = []
    for item in inputs[warmup:]:
        started = time.perf_counter()
        fn(item)
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


def distinct_images(base: list[np.ndarray], count: int, rng) -> list[np.ndarray]:
    """Photos with a few pixels changed, so that every image is new to every cache."""
    images = []
    for i in range(count):
        image = base[i % len(base)].copy()
        y, x = rng.integers(0, image.shape[0]), rng.integers(0, image.shape[1])
        image[y, x] = rng.integers(0, 256, size=3)
        images.append(image)
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--skip-scorecam", action="store_true", help="skip the two slow Score-CAM rows")
    parser.add_argument("--scorecam-repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    import keras

    keras.utils.disable_interactive_logging()  # tf-keras-vis's Scorecam would print progress bars
    zoo = model_zoo.load_model("efficientnet-lite0")
    model = zoo.keras_model
    explainer = gradcam.Explainer(zoo)
    layer = explainer.default_layer
    base = [load_image(SAMPLES / name) for name in ("chelsea.jpg", "coffee.jpg", "grace_hopper.jpg", "astronaut.jpg")]
    n = args.repeats + 2
    rows: list[tuple[str, float, str]] = []

    # The reference: the model's own compiled forward pass, on an image already resized and
    # preprocessed (what any method must at least do).
    forward = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec((None, 224, 224, 3))])
    prepared = [zoo.preprocess(explainer.model_input(image)[None]) for image in distinct_images(base, n, rng)]
    forward_ms = median_ms(lambda x: forward(x).numpy(), prepared)
    rows.append(("forward pass (tf.function), batch 1", forward_ms, "reference"))

    at_size = distinct_images([explainer.model_input(im) for im in base], n, rng)
    rows.append(("Grad-CAM, new image already 224x224 (preprocess + map)",
                 median_ms(lambda im: explainer.explain(im, method="gradcam"), at_size), "ours"))
    images = distinct_images(base, n, rng)
    rows.append(("Grad-CAM, new photo ~600x400 (+ area resize, hash, upsample)",
                 median_ms(lambda im: explainer.explain(im, method="gradcam"), images), "ours"))
    cached = base[1]
    explainer.explain(cached)
    targets = iter(rng.integers(0, 1000, size=10 * n))
    rows.append(("Grad-CAM, new class on the same image",
                 median_ms(lambda _: explainer.explain(cached, int(next(targets))), list(range(n))), "ours"))
    rows.append(("Grad-CAM, 4 classes of a new image in one call (per call)",
                 median_ms(lambda im: explainer.explain_targets(im, [285, 967, 504, 800]),
                           distinct_images(base, n, rng)), "ours"))
    rows.append(("Grad-CAM++, new image", median_ms(lambda im: explainer.explain(im, method="gradcam++"),
                                                     distinct_images(base, n, rng)), "ours"))

    batch = distinct_images(base, 32, rng)
    batch_x = zoo.preprocess(np.stack([explainer.model_input(im) for im in batch]))
    forward(batch_x)
    forward32 = median_ms(lambda _: forward(batch_x).numpy(), list(range(7))) / 32
    batches = [distinct_images(base, 32, rng) for _ in range(6)]
    ours32 = median_ms(explainer.explain_batch, batches, warmup=1) / 32
    rows.append(("forward pass, batch 32 (per image)", forward32, "reference"))
    rows.append(("Grad-CAM explain_batch, batch 32 (per image)", ours32, "ours"))

    # tf-keras-vis on the same model (logits output), same layer and targets.
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        print("tf-keras-vis is not installed: run `python3 run.py bench` (it installs it) to compare.")
        Gradcam = None
    if Gradcam is not None:
        def peer(cls, **kwargs):
            tool = cls(model, clone=True)

            def run(image):
                x = zoo.preprocess(explainer.model_input(image)[None])
                target = int(np.argmax(forward(x).numpy()))
                return tool(CategoricalScore(target), x, penultimate_layer=layer, **kwargs)
            return run

        rows.append(("tf-keras-vis Gradcam, new image", median_ms(peer(Gradcam), distinct_images(base, n, rng)), "peer"))
        rows.append(("tf-keras-vis GradcamPlusPlus, new image",
                     median_ms(peer(GradcamPlusPlus), distinct_images(base, n, rng)), "peer"))

    if not args.skip_scorecam:
        k = args.scorecam_repeats + 1
        channels = explainer._compiled.layer(explainer._traced.find(None)).layer.output.shape[-1]
        rows.append((f"Score-CAM, all {channels} channels, batch 32 masks", median_ms(
            lambda im: explainer.explain(im, method="scorecam"), distinct_images(base, k, rng), warmup=1), "ours"))
        if Gradcam is not None:
            rows.append((f"tf-keras-vis Scorecam, all {channels} channels, batch 32", median_ms(
                peer(Scorecam, batch_size=32), distinct_images(base, k, rng), warmup=1), "peer"))
        rows.append(("Score-CAM, 128 channels of largest variance", median_ms(
            lambda im: explainer.explain(im, method="scorecam", channels=128), distinct_images(base, k, rng),
            warmup=1), "ours"))
        if Gradcam is not None:
            rows.append(("tf-keras-vis Scorecam max_N=128 (Faster-Score-CAM)", median_ms(
                peer(Scorecam, batch_size=32, max_N=128), distinct_images(base, k, rng), warmup=1), "peer"))

    print(f"\nEfficientNet-Lite0 at 224x224 on {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
          f"TensorFlow {tf.__version__}, median of {args.repeats} (Score-CAM: {args.scorecam_repeats})\n")
    print(f"| {'what':72s} | {'ms / image':>10s} | {'x forward':>9s} |")
    print(f"|{'-' * 74}|{'-' * 12}:|{'-' * 10}:|")
    for name, ms, _ in rows:
        reference = forward32 if "batch 32 (per image)" in name else forward_ms
        print(f"| {name:72s} | {ms:10.1f} | {ms / reference:9.2f} |")
    print(f"\nBatch-32 throughput of explain_batch relative to the forward pass alone: {forward32 / ours32:.2f}")


if __name__ == "__main__":
    main()
