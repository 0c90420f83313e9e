"""A map of a run: two 2-D layouts of its inputs, one of the embeddings (what the network sees,
:meth:`gradcam.Explainer.embeddings`) and one of the explanation vectors SpRAy clusters (where the
network looks, :func:`gradcam.dataset.report.spray_vectors`).

``compute_map(RUN)`` writes ``RUN/map.parquet`` (one row per explained input of one method) and
``RUN/map.json`` (how it was made). It is computed once and read back afterwards; only
``recompute=True`` (``gradcam dataset map RUN --recompute``) computes it again.

The layout is t-SNE (scikit-learn, Barnes-Hut, PCA initialisation, after a PCA to at most 50
dimensions as van der Maaten recommends), or PCA alone with ``algorithm="pca"``. UMAP
(umap-learn) would be as good a map, but it brings numba and llvmlite, whose import and first
just-in-time compilation take seconds on every new process; scikit-learn is already here and
its import stays off the app's start (imported on first use). Both layouts are seeded: the same
run gives the same map.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from .errors import RunFolderError
from .results import RunFolder, load_embeddings

ALGORITHMS = ("tsne", "pca")
#: Dimensions kept by the PCA before t-SNE.
PCA_DIMENSIONS = 50
#: t-SNE's perplexity (scikit-learn's default), lowered for small runs (it must stay below n).
PERPLEXITY = 30.0

#: The columns of map.parquet, in order.
MAP_COLUMNS = (
    "input_index",
    "path",
    "method",
    "embedding_x",
    "embedding_y",
    "explanation_x",
    "explanation_y",
)


def layout_2d(vectors: np.ndarray, algorithm: str = "tsne", seed: int = 0) -> np.ndarray:
    """A 2-D layout (n, 2) float32 of ``vectors`` (n, d).

    Args:
        vectors: one row per point.
        algorithm: "tsne" or "pca" (see the module docstring).
        seed: seeds t-SNE (PCA is deterministic up to sign, fixed here by making each axis's
            largest coordinate positive).

    Raises:
        RunFolderError: an unknown algorithm (the valid ones listed).
    """
    if algorithm not in ALGORITHMS:
        raise RunFolderError(f"Unknown map algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}.")
    x = np.asarray(vectors, np.float64)
    n = len(x)
    if n == 0:
        return np.zeros((0, 2), np.float32)
    if n < 3:
        return np.column_stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)])
    reduced = _pca(x, min(PCA_DIMENSIONS, x.shape[1], n))
    if algorithm == "pca" or n < 5:
        out = reduced[:, :2]
        if out.shape[1] < 2:
            out = np.column_stack([out, np.zeros(n)])
        return out.astype(np.float32)
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=min(PERPLEXITY, (n - 1) / 3),
        init="pca",
        random_state=seed,
        n_jobs=1,  # a shared 2-core machine; Barnes-Hut is fast enough on one
    )
    return tsne.fit_transform(reduced).astype(np.float32)


def _pca(x: np.ndarray, dimensions: int) -> np.ndarray:
    """The first ``dimensions`` principal components' scores, signs fixed (largest |score| > 0)."""
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    scores = u[:, :dimensions] * s[:dimensions]
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(scores.shape[1])])
    return scores * np.where(signs == 0, 1.0, signs)


def compute_map(
    run: str | os.PathLike,
    method: str | None = None,
    *,
    algorithm: str | None = None,
    recompute: bool = False,
    seed: int = 0,
):
    """The map of a finished run (a pyarrow Table with :data:`MAP_COLUMNS`): read from
    ``RUN/map.parquet`` when it exists for the same method and algorithm, else computed and saved.

    Args:
        run: a finished run folder.
        method: whose maps give the explanation layout; default the run's first method.
        algorithm: "tsne" or "pca"; None (default): the stored map's, whichever it is, else "tsne".
        recompute: compute and save again even if a map is stored.
        seed: seeds the layout.

    Raises:
        RunFolderError: not a finished run, a method the run lacks, an unknown algorithm.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .report import SPRAY_SIZE, at_input_size, spray_vectors

    folder = RunFolder(run)
    if not folder.is_complete():
        raise RunFolderError(
            f"{run}: not a finished run (results.parquet and run.json are missing). Finish it with "
            "'gradcam dataset run SRC --out RUN' first."
        )
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise RunFolderError(f"Unknown map algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}.")
    info = json.loads(folder.run_json_path.read_text())
    method = method or info["methods"][0]
    if method not in info["methods"]:
        raise RunFolderError(f"{run}: the run has no {method!r} maps; it has {', '.join(info['methods'])}.")
    map_path, meta_path = folder.root / "map.parquet", folder.root / "map.json"
    if not recompute and map_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("method") == method and algorithm in (None, meta.get("algorithm")):
            return pq.read_table(map_path)
    algorithm = algorithm or ALGORITHMS[0]

    started = time.perf_counter()
    rows = [r for r in pq.read_table(folder.results_path).to_pylist() if r["method"] == method and r["status"] == "ok"]
    height, width = info["model"]["input_size"]
    # One map at a time to its SpRAy vector: a stack of maps at the input size would need
    # n x 224 x 224 floats (4 GB for 20,000 inputs).
    vectors_e = np.zeros((len(rows), SPRAY_SIZE * SPRAY_SIZE), np.float32)
    for k, r in enumerate(rows):
        vectors_e[k] = spray_vectors(at_input_size(np.load(folder.root / r["heatmap_path"]), height, width)[None])[0]
    explanation = layout_2d(vectors_e, algorithm, seed)
    indices, vectors = load_embeddings(folder.root)
    where = {int(i): k for k, i in enumerate(indices)}
    have = [r for r in rows if r["input_index"] in where]
    embedded = layout_2d(
        vectors[[where[r["input_index"]] for r in have]] if have else np.zeros((0, 1)), algorithm, seed
    )
    position = {r["input_index"]: embedded[k] for k, r in enumerate(have)}
    columns: dict[str, list] = {name: [] for name in MAP_COLUMNS}
    for k, row in enumerate(rows):
        point = position.get(row["input_index"])
        columns["input_index"].append(row["input_index"])
        columns["path"].append(row["path"])
        columns["method"].append(method)
        columns["embedding_x"].append(None if point is None else float(point[0]))
        columns["embedding_y"].append(None if point is None else float(point[1]))
        columns["explanation_x"].append(float(explanation[k, 0]))
        columns["explanation_y"].append(float(explanation[k, 1]))
    table = pa.table(
        columns,
        schema=pa.schema(
            [("input_index", pa.int64()), ("path", pa.string()), ("method", pa.string())]
            + [(name, pa.float64()) for name in MAP_COLUMNS[3:]]
        ),
    )
    from .results import write_atomic

    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    write_atomic(map_path, buffer.getvalue().to_pybytes())
    meta = {
        "method": method,
        "algorithm": algorithm,
        "seed": seed,
        "points": len(rows),
        "embedded": len(have),
        "embedding_dimensions": int(vectors.shape[1]) if len(vectors) else None,
        "explanation_dimensions": SPRAY_SIZE * SPRAY_SIZE,
        "seconds": round(time.perf_counter() - started, 3),
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_atomic(meta_path, json.dumps(meta, indent=1).encode())
    return table


def read_map(run: str | os.PathLike):
    """The stored map of a run (a pyarrow Table), or None when none was computed yet."""
    import pyarrow.parquet as pq

    path = Path(run) / "map.parquet"
    return pq.read_table(path) if path.exists() else None


__all__ = ["ALGORITHMS", "MAP_COLUMNS", "compute_map", "layout_2d", "read_map"]
