"""Embeddings and the map of a run (issue 21, item 2): each input's pooled vector is the one the
classifier's head receives (checked by pushing it through the head), kept exactly once per
committed input, and laid out in 2-D with the explanation vectors, stored and reused."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from gradcam.dataset import RunFolder, load_embeddings
from gradcam.dataset.layout import MAP_COLUMNS, compute_map, layout_2d, read_map
from gradcam.images import decode_image


def test_each_inputs_embedding_is_what_the_head_receives(labelled_run, lite0):
    _, explainer = lite0
    indices, vectors = load_embeddings(labelled_run)
    rows = {r["input_index"]: r for r in pq.read_table(labelled_run / "results.parquet").to_pylist()}
    ok = sorted(i for i, r in rows.items() if r["status"] == "ok")
    assert indices.tolist() == ok and vectors.shape == (8, 1280) and vectors.dtype == np.float32
    stored = list((labelled_run / "embeddings").glob("*.npz"))
    assert stored and all(np.load(p)["embedding"].dtype == np.float16 for p in stored)
    kernel, bias = explainer.layer_functions(None).linear_head()
    source = labelled_run.parent.parent / "src-photos" / "images"
    for index, vector in zip(indices, vectors):
        row = rows[int(index)]
        # Through the dense head, the stored vector gives back the model's own top probability
        # (to float16 rounding of the vector).
        logits = vector.astype(np.float64) @ kernel + bias
        p = np.exp(logits - logits.max())
        p /= p.sum()
        assert int(np.argmax(p)) == row["predicted_index"]
        assert p.max() == pytest.approx(row["predicted_probability"], abs=5e-3)
        fresh = explainer.embeddings([decode_image((source / row["path"]).read_bytes()).pixels])[0]
        assert np.abs(fresh - vector).max() <= 2e-3 * max(1.0, np.abs(fresh).max())


def test_embeddings_of_a_shard_that_never_committed_are_not_read(labelled_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(labelled_run, copy)
    folder = RunFolder(copy)
    # A kill between the embeddings file and its shard leaves an orphan: it must not count.
    folder.save_embeddings(folder.new_shard_name([{"input_index": 0}]), [0, 1], np.ones((2, 1280)))
    before, after = load_embeddings(labelled_run), load_embeddings(copy)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])


def test_layouts_by_hand():
    # Two well separated groups stay separated on both axes' first one.
    rng = np.random.default_rng(0)
    points = np.vstack([rng.normal(0, 0.1, (20, 8)), rng.normal(5, 0.1, (20, 8))])
    for algorithm in ("pca", "tsne"):
        xy = layout_2d(points, algorithm)
        assert xy.shape == (40, 2) and np.isfinite(xy).all()
        a, b = xy[:20].mean(axis=0), xy[20:].mean(axis=0)
        spread = max(xy[:20].std(axis=0).max(), xy[20:].std(axis=0).max())
        assert np.linalg.norm(a - b) > 4 * spread, algorithm
    with pytest.raises(Exception, match="expected one of tsne, pca"):
        layout_2d(points, "umap")


def test_the_map_is_stored_and_recomputed_only_when_asked(labelled_run, capsys):
    from gradcam.cli import main

    table = compute_map(labelled_run, algorithm="tsne")
    assert tuple(table.column_names) == MAP_COLUMNS and table.num_rows == 8
    assert all(v is not None for v in table.column("embedding_x").to_pylist())
    stamp = os.stat(labelled_run / "map.parquet").st_mtime_ns
    again = compute_map(labelled_run, algorithm="tsne")
    assert again.equals(table) and os.stat(labelled_run / "map.parquet").st_mtime_ns == stamp
    assert main(["dataset", "map", str(labelled_run), "--recompute"]) == 0
    assert "Wrote" in capsys.readouterr().out and os.stat(labelled_run / "map.parquet").st_mtime_ns != stamp
    assert json.loads((labelled_run / "map.json").read_text())["embedded"] == 8
    assert read_map(labelled_run).num_rows == 8
    assert main(["dataset", "map", str(labelled_run), "--method", "occlusion"]) != 0
    assert "has no 'occlusion' maps" in capsys.readouterr().err
