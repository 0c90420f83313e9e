"""Does Grad-CAM point at the object? A small CNN is trained here, in seconds, to say whether an
image of noise holds a square, a disc, both or neither (two independent yes/no outputs); its maps
must land on the objects."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import gradcam
from tests.helpers.toy_models import DISC, SQUARE, dataset, draw, noise, toy_cnn

# Trains a model (seconds alone, much more on a busy machine): out of the `-m "not slow"` loop.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(42)
    rng = np.random.default_rng(42)
    images, labels, _ = dataset(2000, rng)
    model = toy_cnn(2, "sigmoid")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model.fit(images.astype(np.float32), labels, epochs=12, batch_size=64, verbose=0)
    test_images, test_labels, test_boxes = dataset(160, np.random.default_rng(7))
    predicted = model.predict(test_images.astype(np.float32), verbose=0) > 0.5
    accuracy = float((predicted == (test_labels > 0.5)).all(axis=1).mean())
    assert accuracy > 0.9, (
        f"the toy model did not learn its task (accuracy {accuracy:.2f}); the test would prove nothing"
    )
    explainer = gradcam.Explainer(model, class_names=["square", "disc"])
    assert explainer.output_activation == "sigmoid"  # maps explain the logits under the sigmoid
    return explainer, test_images, test_labels, test_boxes


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam", "scorecam"])
def test_peak_falls_on_the_object(trained, method):
    explainer, images, labels, boxes = trained
    hits = total = 0
    for image, box in zip(images, boxes):
        if len(box) != 1:
            continue
        ((label, (y0, x0, y1, x1)),) = box.items()
        heatmap = explainer.explain(image, target=int(label), method=method).heatmap
        y, x = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        hits += (y0 - 2 <= y < y1 + 2) and (x0 - 2 <= x < x1 + 2)
        total += 1
    assert hits / total >= 0.9, f"{method}: peak on the object in {hits} of {total} images"


def test_each_class_map_favours_its_own_object(trained):
    explainer = trained[0]
    rng = np.random.default_rng(99)
    wins = 0
    for trial in range(10):
        image = noise(rng)
        left, right = (SQUARE, DISC) if trial % 2 == 0 else (DISC, SQUARE)
        boxes = {left: draw(left, rng, image, center=(20, 10)), right: draw(right, rng, image, center=(20, 30))}
        square_map, disc_map = (r.heatmap for r in explainer.explain_targets(image, ["square", "disc"]))

        def mean_in(heatmap, box):
            y0, x0, y1, x1 = box
            return heatmap[y0:y1, x0:x1].mean()

        wins += mean_in(square_map, boxes[SQUARE]) > mean_in(square_map, boxes[DISC]) and mean_in(
            disc_map, boxes[DISC]
        ) > mean_in(disc_map, boxes[SQUARE])
    assert wins >= 9, f"each class's map favoured its own object in only {wins} of 10 images"
