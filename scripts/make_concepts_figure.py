"""Draw the README's concepts picture: Deep Feature Factorization of one photo with the offline
EfficientNet-Lite0, as the app's "What parts does the model see?" view shows it: the concepts over
the photo (each pixel coloured by its strongest concept) with a legend of the classes each votes
for, and each concept's map on its own.

    .venv/bin/python scripts/make_concepts_figure.py [--image sample_images/cat_and_coffee.jpg]
        [--k 4] [--layer LAYER] [--out docs/concepts.png]

Prints the legend, the reconstruction error and the time taken.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT / "sample_images" / "cat_and_coffee.jpg"))
    parser.add_argument("--k", type=int, default=4, help="number of concepts (default 4)")
    parser.add_argument("--layer", default=None, help="a spatial layer (default: the model's default layer)")
    parser.add_argument("--top", type=int, default=2, help="classes named per concept (default 2)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "concepts.png"))
    args = parser.parse_args()

    from gradcam.tensorflow_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    import gradcam
    import model_zoo
    from gradcam.images import load_image
    from gradcam.render import CONCEPT_COLOURS, concepts_overlay

    explainer = gradcam.Explainer(model_zoo.load_model("efficientnet-lite0"))
    image = load_image(args.image)
    try:
        concepts = explainer.concepts(image, k=args.k, layer=args.layer)
    except gradcam.GradCamError as exc:
        raise SystemExit(f"make_concepts_figure: {exc}") from None
    colours = [tuple(int(c) / 255 for c in CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)]) for i in range(concepts.k)]
    labels = concepts.labels(args.top)

    columns = (concepts.k + 1) // 2
    figure = plt.figure(figsize=(6.4 + 2.6 * columns, 5.2))
    grid = figure.add_gridspec(2, 2 + columns, width_ratios=[1.25, 1.25] + [1] * columns)
    main_axis = figure.add_subplot(grid[:, :2])
    main_axis.imshow(concepts_overlay(image, concepts.maps, alpha=0.6))
    main_axis.set_title(
        f"{Path(args.image).name}: {concepts.k} concepts at {concepts.layer}\n"
        f"(reconstruction error {concepts.reconstruction_error:.0%})",
        fontsize=10,
    )
    main_axis.legend(
        handles=[Patch(color=colour, label=label) for colour, label in zip(colours, labels)],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.02),
        fontsize=9,
        frameon=False,
    )
    for i in range(concepts.k):
        axis = figure.add_subplot(grid[i % 2, 2 + i // 2])
        strength = concepts.maps[i][..., None] * 0.6
        tinted = image.astype("float32") * (1 - strength) + CONCEPT_COLOURS[i % len(CONCEPT_COLOURS)] * strength
        axis.imshow(tinted.clip(0, 255).astype("uint8"))
        axis.set_title(f"concept {i + 1}", fontsize=10, color=colours[i])
    for axis in figure.axes:
        axis.axis("off")
    figure.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    for line in labels:
        print(line)
    print(f"reconstruction error {concepts.reconstruction_error:.3f}; {concepts.seconds:.2f} s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
