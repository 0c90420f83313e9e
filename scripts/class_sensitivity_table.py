"""Measure how much the maps of the 2nd and the 51st most probable classes repeat the top class's map,
on every shipped sample, with the offline EfficientNet-Lite0 and Grad-CAM (gradcam.class_sensitivity).

    .venv/bin/python scripts/class_sensitivity_table.py [--method gradcam] [--ranks 2 51] [--n-random 8]

Prints a Markdown table (docs/class-sensitivity.md carries its output): per image and rank, the
class, its probability, Spearman's rho of its map against the top class's map on the 56x56 grid,
the verdict, and the Random Logit baseline (the mean rho of n random classes, seed 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="gradcam")
    parser.add_argument("--ranks", nargs="+", type=int, default=[2, 51], help="class ranks to measure (1 = top)")
    parser.add_argument("--n-random", type=int, default=8)
    args = parser.parse_args()

    from gradcam.tensorflow_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    import gradcam
    import model_zoo
    from gradcam.images import load_image

    explainer = gradcam.Explainer(model_zoo.load_model("efficientnet-lite0"))
    print(f"| image | top class | rank | class | p | rho vs top | verdict | random mean rho (n={args.n_random}) |")
    print("|---|---|---:|---|---:|---:|---|---:|")
    for path in sorted((ROOT / "sample_images").glob("*.jpg")):
        image = load_image(path)
        ranked = gradcam.top_classes(explainer.predict(image), explainer.class_names, max(args.ranks))
        for number, rank in enumerate(args.ranks):
            index, name, probability = ranked[rank - 1]
            found = gradcam.class_sensitivity(
                explainer, image, index, method=args.method, n_random=args.n_random if number == 0 else 0
            )
            baseline = f"{found.random_mean:.2f}" if number == 0 and found.random_mean is not None else ""
            rho = "n/a" if found.similarity_to_top is None else f"{found.similarity_to_top:.2f}"
            print(
                f"| {path.name} | {found.top_name} ({found.top_probability:.1%}) | {rank} | {name} | "
                f"{probability:.4%} | {rho} | {found.verdict} | {baseline} |"
            )


if __name__ == "__main__":
    main()
