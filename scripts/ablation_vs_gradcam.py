"""How closely Ablation-CAM's map follows Grad-CAM's, class by class, on one real photo (issue 13).

    python scripts/ablation_vs_gradcam.py [--image sample_images/cat_and_coffee.jpg] [--classes 800 907 967 285]

Uses the model zoo's EfficientNet-Lite0 (offline, real weights) at its last layer. For each class
it prints the logit, the probability, and the Pearson correlation between the two methods'
normalised heatmaps (and between their coarse maps at the layer's resolution), and, as a check
of the implementation, between Ablation-CAM's coarse map and its closed form on Lite0's linear
head (GAP + dense: removing channel k lowers logit c by exactly W_kc mean(A_k), so the map is
ReLU(sum_k W_kc mean(A_k) A_k) up to a positive factor; Grad-CAM's is ReLU(sum_k W_kc A_k), so the
two differ by the factor mean(A_k) per channel and need not agree closely). Ablation-CAM's
equation 3 divides by the logit, so before issue 13 a class with a negative logit (most
low-probability classes) got a map of the evidence *against* it: a negative or low correlation
here. After the fix every row should agree about as well as the high-probability classes do.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradcam.tensorflow_import import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # before TensorFlow's own import, to hide its start-up notices

import keras  # noqa: E402
import numpy as np  # noqa: E402

import gradcam  # noqa: E402
import model_zoo  # noqa: E402
from gradcam.images import load_image  # noqa: E402

# Slot machine, wine bottle, espresso, Egyptian cat: the four classes.
DEFAULT_CLASSES = (800, 907, 967, 285)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two maps; NaN when either is constant (an empty map has no order)."""
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=str(ROOT / "sample_images" / "cat_and_coffee.jpg"))
    parser.add_argument("--classes", type=int, nargs="+", default=list(DEFAULT_CLASSES))
    args = parser.parse_args()

    zoo_model = model_zoo.load_model("efficientnet-lite0")
    explainer = gradcam.Explainer(zoo_model)
    image = load_image(args.image)
    # Lite0's last layer is a Dense without activation: its outputs are the logits.
    x = explainer.preprocess(explainer.model_input(image)[None])
    logits = np.asarray(zoo_model.keras_model(x, training=False))[0]
    probabilities = explainer.predict(image)
    layer = explainer.default_layer
    activations = np.asarray(
        keras.Model(zoo_model.keras_model.input, zoo_model.keras_model.get_layer(layer).output)(x)
    )[0]
    kernel = zoo_model.keras_model.get_layer("logits").get_weights()[0]  # (K, classes)
    print(f"image: {Path(args.image).name}   model: efficientnet-lite0   layer: {layer}")
    print("r: Pearson correlation of Ablation-CAM with Grad-CAM (heatmaps; coarse maps), and with its closed form")
    print(f"{'class':>5}  {'name':<16} {'logit':>7} {'prob %':>8}  {'r heatmap':>9}  {'r coarse':>8}  {'r closed':>8}")
    grad = explainer.explain_targets(image, args.classes, method="gradcam")
    ablation = explainer.explain_targets(image, args.classes, method="ablationcam")
    for index, g, a in zip(args.classes, grad, ablation):
        closed = np.maximum(activations @ (kernel[:, index] * activations.mean(axis=(0, 1))), 0.0)
        print(
            f"{index:>5}  {g.target_name[:16]:<16} {logits[index]:7.3f} {100 * probabilities[index]:8.4f}  "
            f"{correlation(g.heatmap, a.heatmap):9.3f}  {correlation(g.coarse, a.coarse):8.3f}  "
            f"{correlation(closed, a.coarse):8.3f}"
        )


if __name__ == "__main__":
    main()
