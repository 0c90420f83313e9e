"""Duplicates inside a run, and leaks between two runs (a training folder and a test folder).

``find_duplicates(RUN)`` writes ``RUN/duplicates.parquet`` with one row per pair:

- ``path_a``, ``path_b``: the two inputs (with ``against``, ``path_b`` is an input of the other run);
- ``similarity``: the cosine similarity of their embeddings (1.0 for an exact pair);
- ``kind``: "exact" (the same bytes: equal ``sha256``) or "near" (similarity at or above the threshold).

The search is exact, blocked: the unit-length embeddings are multiplied block by block
(:data:`BLOCK` rows of one side against all of the other, only the upper triangle for a run
against itself), so memory stays at BLOCK x n floats whatever n. On this project's 2-core machine
20,000 embeddings of 1,280 dimensions take the time docs/dataset-explorer.md gives; an
approximate index (FAISS, HNSW) would only pay off far beyond that and adds a dependency.

:data:`DEFAULT_THRESHOLD` was chosen on real photos (docs/dataset-explorer.md, "The threshold"):
planted copies of the sample photos (half size, JPEG quality 40, 90% crop, 10% shift) score 0.906
and more against their original with EfficientNet-Lite0's embeddings, while the most similar
distinct photos (a photo and a composite holding half of it) score 0.696.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from ..errors import GradCamError
from .errors import RunFolderError
from .results import RunFolder, load_embeddings, write_atomic

#: Cosine similarity at or above which two embeddings are a near duplicate (see the module docstring).
DEFAULT_THRESHOLD = 0.85
#: Rows of one side multiplied at once (memory: BLOCK x n float32).
BLOCK = 1024
COLUMNS = ("path_a", "path_b", "similarity", "kind")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32 (an all-zero row stays zero)."""
    x = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def similar_pairs(
    a: np.ndarray, b: np.ndarray | None = None, threshold: float = DEFAULT_THRESHOLD, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs whose cosine similarity is at least ``threshold``, by blocked matrix products.

    Args:
        a: (n, d) vectors. b: (m, d) vectors, or None to compare ``a`` with itself (each pair once,
            i < j, no pair of a row with itself).
        threshold: the least cosine similarity kept.
        block: rows of ``a`` per matrix product.

    Returns:
        ``(i, j, similarity)``: row indices into ``a`` and ``b`` (or ``a``), and their similarity
        (float32), sorted by decreasing similarity.
    """
    left = unit_rows(a)
    right = left if b is None else unit_rows(b)
    found_i, found_j, found_s = [], [], []
    for start in range(0, len(left), block):
        stop = min(start + block, len(left))
        # Against itself only the columns from this block on: the pairs before were seen already.
        offset = start if b is None else 0
        scores = left[start:stop] @ right[offset:].T
        if b is None:
            # Inside the diagonal block keep j > i only.
            scores[np.tril_indices(stop - start, 0, scores.shape[1])] = -np.inf
        rows, cols = np.nonzero(scores >= threshold)
        found_i.append(rows + start)
        found_j.append(cols + offset)
        found_s.append(scores[rows, cols])
    i = np.concatenate(found_i) if found_i else np.zeros(0, np.int64)
    j = np.concatenate(found_j) if found_j else np.zeros(0, np.int64)
    s = np.concatenate(found_s).astype(np.float32) if found_s else np.zeros(0, np.float32)
    order = np.lexsort((j, i, -s))
    return i[order], j[order], s[order]


def _inputs(folder: RunFolder) -> tuple[list[dict], dict]:
    """One row per input of a finished run (the first method's), and its run.json."""
    import pyarrow.parquet as pq

    if not folder.is_complete():
        raise RunFolderError(
            f"{folder.root}: not a finished run (results.parquet and run.json are missing). Finish it with "
            "'gradcam dataset run SRC --out RUN' first."
        )
    info = json.loads(folder.run_json_path.read_text())
    seen, rows = set(), []
    for row in pq.read_table(folder.results_path, columns=["input_index", "path", "sha256"]).to_pylist():
        if row["input_index"] not in seen:
            seen.add(row["input_index"])
            rows.append(row)
    return rows, info


def _embedding_space(info: dict) -> tuple:
    return (info["model"].get("weights_sha256"), (info.get("embeddings") or {}).get("layer"))


def find_duplicates(
    run: str | os.PathLike,
    against: str | os.PathLike | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    *,
    block: int = BLOCK,
):
    """Exact and near-duplicate pairs of a run, or between a run and another one; writes
    ``RUN/duplicates.parquet`` (see the module docstring) and returns it as a pyarrow Table,
    exact pairs first, then near pairs by decreasing similarity.

    Args:
        run: a finished run folder.
        against: another finished run (the training folder's, say): only pairs with one input in
            each run are reported, ``path_b`` being the other run's input.
        threshold: the least cosine similarity of a near pair, in (0, 1].
        block: rows per matrix product (memory only, not results).

    Raises:
        RunFolderError: an unfinished run, a threshold out of range, or runs whose embeddings
            cannot be compared (made by different weights, or without embeddings).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not 0.0 < threshold <= 1.0:
        raise GradCamError(f"--threshold must be in (0, 1] (a cosine similarity); got {threshold}.")
    started = time.perf_counter()
    folder = RunFolder(run)
    rows_a, info_a = _inputs(folder)
    other = RunFolder(against) if against is not None else None
    rows_b, info_b = _inputs(other) if other is not None else (rows_a, info_a)
    if other is not None and _embedding_space(info_a) != _embedding_space(info_b):
        raise RunFolderError(
            f"{run} and {against} were made by different models or layers ({info_a['model']['name']} and "
            f"{info_b['model']['name']}): their embeddings cannot be compared. Run both folders with the same "
            "--model; exact copies (same bytes) can still be found by sha256."
        )
    path_a = {r["input_index"]: r["path"] for r in rows_a}
    path_b = {r["input_index"]: r["path"] for r in rows_b}

    pairs: dict[tuple[str, str], tuple[float, str]] = {}
    # Exact: the same bytes. Inputs that could not be read have no sha256 and match nothing.
    by_hash: dict[str, list[str]] = {}
    for r in rows_b:
        if r["sha256"]:
            by_hash.setdefault(r["sha256"], []).append(r["path"])
    for r in rows_a:
        for p in by_hash.get(r["sha256"] or "", []):
            if other is None and p <= r["path"]:
                continue  # each pair once, never an input with itself
            pairs[(r["path"], p)] = (1.0, "exact")

    index_a, vectors_a = load_embeddings(folder.root)
    index_b, vectors_b = (index_a, vectors_a) if other is None else load_embeddings(other.root)
    if len(index_a) and len(index_b):
        i, j, s = similar_pairs(vectors_a, None if other is None else vectors_b, threshold, block)
        for x, y, value in zip(i.tolist(), j.tolist(), s.tolist()):
            key = (path_a[int(index_a[x])], path_b[int(index_b[y])])
            if other is None and key[1] < key[0]:
                key = (key[1], key[0])
            if key not in pairs:
                pairs[key] = (min(float(value), 1.0), "near")
    ordered = sorted(pairs.items(), key=lambda item: (item[1][1] != "exact", -item[1][0], item[0]))
    table = pa.table(
        {
            "path_a": [k[0] for k, _ in ordered],
            "path_b": [k[1] for k, _ in ordered],
            "similarity": [v[0] for _, v in ordered],
            "kind": [v[1] for _, v in ordered],
        },
        schema=pa.schema(
            [("path_a", pa.string()), ("path_b", pa.string()), ("similarity", pa.float64()), ("kind", pa.string())]
        ),
    )
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    write_atomic(folder.root / "duplicates.parquet", buffer.getvalue().to_pybytes())
    meta = {
        "against": os.path.abspath(against) if against is not None else None,
        "threshold": threshold,
        "inputs_a": len(rows_a),
        "inputs_b": len(rows_b),
        "embedded_a": len(index_a),
        "embedded_b": len(index_b),
        "exact": sum(v[1] == "exact" for _, v in ordered),
        "near": sum(v[1] == "near" for _, v in ordered),
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_atomic(folder.root / "duplicates.json", json.dumps(meta, indent=1).encode())
    return table


def read_duplicates(run: str | os.PathLike):
    """``RUN/duplicates.parquet`` as a pyarrow Table, or None when no search was run."""
    import pyarrow.parquet as pq

    path = Path(run) / "duplicates.parquet"
    return pq.read_table(path) if path.exists() else None


__all__ = ["COLUMNS", "DEFAULT_THRESHOLD", "find_duplicates", "read_duplicates", "similar_pairs", "unit_rows"]
