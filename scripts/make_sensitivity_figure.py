"""Draw the class-sensitivity picture of docs/class-sensitivity.md: a low-probability class's map on a
shipped sample, its verdict (is it about the class, or the top class's map again?) and its
contrastive map "why this class rather than the top one", with the offline EfficientNet-Lite0.

    .venv/bin/python scripts/make_sensitivity_figure.py [--image sample_images/cat_and_coffee.jpg]
        [--rank 51 | --target "feather boa"] [--method gradcam] [--out docs/images/class-sensitivity.png]

Prints the class, its probability, its similarity to the top class's map and the verdict.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT / "sample_images" / "cat_and_coffee.jpg"))
    parser.add_argument("--rank", type=int, default=51, help="the class's rank by probability (1 = top)")
    parser.add_argument("--target", default=None, help="a class name instead of --rank")
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "class-sensitivity.png"))
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
    if args.target is None:
        target = gradcam.top_classes(explainer.predict(image), explainer.class_names, args.rank)[-1][0]
    else:
        target = explainer.class_index(args.target)
    found = gradcam.class_sensitivity(explainer, image, target, method=args.method, n_random=8)
    (contrast,) = explainer.explain_targets(image, [gradcam.Contrast(target, found.top_index)], method=args.method)
    rank = [i for i, _, _ in gradcam.top_classes(found.explanation.probabilities, explainer.class_names, 1000)]
    print(
        f"{Path(args.image).name}: {found.target_label} (p = {found.target_probability:.4%}, rank "
        f"{rank.index(found.target_index) + 1}) vs {found.top_name}: rho {found.similarity_to_top:.3f}, "
        f"{found.verdict}; random classes' mean rho {found.random_mean:.3f}"
    )
    figure, axes = plt.subplots(1, 4, figsize=(17, 3.5))
    panels = [
        (image, f"{Path(args.image).name}"),
        (
            gradcam.overlay(image, found.top_explanation.heatmap, "jet", 0.5),
            f"top class: {found.top_name}\np = {found.top_probability:.1%}",
        ),
        (
            gradcam.overlay(image, found.explanation.heatmap, "jet", 0.5),
            f"{found.target_label}: p = {found.target_probability:.2%}, rank {rank.index(found.target_index) + 1}"
            f"\nverdict: {found.verdict} (rho = {found.similarity_to_top:.2f})",
        ),
        (
            gradcam.overlay(image, contrast.heatmap, "jet", 0.5),
            f"why {found.target_label}\nrather than {found.top_name} (contrastive map)",
        ),
    ]
    for axis, (picture, title) in zip(axes, panels):
        axis.imshow(picture)
        axis.set_title(title, fontsize=11)
        axis.axis("off")
    figure.text(0.5, 0.03, "\n".join(textwrap.wrap(found.reading, 150)), ha="center", fontsize=11, style="italic")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
