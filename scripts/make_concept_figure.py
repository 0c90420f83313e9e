"""Draw the README's concept comparison: two class groups of one photo on one colour scale, and the
contrast between them, with the offline EfficientNet-Lite0.

    .venv/bin/python scripts/make_concept_figure.py [--image sample_images/cat_and_coffee.jpg]
        [--groups "domestic cat" beverage] [--out docs/concept_comparison.png]

Prints each group's probability, its most probable member and the map's peak on the shared scale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT / "sample_images" / "cat_and_coffee.jpg"))
    parser.add_argument("--groups", nargs=2, default=["domestic cat", "beverage"], metavar=("A", "B"))
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--out", default=str(ROOT / "docs" / "concept_comparison.png"))
    args = parser.parse_args()

    from gradcam.tensorflow_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import gradcam
    import model_zoo
    from gradcam.images import load_image

    explainer = gradcam.Explainer(model_zoo.load_model("efficientnet-lite0"))
    image = load_image(args.image)
    a, b = (gradcam.Group(name) for name in args.groups)
    results = explainer.explain_targets(image, [a, b, gradcam.Contrast(a, b)], method=args.method)
    scaled = gradcam.shared_scale(results[:2]) + [results[2].heatmap]
    figure, axes = plt.subplots(1, 4, figsize=(16, 3.1))
    axes[0].imshow(image)
    axes[0].set_title(Path(args.image).name)
    for axis, result, heat in zip(axes[1:], results, scaled):
        axis.imshow(gradcam.overlay(image, heat, colormap="jet", alpha=0.5))
        if result.contrast_name:
            title = f"why {result.target_name}\nrather than {result.contrast_name} (own scale)"
        else:
            title = (
                f"{result.target_name}: group of {len(result.target_members)}, p = "
                f"{result.target_probability:.1%}\npeak {result.peak / max(r.peak for r in results[:2]):.0%} "
                "of the stronger"
            )
        axis.set_title(title, fontsize=10)
    for axis in axes:
        axis.axis("off")
    figure.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    names = explainer.class_names
    for result in results[:2]:
        print(
            f"{result.target_name:14s} p = {result.target_probability:.3f} "
            f"over {len(result.target_members)} classes; "
            f"most probable member {names[result.target_index]} "
            f"({result.probabilities[result.target_index]:.3f}); peak {result.peak:.4f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
