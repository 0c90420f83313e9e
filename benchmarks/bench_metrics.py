"""Cost of each faithfulness metric, as a multiple of one forward pass.

    python benchmarks/bench_metrics.py [--model efficientnet-lite0] [--repeats 3] [--image PATH]
    python benchmarks/bench_metrics.py --only-trust [--repeats 1]     # the Quantus-defined metrics
                                                                      # and the trust block only
    python benchmarks/bench_metrics.py --trust-samples                # the trust block on every
                                                                      # shipped sample's top class

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
    parser.add_argument(
        "--only-trust",
        action="store_true",
        help="time only the Quantus-defined metrics (sparseness ... random_logit) and the trust block",
    )
    parser.add_argument(
        "--trust-samples",
        action="store_true",
        help="print the trust block of each shipped sample's top class and 2nd class (figures for the docs)",
    )
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

    if args.trust_samples:
        trust_samples(explainer, args.method)
        return
    common = dict(steps=args.steps, batch_size=args.batch_size, baseline=False)
    h0, w0 = image.shape[:2]
    trust_cases = [
        ("sparseness", dict(metrics=["sparseness"])),
        ("complexity", dict(metrics=["complexity"])),
        ("faithfulness_correlation (100 runs)", dict(metrics=["faithfulness_correlation"])),
        ("irof (SLIC superpixels)", dict(metrics=["irof"])),
        ("max_sensitivity (200 samples)", dict(metrics=["max_sensitivity"])),
        ("max_sensitivity (20 samples, trust block)", dict(metrics=["max_sensitivity"], sensitivity_samples=20)),
        ("random_logit", dict(metrics=["random_logit"])),
    ]
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
    cases = trust_cases if args.only_trust else cases + trust_cases
    rows = []
    for name, options in cases:

        def run(options=options):
            # Each run starts with an empty activation cache: otherwise max-sensitivity's noisy
            # copies (the same for the same seed) would come from the previous run's cache.
            explainer.clear_cache()
            return evaluate(explainer, image, explanation, **{**common, **options})

        seconds, result = timed(run, args.repeats)
        explained = int(result.details.get("explained_images", 0))
        rows.append((name, seconds * 1000, seconds / forward, result.forward_images, explained))

    def block():
        from gradcam.trust import trust_report

        explainer.clear_cache()
        return trust_report(explainer, image, explanation, steps=args.steps)

    seconds, report = timed(block, args.repeats)
    rows.append(
        (
            "trust block (del+ins, random map, 20-sample max-sensitivity, class sensitivity, Gini)",
            seconds * 1000,
            seconds / forward,
            report.forward_images,
            report.explained_images,
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(width)}  {'median ms':>10}  {'x forward':>10}  {'images':>7}  {'explained':>9}")
    for name, ms, multiple, images, explained in rows:
        print(f"{name.ljust(width)}  {ms:10.1f}  {multiple:10.1f}  {images:7d}  {explained:9d}")
    print(
        "\n'images': images sent through the network (the full image once, plus the perturbed ones);"
        "\n'explained': images explained again (max-sensitivity's noisy copies and its reference map);"
        "\nrandomization: the model copy is made on the warm-up run and reused (first call costs more)."
    )
    print("\nThe trust block of this map:")
    print_report(report)


def print_report(report) -> None:
    if report.flag:
        print(f"  FLAG: {report.flag}")
    for line in report.lines:
        extra = f" [{line.random_figure}]" if line.random_figure else ""
        print(f"  {line.question:<18} {line.answer:<12} {line.figure}{extra}")
        print(f"  {'':<18} {line.reading}")


def trust_samples(explainer, method: str) -> None:
    """The trust block of the top class and the 2nd class of each shipped sample, and the random
    map's insertion - deletion as a share of the class's probability (FAITHFUL_SHARE's evidence)."""
    from gradcam.trust import trust_report

    folder = Path(__file__).resolve().parents[1] / "sample_images"
    print(f"{'image':<22} {'class':<26} {'p':>7}  {'gap':>7} {'random':>7} {'adv/p':>7}  answers")
    for path in sorted(folder.glob("*.jpg")):
        image = gradcam.images.load_image(str(path))
        top = explainer.top_k(image, 2)
        for index, name, probability in top:
            explanation = explainer.explain(image, target=index, method=method)
            report = trust_report(explainer, image, explanation)
            faithful = report.line("faithful")
            share = (faithful.value - faithful.random_value) / probability
            answers = ", ".join(f"{line.key}={line.answer}" for line in report.lines)
            print(
                f"{path.name:<22} {name[:26]:<26} {probability:7.2%}  {faithful.value:7.3f} "
                f"{faithful.random_value:7.3f} {share:7.2f}  {answers}; "
                f"rho={report.line('about_class').value}, ms={report.line('stable').value:.2f}, "
                f"gini={report.line('focused').value:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
