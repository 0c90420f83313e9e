"""Generate a large dataset run for measuring the Dataset view's explorer (issue 21: at most 1 s from
a selection on the map to the redrawn grid, on a 20,000-image run).

    .venv/bin/python benchmarks/make_large_run.py RUNS_DIR [--count 20000] [--name large]

Explaining 20,000 photos takes hours on this 2-core machine, so the run is generated, not
explained: ``--count`` small JPEGs (32x32, 40 "classes" of colour and noise) in
``RUNS_DIR/../large-src``, and a run folder written through the engine's own writer
(:class:`gradcam.dataset.results.RunFolder`: shards of 1,000 rows, each with its embeddings file,
then results.parquet and run.json) with the results' full schema, one 32x32 heatmap per input
(a blob at a class-dependent place), 1,280-dimensional embeddings in 40 clusters, labels (5% wrong),
scores computed by :func:`gradcam.dataset.scores.output_scores` from a made-up distribution, and
the map laid out by PCA (t-SNE of 20,000 points takes minutes; the view reads whichever is stored).
The view opens it like any other run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gradcam.dataset.results import RunFolder  # noqa: E402
from gradcam.dataset.scores import output_scores  # noqa: E402

CLASSES = 40
SIDE = 32
SHARD = 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs_dir")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--name", default="large")
    args = parser.parse_args()
    import model_zoo

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    runs = Path(args.runs_dir)
    source = runs.parent / f"{args.name}-src"
    source.mkdir(parents=True, exist_ok=True)
    names = model_zoo.imagenet_class_names()
    classes = rng.choice(1000, CLASSES, replace=False)
    colours = rng.integers(0, 256, (CLASSES, 3))
    centres = rng.normal(0, 1, (CLASSES, 1280)).astype(np.float32)
    folder = RunFolder(runs / args.name)
    paths = [f"c{i % CLASSES:02d}/img{i:06d}.jpg" for i in range(args.count)]
    paths = sorted(paths)
    folder.write_manifest(
        {
            "version": 1,
            "fingerprint": "generated",
            "fields": {
                "source": str(source),
                "kind": "folder",
                "model": json.dumps({"classes": None, "model": "efficientnet-lite0", "preprocessing": "tf"}),
                "methods": ["gradcam"],
                "layer": None,
                "metrics": False,
            },
            "inputs": paths,
        }
    )
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    rows, batch_indices, batch_vectors = [], [], []
    for index, path in enumerate(paths):
        c = int(path[1:3])
        pixels = np.clip(colours[c] + rng.normal(0, 30, (SIDE, SIDE, 3)), 0, 255).astype(np.uint8)
        target = source / path
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(target, quality=85)
        data = target.read_bytes()
        cy, cx = (c % 5) * 6 + 4 + rng.normal(0, 1.5), (c // 5) * 3 + 4 + rng.normal(0, 1.5)
        heatmap = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0).astype(np.float32)
        relative = RunFolder.heatmap_name("gradcam", index)
        folder.save_heatmap(relative, heatmap)
        logits = rng.normal(0, 1, 1000)
        predicted_class = c if rng.random() > 0.1 else (c + 1) % CLASSES
        logits[classes[predicted_class]] += rng.uniform(2, 9)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        predicted = int(np.argmax(p))
        label_index = int(classes[c]) if rng.random() > 0.05 else int(classes[(c + 2) % CLASSES])
        top = np.argsort(-p)[:5]
        rows.append(
            {
                "input_index": index,
                "path": path,
                "sha256": hashlib.sha256(data).hexdigest(),
                "status": "ok",
                "error": "",
                "label": names[label_index],
                "label_index": label_index,
                "predicted_index": predicted,
                "predicted_name": names[predicted],
                "predicted_probability": float(p[predicted]),
                "target_index": predicted,
                "target_name": names[predicted],
                "target_probability": float(p[predicted]),
                "method": "gradcam",
                "layer": "head_activation",
                "heatmap_path": relative,
                "height": SIDE,
                "width": SIDE,
                "peak_x": int(round(cx)),
                "peak_y": int(round(cy)),
                "border_share": 0.2,
                "empty": False,
                "top5_indices": [int(i) for i in top],
                "top5_names": [names[int(i)] for i in top],
                "top5_probabilities": [float(p[i]) for i in top],
                "notes": "",
                **output_scores(p, predicted, label_index),
            }
        )
        batch_indices.append(index)
        batch_vectors.append(np.maximum(centres[c] + rng.normal(0, 0.5, 1280), 0))
        if len(batch_indices) == SHARD or index == len(paths) - 1:
            name = folder.new_shard_name(rows[-len(batch_indices) :])
            folder.save_embeddings(name, batch_indices, np.stack(batch_vectors))
            folder.commit_shard(rows[-len(batch_indices) :], name)
            batch_indices, batch_vectors = [], []
            print(f"{index + 1}/{len(paths)} inputs written ({time.perf_counter() - started:.0f} s)")
    info = {
        "model": {
            "name": "efficientnet-lite0",
            "label": "EfficientNet-Lite0 (generated run)",
            "spec": {"model": None, "classes": None, "preprocessing": "tf"},
            "weights_sha256": "generated",
            "input_size": [224, 224],
            "classes": 1000,
            "class_names": names,
        },
        "methods": ["gradcam"],
        "layer": "head_activation",
        "embeddings": {"layer": "head_activation", "pooling": "generated", "dtype": "float16"},
        "target": "top",
        "options": {"batch_size": SHARD, "metrics": False, "metric_steps": None, "labels": None},
        "source": {"path": str(source), "kind": "folder", "skipped_hidden": 0},
        "engine": {"name": "generated"},
        "counts": {"inputs": len(rows), "rows": len(rows), "ok": len(rows), "errors": 0},
        "timings": {},
        "versions": {},
    }
    folder.write_results(folder.gather(["gradcam"]), info)
    from gradcam.dataset.layout import compute_map

    compute_map(folder.root, algorithm="pca")
    print(f"{folder.root}: {len(rows)} inputs, map stored ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
