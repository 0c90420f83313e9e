"""How fast is the engine, against the model's own forward pass and against tf-keras-vis?

    python3 run.py bench            # installs tf-keras-vis into .venv first
    .venv/bin/python benchmarks/bench_engine.py [--repeats 30] [--skip-slow]

Prints one table: median milliseconds per image and the ratio to one compiled forward pass of the
same model (EfficientNet-Lite0, 224x224, batch 1, CPU), for our engine and for tf-keras-vis on the
same model, images and targets, each row timed in alternation with the forward pass. Each "new
image" timing uses a different image, so no cache helps.
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

from gradcam.tensorflow_import import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's own import, to hide its start-up notices

import tensorflow as tf  # noqa: E402

import gradcam  # noqa: E402
import model_zoo  # noqa: E402
from gradcam.images import load_image  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"


def paired_ms(fn, items, reference, reference_input, warmup: int = 2) -> tuple[float, float]:
    """Median milliseconds of ``fn(item)`` and of ``reference(reference_input)``, called in
    alternation so that both see the same machine: on a shared machine the speed drifts by tens
    of percent within minutes, and a ratio of two medians taken minutes apart would measure that."""
    for item in items[:warmup]:
        fn(item)
        reference(reference_input)
    ours, theirs = [], []
    for item in items[warmup:]:
        started = time.perf_counter()
        reference(reference_input)
        theirs.append(time.perf_counter() - started)
        started = time.perf_counter()
        fn(item)
        ours.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(ours), 1000.0 * statistics.median(theirs)


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
    parser.add_argument(
        "--skip-slow",
        "--skip-scorecam",
        dest="skip_slow",
        action="store_true",
        help="skip the slow many-pass rows (Score-CAM, Occlusion)",
    )
    parser.add_argument("--scorecam-repeats", type=int, default=3, help="repeats of each slow row")
    parser.add_argument("--only-vit", action="store_true", help="time only the test ViT row (seconds, no downloads)")
    parser.add_argument(
        "--only-compare",
        action="store_true",
        help="time only gradcam.compare_models of three offline models against their three single explanations",
    )
    parser.add_argument(
        "--only-sensitivity",
        action="store_true",
        help="time only gradcam.class_sensitivity against the target's own map and the forward pass",
    )
    parser.add_argument(
        "--only-rank-layers",
        action="store_true",
        help="time only gradcam.rank_layers on Lite0 (first call, with each layer's compilation, and again)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.only_sensitivity:
        sensitivity_rows(args.repeats, rng)
        return
    if args.only_rank_layers:
        rank_layers_rows(rng)
        return
    if args.only_compare:
        compare_models_row(args.repeats, rng)
        return

    import keras

    vit_rows: list[tuple[str, float, float]] = []
    vit_row(vit_rows, args.repeats, rng)
    if args.only_vit:
        print_rows(vit_rows)
        return

    keras.utils.disable_interactive_logging()  # tf-keras-vis's Scorecam would print progress bars
    zoo = model_zoo.load_model("efficientnet-lite0")
    model = zoo.keras_model
    explainer = gradcam.Explainer(zoo)
    layer = explainer.default_layer
    base = [load_image(SAMPLES / name) for name in ("chelsea.jpg", "coffee.jpg", "grace_hopper.jpg", "astronaut.jpg")]
    n = args.repeats + 2
    rows: list[tuple[str, float, str]] = []

    # The reference: the model's own compiled forward pass, on an image already resized and
    # preprocessed (what any method must at least do), timed in alternation with each row.
    forward = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec((None, 224, 224, 3))])
    x1 = zoo.preprocess(explainer.model_input(base[1])[None])

    def forward1(x):
        return forward(x).numpy()

    def row(name, fn, items, warmup=2):
        ms, ref = paired_ms(fn, items, forward1, x1, warmup)
        rows.append((name, ms, ref))

    at_size = distinct_images([explainer.model_input(im) for im in base], n, rng)
    row("Grad-CAM, new image already 224x224 (preprocess + map)", explainer.explain, at_size)
    row(
        "Grad-CAM, new photo ~600x400 (+ area resize, hash, upsample)", explainer.explain, distinct_images(base, n, rng)
    )
    cached = base[1]
    explainer.explain(cached)
    targets = iter(rng.integers(0, 1000, size=10 * n))
    row(
        "Grad-CAM, new class on the same photo", lambda _: explainer.explain(cached, int(next(targets))), list(range(n))
    )
    # A class group costs what a class costs: its weights over the logits are chosen in the same pass.
    groups = iter([gradcam.Group(name) for name in ("dog", "domestic cat", "alcohol", "musical instrument")] * (3 * n))
    row(
        "Grad-CAM, new class group on the same photo (Group('dog'), ...)",
        lambda _: explainer.explain(cached, next(groups)),
        list(range(n)),
    )
    row(
        "Grad-CAM, class group 'dog' (118 classes) of a new photo",
        lambda im: explainer.explain(im, gradcam.Group("dog")),
        distinct_images(base, n, rng),
    )
    row(
        "Grad-CAM, 4 classes of a new photo in one call (per call)",
        lambda im: explainer.explain_targets(im, [285, 967, 504, 800]),
        distinct_images(base, n, rng),
    )
    row("Grad-CAM++, new photo", lambda im: explainer.explain(im, method="gradcam++"), distinct_images(base, n, rng))
    row(
        "Eigen-Grad-CAM, new photo",
        lambda im: explainer.explain(im, method="eigengradcam"),
        distinct_images(base, n, rng),
    )
    row(
        "Grad-CAM fused over 2 layers (block6a_expand_activation + default), new photo",
        lambda im: explainer.explain(im, layer=["block6a_expand_activation", layer]),
        distinct_images(base, n, rng),
    )
    # Deep Feature Factorization: one forward pass plus the NMF (49 x 1280 at Lite0's last layer),
    # the concept maps and the head on the 4 embeddings. Target: at most 3x the forward pass.
    row(
        "DFF k=4 on Lite0 (explainer.concepts), new photo",
        lambda im: explainer.concepts(im, k=4),
        distinct_images(base, n, rng),
    )

    # Throughput at batch 32: per image, against the forward pass of the same 32 images.
    batches = [distinct_images(base, 32, rng) for _ in range(8)]
    batch_x = zoo.preprocess(np.stack([explainer.model_input(im) for im in batches[0]]))
    ms, ref = paired_ms(explainer.explain_batch, batches, lambda x: forward(x).numpy(), batch_x, warmup=2)
    rows.append(("Grad-CAM explain_batch, 32 photos (per image; reference: forward at batch 32)", ms / 32, ref / 32))
    batch_ratio = ref / ms

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

        row("tf-keras-vis Gradcam, new photo", peer(Gradcam), distinct_images(base, n, rng))
        row("tf-keras-vis GradcamPlusPlus, new photo", peer(GradcamPlusPlus), distinct_images(base, n, rng))

    if not args.skip_slow:
        k = args.scorecam_repeats + 1
        # Occlusion at its defaults on 224x224: a 28-pixel window every 14 pixels, 225 positions.
        row(
            "Occlusion, 225 positions (28 px window, stride 14), batch 32",
            lambda im: explainer.explain(im, method="occlusion"),
            distinct_images(base, k, rng),
            warmup=1,
        )
        channels = explainer.layer_functions().layer.output.shape[-1]
        row(
            f"Score-CAM, all {channels} channels, batch 32 masks",
            lambda im: explainer.explain(im, method="scorecam"),
            distinct_images(base, k, rng),
            warmup=1,
        )
        if Gradcam is not None:
            row(
                f"tf-keras-vis Scorecam, all {channels} channels, batch 32",
                peer(Scorecam, batch_size=32),
                distinct_images(base, k, rng),
                warmup=1,
            )
        row(
            "Score-CAM, 128 channels of largest variance",
            lambda im: explainer.explain(im, method="scorecam", channels=128),
            distinct_images(base, k, rng),
            warmup=1,
        )
        if Gradcam is not None:
            row(
                "tf-keras-vis Scorecam max_N=128 (Faster-Score-CAM)",
                peer(Scorecam, batch_size=32, max_N=128),
                distinct_images(base, k, rng),
                warmup=1,
            )

    cpu = platform.processor() or platform.machine()
    print(
        f"\nEfficientNet-Lite0 at 224x224 on {os.cpu_count()} CPU cores ({cpu}), "
        f"TensorFlow {tf.__version__}, median of {args.repeats} (Score-CAM: {args.scorecam_repeats})\n"
    )
    print_rows(rows + vit_rows)
    print(f"\nBatch-32 throughput of explain_batch relative to the forward pass alone: {batch_ratio:.2f}")
    compare_models_row(args.repeats, rng)
    sensitivity_rows(args.repeats, rng)


def sensitivity_rows(repeats: int, rng) -> float:
    """gradcam.class_sensitivity on Lite0 (Grad-CAM, default layer), against the target's own map
    and the model's compiled forward pass, the three timed in alternation: the cost of the
    similarity beyond the target's map, in forward passes. Target: with n_random=0, at most 0.3x
    a forward pass. Returns that ratio for a new class on a photo already seen (the app's case)."""
    zoo = model_zoo.load_model("efficientnet-lite0")
    explainer = gradcam.Explainer(zoo)
    forward = tf.function(
        lambda x: zoo.keras_model(x, training=False), input_signature=[tf.TensorSpec((None, 224, 224, 3))]
    )
    base = [load_image(SAMPLES / name) for name in ("chelsea.jpg", "coffee.jpg", "grace_hopper.jpg", "astronaut.jpg")]
    x1 = zoo.preprocess(explainer.model_input(base[1])[None])
    n = repeats + 2
    seen = base[1]
    explainer.explain(seen)
    classes = [int(c) for c in rng.integers(0, 1000, size=3 * n)]

    def timed(fn, *args) -> float:
        started = time.perf_counter()
        fn(*args)
        return time.perf_counter() - started

    def three(label, own, sensitivity):
        forwards, owns, totals = [], [], []
        for i in range(n):
            f = timed(lambda: forward(x1).numpy())
            o = timed(own, i)
            t = timed(sensitivity, i)
            if i >= 2:  # the first two warm up
                forwards.append(f)
                owns.append(o)
                totals.append(t)
        fwd, mine, total = (1000.0 * statistics.median(v) for v in (forwards, owns, totals))
        extra = 1000.0 * statistics.median([t - o for t, o in zip(totals, owns)])
        rows.append((label, fwd, mine, total, extra))
        return extra / fwd

    rows: list[tuple[str, float, float, float, float]] = []
    # A new class on a photo already seen: its own map is the head only; the top class's map is
    # a second row of the same head call.
    ratio = three(
        "new class, photo seen, n_random=0",
        lambda i: explainer.explain(seen, classes[i]),
        lambda i: gradcam.class_sensitivity(explainer, seen, classes[n + i], n_random=0),
    )
    new_own, new_sens = distinct_images(base, n, rng), distinct_images(base, n, rng)
    three(
        "new photo, n_random=0",
        lambda i: explainer.explain(new_own[i], 800),
        lambda i: gradcam.class_sensitivity(explainer, new_sens[i], 800, n_random=0),
    )
    three(
        "new class, photo seen, n_random=8 (Random Logit baseline)",
        lambda i: explainer.explain(seen, classes[i]),
        lambda i: gradcam.class_sensitivity(explainer, seen, classes[2 * n + i], n_random=8),
    )
    print(f"\nclass_sensitivity on EfficientNet-Lite0, Grad-CAM at the default layer, median of {repeats}:")
    print(f"| {'case':58s} | forward ms | own map ms | with similarity ms | extra ms | extra x forward |")
    print(f"|{'-' * 60}|-----------:|-----------:|-------------------:|---------:|----------------:|")
    for label, fwd, mine, total, extra in rows:
        print(f"| {label:58s} | {fwd:10.1f} | {mine:10.1f} | {total:18.1f} | {extra:8.1f} | {extra / fwd:15.2f} |")
    print(f"Target: n_random=0 costs at most 0.30x a forward pass beyond the target's map; measured {ratio:.2f}.")
    return ratio


def rank_layers_rows(rng) -> None:
    """gradcam.rank_layers on Lite0 (Grad-CAM, the stages' last layers, 25 curve steps as the app
    uses, and the library's default 50): its wall time in forward passes, the first call on a fresh
    explainer (each layer's functions traced) and again on another photo."""
    zoo = model_zoo.load_model("efficientnet-lite0")
    explainer = gradcam.Explainer(zoo)
    forward = tf.function(
        lambda x: zoo.keras_model(x, training=False), input_signature=[tf.TensorSpec((None, 224, 224, 3))]
    )
    base = [load_image(SAMPLES / name) for name in ("coffee.jpg", "chelsea.jpg", "grace_hopper.jpg")]
    x1 = zoo.preprocess(explainer.model_input(base[0])[None])
    for _ in range(5):
        forward(x1).numpy()
    explainer.explain(base[0])
    print("\nrank_layers on EfficientNet-Lite0 (Grad-CAM, top class):")
    print("| call | layers | steps | seconds | forward ms | x forward | images through the network |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, image, steps in (
        ("first call (each layer traced)", base[0], 25),
        ("again, another photo", base[1], 25),
        ("again, another photo", base[2], 50),
    ):
        started = time.perf_counter()
        ranked = gradcam.rank_layers(explainer, image, steps=steps)
        seconds = time.perf_counter() - started
        fwd = statistics.median(
            [(lambda t: (forward(x1).numpy(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(9)]
        )
        images = sum(row.forward_images for row in ranked)
        print(
            f"| {label} | {len(ranked)} | {steps} | {seconds:.1f} | {1000 * fwd:.1f} | {seconds / fwd:.0f} | {images} |"
        )
    print("best layer:", ranked[0].layer, f"score {ranked[0].score:.3f}")


COMPARE_MODELS = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")


def compare_models_row(repeats: int, rng) -> float:
    """gradcam.compare_models of the three offline EfficientNet-Lite models on a new photo, against
    the sum of the same three single explanations on another new photo, timed in alternation.
    Target: the comparison costs at most the sum plus 10% (ratio <= 1.10). Returns the ratio."""
    ready = [m.name for m in model_zoo.list_models() if m.status in (model_zoo.READY, model_zoo.NEEDS_CONVERSION)]
    names = [name for name in COMPARE_MODELS if name in ready]
    if len(names) < 3:
        print(f"compare-models row skipped: only {names} are ready offline (three EfficientNet-Lite weights needed).")
        return float("nan")
    explainers = {name: gradcam.Explainer(model_zoo.load_model(name)) for name in names}
    base = [load_image(SAMPLES / name) for name in ("chelsea.jpg", "coffee.jpg", "grace_hopper.jpg", "astronaut.jpg")]
    n = repeats + 2
    singles_images, compare_images = distinct_images(base, n, rng), distinct_images(base, n, rng)

    def singles(image):
        for explainer in explainers.values():
            explainer.explain(image, 967)

    def comparison(image):
        gradcam.compare_models(explainers, image, 967)

    ours, theirs = [], []
    for i in range(n):
        started = time.perf_counter()
        singles(singles_images[i])
        single_s = time.perf_counter() - started
        started = time.perf_counter()
        comparison(compare_images[i])
        compare_s = time.perf_counter() - started
        if i >= 2:  # the first two warm up the compiled functions
            theirs.append(single_s)
            ours.append(compare_s)
    ms, ref = 1000.0 * statistics.median(ours), 1000.0 * statistics.median(theirs)
    ratio = ms / ref
    print(
        f"\ncompare_models of {', '.join(names)} (Grad-CAM, class 967, new ~600x400 photo): {ms:.1f} ms; "
        f"the three single explanations: {ref:.1f} ms; ratio {ratio:.3f} (target <= 1.10; median of {repeats})"
    )
    return ratio


def print_rows(rows) -> None:
    print(f"| {'what':78s} | {'ms':>8s} | {'forward ms':>10s} | {'x forward':>9s} |")
    print(f"|{'-' * 80}|{'-' * 9}:|{'-' * 11}:|{'-' * 10}:|")
    for name, ms, ref in rows:
        print(f"| {name:78s} | {ms:8.1f} | {ref:10.1f} | {ms / ref:9.2f} |")


#: ViT-Ti/16's shape (Dosovitskiy et al. 2021; DeiT-Ti): 224x224, 16x16 patches, 12 blocks of width
#: 192 with 3 heads and a 4x MLP, 1000 classes; random weights (the cost does not depend on them).
VIT_TINY = {
    "dim": 192,
    "heads": 3,
    "blocks": 12,
    "classes": 1000,
    "activation": "softmax",
    "size": 224,
    "patch": 16,
    "mlp": 4,
}


def vit_row(rows, repeats: int, rng) -> None:
    """Grad-CAM with a class-token ViT built by the test suite's ``vit`` (tests/engine/test_token_models.py)
    at its default layer (the last block's first normalisation), new images at the model's size.
    Two sizes: the tests' small ViT (40x40 input, 8x8 patch tokens + a class token, 2 blocks of
    width 32), whose ~1.2 ms forward pass is mostly fixed per-call cost, and the same builder at
    ViT-Ti/16's shape (``VIT_TINY``), a real model's size.

    By default the engine compiles a transformer's passes with XLA, in the background while the
    first calls run without it (``Explainer(jit_compile=None)``); the rows time it once compiled.
    Three rows per size: the default engine against the ViT's own forward pass compiled with XLA
    too (like for like), the same against the plain compiled forward pass (what ``model(x)`` in a
    tf.function costs), and the engine without XLA against the plain forward pass. Both forward
    passes are called through their concrete functions (no per-call argument binding)."""
    import keras

    from tests.helpers.toy_models import vit

    for label, options in (("test ViT", {}), ("ViT-Ti/16 shape", VIT_TINY)):
        keras.utils.set_random_seed(0)
        model = vit(**options)
        size = model.input_shape[1]
        signature = [tf.TensorSpec((None, size, size, 3))]
        plain = tf.function(
            lambda x, model=model: model(x, training=False), input_signature=signature
        ).get_concrete_function()
        xla = tf.function(
            lambda x, model=model: model(x, training=False), input_signature=signature, jit_compile=True
        ).get_concrete_function()
        images = [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(repeats + 2)]
        default, without_xla = gradcam.Explainer(model), gradcam.Explainer(model, jit_compile=False)
        default.explain(images[0])
        default.compiled.wait_for_xla()  # the default compiles XLA's in the background
        x1 = tf.constant(default.prepare_batch([images[0]]))
        for explainer, forward, against in (
            (default, xla, "forward with XLA"),
            (default, plain, "plain forward"),
            (without_xla, plain, "plain forward"),
        ):
            explainer.clear_cache()  # every row's images are new to the explainer
            ms, ref = paired_ms(explainer.explain, images, lambda x, forward=forward: forward(x).numpy(), x1)
            engine = "XLA (default)" if explainer.jit_compile else "no XLA"
            rows.append((f"Grad-CAM, {label} at {explainer.default_layer}, {engine} / {against}", ms, ref))


if __name__ == "__main__":
    main()
