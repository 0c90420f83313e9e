"""The audit finds what it exists to find (issue 12, item 6): a Clever-Hans watermark.

A small CNN is trained on generated pictures of squares and discs at random places, where the
third class, "watermarked", is squares and discs alike plus a fixed mark in the top-left corner:
the mark is the only thing that tells that class apart, so the model must learn the shortcut.
The test first checks that it did (removing the mark changes the prediction; pasting the mark on
other pictures makes them "watermarked"), and refuses to judge the report otherwise. Then a
dataset run and its report must flag that class, and only it, as a border / fixed-spot class,
with a SpRAy cluster whose mean map sits on the mark.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradcam.dataset import ModelSpec, build_report, run_dataset

SIZE = 48
CLASSES = ("watermarked", "square", "disc")
MARK = (slice(2, 10), slice(2, 10))  # rows, columns of the watermark
MARK_BOX = (2, 2, 9, 9)  # x0, y0, x1, y1 inclusive, in the 48 x 48 model input


def _background(rng) -> np.ndarray:
    return np.clip(rng.normal(110, 25, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)


def _draw(rng, shape: str, image: np.ndarray) -> None:
    # Shapes stay clear of the top-left corner, so they never overlap the mark.
    radius = int(rng.integers(5, 9))
    cx, cy = (int(v) for v in rng.integers(16, SIZE - radius - 1, 2))
    # Squares are warm and discs cool: two cues, so a small model separates them in seconds.
    warm, cool = rng.integers(170, 256), rng.integers(0, 70)
    colour = (warm, rng.integers(60, 200), cool) if shape == "square" else (cool, rng.integers(60, 200), warm)
    ys, xs = np.mgrid[:SIZE, :SIZE]
    if shape == "square":
        inside = (abs(xs - cx) <= radius) & (abs(ys - cy) <= radius)
    else:
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    image[inside] = colour


def _mark(image: np.ndarray) -> np.ndarray:
    marked = image.copy()
    marked[MARK] = (255, 0, 255)
    marked[4:8, 4:8] = (0, 0, 0)
    return marked


def make_images(rng, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for label, name in enumerate(CLASSES):
        for _ in range(per_class):
            image = _background(rng)
            _draw(rng, name if name != "watermarked" else rng.choice(["square", "disc"]), image)
            images.append(_mark(image) if name == "watermarked" else image)
            labels.append(label)
    return np.stack(images), np.array(labels)


def train(folder: Path) -> tuple[Path, Path, object]:
    import keras

    keras.utils.set_random_seed(0)
    images, labels = make_images(np.random.default_rng(0), 300)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax")(x)
    model = keras.Model(inputs, outputs, name="watermark_cnn")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=10, batch_size=32, verbose=0, shuffle=True)
    path, classes = folder / "watermark.keras", folder / "classes.txt"
    model.save(path)
    classes.write_text("\n".join(CLASSES) + "\n")
    return path, classes, model


@pytest.mark.slow
def test_the_report_flags_the_watermarked_class_and_only_it(tmp_path):
    started = time.perf_counter()
    model_path, classes_path, model = train(tmp_path)
    trained = time.perf_counter() - started

    # Did the model learn the shortcut? Otherwise the report's verdict would prove nothing.
    test_images, test_labels = make_images(np.random.default_rng(1), 20)
    predicted = np.argmax(model.predict(test_images, verbose=0), axis=1)
    accuracy = float(np.mean(predicted == test_labels))
    marked = test_labels == 0
    unmarked_again = test_images[marked].copy()
    unmarked_again[:, MARK[0], MARK[1]] = _background(np.random.default_rng(2))[MARK]
    without_mark = float(np.mean(np.argmax(model.predict(unmarked_again, verbose=0), axis=1) == 0))
    pasted = np.stack([_mark(i) for i in test_images[~marked]])
    with_mark = float(np.mean(np.argmax(model.predict(pasted, verbose=0), axis=1) == 0))
    assert accuracy >= 0.9 and without_mark <= 0.2 and with_mark >= 0.8, (
        f"the model did not learn the watermark shortcut (accuracy {accuracy:.2f}, 'watermarked' without the "
        f"mark {without_mark:.2f}, other pictures with the mark {with_mark:.2f}); the report cannot be judged"
    )

    # The audit: a dataset run over the test pictures (in class folders, with labels), then the report.
    src = tmp_path / "pictures"
    lines = ["path,label"]
    for number, (image, label) in enumerate(zip(test_images, test_labels)):
        relative = f"{CLASSES[label]}/{number:03d}.png"
        (src / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(src / relative)
        lines.append(f"{relative},{CLASSES[label]}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    spec = ModelSpec(str(model_path), str(classes_path), "raw")
    run = tmp_path / "run"
    summary = run_dataset(src, run, spec=spec, labels=tmp_path / "labels.csv", batch_size=32)
    assert summary.ok == 60 and summary.errors == 0
    report = build_report(run)

    flagged = {c["name"]: c["flags"] for c in report["classes"] if c["flags"]}
    keys = ("name", "count", "border_share", "spot", "spot_spread", "flags")
    assert list(flagged) == ["watermarked"], json.dumps([{k: c[k] for k in keys} for c in report["classes"]])
    watermarked = next(c for c in report["classes"] if c["name"] == "watermarked")
    assert "fixed_spot" in watermarked["flags"]
    x0, y0, x1, y1 = MARK_BOX
    tolerance = 4  # one cell of the 12 x 12 layer the maps come from
    on_mark = [
        c
        for c in watermarked["clusters"]
        if x0 - tolerance <= c["mean_map_peak"][0] <= x1 + tolerance
        and y0 - tolerance <= c["mean_map_peak"][1] <= y1 + tolerance
    ]
    assert on_mark, watermarked["clusters"]
    assert (run / on_mark[0]["mean_map"]).exists() and (run / "report.html").exists()
    assert report["accuracy"] >= 0.9 and report["labels"][0]["name"] == "watermarked"
    print(
        f"watermark test: trained in {trained:.1f}s; accuracy {accuracy:.2f}; 'watermarked' without the mark "
        f"{without_mark:.2f}, others with the mark {with_mark:.2f}; flagged {flagged}; clusters of 'watermarked': "
        f"{[(c['size'], c['mean_map_peak']) for c in watermarked['clusters']]}; "
        f"total {time.perf_counter() - started:.1f}s"
    )
