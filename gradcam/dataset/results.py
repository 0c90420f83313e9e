"""A run folder: the results' schema, atomic writes, shards plus a manifest, and resume.

Layout of ``RUN/``::

    manifest.json        the plan, written once at the start: inputs (in order) and options
    shards/*.parquet     committed work: rows of a batch, each shard written whole or not at all
    heatmaps/M/NNNNNNN.npy  one (H, W) float16 map in [0, 1] per input and method
    embeddings/shard-*.npz  per shard: ``input_index`` (n,) int64 and ``embedding`` (n, K) float16,
                         the pooled vectors feeding the classifier's head; named as its shard
    results.parquet      all rows, in input order, written when every input has its rows
    run.json             model and weights hash, method, layer, options, versions, counts, timings

Exactly once: an input's rows are done when a committed shard holds them. Heatmaps and the
embeddings file are written (atomically) before their shard, so a kill between the two leaves
files that the rerun rewrites with the same values (an embeddings file is read back only when
its shard exists); files of committed shards are never touched again. Every file appears
under its final name only through ``os.replace`` of a finished temporary file, so a kill at any
moment leaves either the old state or the new one.

Fault injection for tests (``GRADCAM_DATASET_FAULT``): ``shard:N`` kills the process with SIGKILL
while writing its (N+1)-th shard (after the temporary file, before the rename), ``heatmap:N``
after its N-th heatmap, ``results`` while writing results.parquet; ``pause:SECONDS`` sleeps after
each committed shard, so that a test can kill the run from outside while it is surely mid-way.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
import uuid
from pathlib import Path

import cv2
import numpy as np

#: The columns of results.parquet, in order, with their Arrow types. The names are a contract.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("input_index", "int64"),
    ("path", "string"),
    ("sha256", "string"),
    ("status", "string"),  # "ok" or "error"
    ("error", "string"),  # one line; "" when ok
    ("label", "string"),  # the labels file's text, null without one
    ("label_index", "int64"),
    ("predicted_index", "int64"),
    ("predicted_name", "string"),
    ("predicted_probability", "float64"),
    ("target_index", "int64"),
    ("target_name", "string"),
    ("target_probability", "float64"),
    ("method", "string"),
    ("layer", "string"),
    ("heatmap_path", "string"),  # relative to RUN; "" for an error row
    ("height", "int64"),  # the image as decoded upright (and the heatmap's shape)
    ("width", "int64"),
    ("peak_x", "int64"),  # the heatmap's maximum, in image pixels; null for an empty map
    ("peak_y", "int64"),
    ("border_share", "float64"),  # share of the map's mass in the border band
    ("empty", "bool"),
    ("top5_indices", "list<int64>"),
    ("top5_names", "list<string>"),
    ("top5_probabilities", "list<float64>"),
    ("entropy", "float64"),  # of the full class distribution, nats (gradcam.dataset.scores)
    ("margin", "float64"),  # top-1 minus top-2 probability
    ("label_probability", "float64"),  # the labelled class's probability; null without a label
    ("mistakenness", "float64"),  # FiftyOne's (m * exp(-entropy) + 1) / 2; null without a label
    ("insertion_auc", "float64"),  # with --metrics, else null
    ("deletion_auc", "float64"),
    ("notes", "string"),  # decoding notes (EXIF rotation applied, frame used, ...)
)
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)

#: Width of the border band, as a fraction of the image's height (top and bottom bands) and
#: width (left and right bands): 10% covers 36% of the image, so a uniform map scores 0.36.
BORDER_FRACTION = 0.1

FAULT_ENV = "GRADCAM_DATASET_FAULT"


def schema():
    """The Arrow schema of results.parquet and of every shard."""
    import pyarrow as pa

    types = {
        "int64": pa.int64(),
        "string": pa.string(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "list<int64>": pa.list_(pa.int64()),
        "list<string>": pa.list_(pa.string()),
        "list<float64>": pa.list_(pa.float64()),
    }
    return pa.schema([(name, types[kind]) for name, kind in COLUMNS])


def border_share(heatmap: np.ndarray, fraction: float = BORDER_FRACTION) -> float | None:
    """Share of the map's mass (sum of values) within ``fraction`` of each edge; None for an
    all-zero map. ``heatmap`` is (H, W) float; the band is at least one pixel wide."""
    total = float(heatmap.sum(dtype=np.float64))
    if not total > 0:
        return None
    height, width = heatmap.shape
    rows, cols = max(1, round(fraction * height)), max(1, round(fraction * width))
    inner = (
        heatmap[rows : height - rows, cols : width - cols].sum(dtype=np.float64)
        if (height > 2 * rows and width > 2 * cols)
        else 0.0
    )
    return float((total - inner) / total)


def stored_heatmap(heatmap: np.ndarray) -> np.ndarray:
    """An (H, W) map as a heatmap file holds it: float16, values clipped to [0, 1]. A map already
    stored so comes back unchanged (clipping float16 values again changes none of them).

    A float32 map is converted by OpenCV, several times faster than numpy's ``astype`` (which
    has no vector path here: 1.5-3 ms for a 600x480 map) and bit for bit the same: both round to
    nearest even, which tests/engine/test_parts.py checks on every rounding boundary in [0, 1]
    (and was checked on every float32 in [0, 1])."""
    clipped = np.clip(heatmap, 0.0, 1.0)
    if clipped.dtype == np.float32 and clipped.ndim == 2 and clipped.size:
        return cv2.multiply(np.ascontiguousarray(clipped), 1.0, dtype=cv2.CV_16F)
    return clipped.astype(np.float16)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its old content or all of ``data``."""
    path = os.fspath(path)
    tmp = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _die_if(kind: str, count: int) -> None:
    """Test hook: SIGKILL this process when GRADCAM_DATASET_FAULT says so (see module docstring)."""
    fault = os.environ.get(FAULT_ENV, "")
    name, _, number = fault.partition(":")
    if name == "pause" and kind == "committed":
        time.sleep(float(number))
    if name == kind and (not number or int(number) == count):
        os.kill(os.getpid(), signal.SIGKILL)


class RunFolder:
    """The files of one run; see the module docstring for the layout."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.json"
        self.shards = self.root / "shards"
        self.heatmaps = self.root / "heatmaps"
        self.embeddings = self.root / "embeddings"
        self.results_path = self.root / "results.parquet"
        self.run_json_path = self.root / "run.json"
        self._shards_written = 0
        self._heatmaps_written = 0

    # -- the plan ----------------------------------------------------------------------------
    def read_manifest(self) -> dict | None:
        if not self.manifest_path.exists():
            return None
        return json.loads(self.manifest_path.read_text())

    def write_manifest(self, manifest: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.manifest_path, json.dumps(manifest, indent=1).encode())

    def is_complete(self) -> bool:
        return self.results_path.exists() and self.run_json_path.exists()

    # -- work --------------------------------------------------------------------------------
    @staticmethod
    def heatmap_name(method: str, input_index: int) -> str:
        """Path of an input's heatmap, relative to RUN: stable, so both engines agree."""
        return f"heatmaps/{method}/{input_index:07d}.npy"

    def save_heatmap(self, relative: str, heatmap: np.ndarray) -> None:
        """Save an (H, W) map as float16, values clipped to [0, 1] (:func:`stored_heatmap`),
        atomically."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, stored_heatmap(heatmap))
        write_atomic(target, buffer.getvalue())
        self._heatmaps_written += 1
        _die_if("heatmap", self._heatmaps_written)

    @staticmethod
    def new_shard_name(rows: list[dict]) -> str:
        """A fresh shard file name for a batch's rows (its first input index, then a random part)."""
        first = min(r["input_index"] for r in rows)
        return f"shard-{first:07d}-{uuid.uuid4().hex[:8]}.parquet"

    def save_embeddings(self, shard_name: str, input_indices: list[int], vectors: np.ndarray) -> None:
        """Save a batch's embeddings (n, K) as float16, atomically, under the name of the shard that
        will commit them (``embeddings/<shard>.npz``): only files whose shard exists are read back."""
        self.embeddings.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            input_index=np.asarray(input_indices, np.int64),
            embedding=np.asarray(vectors, np.float32).astype(np.float16),
        )
        write_atomic(self.embeddings / (Path(shard_name).stem + ".npz"), buffer.getvalue())

    def read_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """The committed embeddings: ``(input_index (n,) int64 sorted, vectors (n, K) float32)``,
        each input once. Files of shards that never committed (a kill between the two writes) are
        ignored, so what is read back is exactly what the committed rows describe."""
        committed = {s.stem for s in self.shard_files()}
        indices, vectors = [], []
        if self.embeddings.exists():
            for path in sorted(self.embeddings.glob("shard-*.npz")):
                if path.stem not in committed:
                    continue
                with np.load(path) as data:
                    indices.append(data["input_index"])
                    vectors.append(data["embedding"].astype(np.float32))
        if not indices:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        index = np.concatenate(indices)
        matrix = np.concatenate(vectors)
        # A batch retried by Ray may have committed twice (the same values): keep one copy each.
        unique, first = np.unique(index, return_index=True)
        return unique, matrix[first]

    def commit_shard(self, rows: list[dict], name: str | None = None) -> str:
        """Write a batch's rows as one shard named ``name`` (default a new one); returns its file
        name. Rows are whole or absent."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.shards.mkdir(parents=True, exist_ok=True)
        name = name or self.new_shard_name(rows)
        table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMN_NAMES} for r in rows], schema=schema())
        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer)
        data = buffer.getvalue().to_pybytes()
        final = self.shards / name
        tmp = f"{final}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _die_if("shard", self._shards_written)  # "during writing": the temporary file exists, the shard not
        os.replace(tmp, final)
        self._shards_written += 1
        _die_if("committed", self._shards_written)
        return name

    def shard_files(self) -> list[Path]:
        return sorted(self.shards.glob("shard-*.parquet")) if self.shards.exists() else []

    def done(self) -> set[tuple[int, str]]:
        """(input_index, method) pairs that committed shards hold."""
        import pyarrow.parquet as pq

        keys: set[tuple[int, str]] = set()
        for shard in self.shard_files():
            table = pq.read_table(shard, columns=["input_index", "method"])
            keys.update(zip(table.column("input_index").to_pylist(), table.column("method").to_pylist()))
        return keys

    def clean_temporaries(self) -> int:
        """Remove the temporary files a killed run left behind; returns how many."""
        count = 0
        for tmp in self.root.rglob("*.tmp"):
            tmp.unlink(missing_ok=True)
            count += 1
        return count

    # -- the end -----------------------------------------------------------------------------
    def gather(self, methods: list[str]):
        """All committed rows as one table, in input order then method order, each
        (input_index, method) once (a batch retried by Ray after a lost worker may have
        committed twice; both copies hold the same values)."""
        import pyarrow as pa

        tables = [read_shard(s) for s in self.shard_files()]
        if not tables:
            return schema().empty_table()
        rows = pa.concat_tables(tables).to_pylist()
        order = {m: i for i, m in enumerate(methods)}
        unique: dict[tuple[int, str], dict] = {}
        for row in rows:
            unique.setdefault((row["input_index"], row["method"]), row)
        ordered = [unique[k] for k in sorted(unique, key=lambda k: (k[0], order.get(k[1], len(order))))]
        return pa.Table.from_pylist(ordered, schema=schema())

    def write_results(self, table, run_info: dict) -> None:
        """results.parquet then run.json, each atomically; run.json last, so its presence means done."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = pa.BufferOutputStream()
        pq.write_table(table, buffer)
        data = buffer.getvalue().to_pybytes()
        tmp = f"{self.results_path}.{os.getpid()}.tmp"
        Path(tmp).write_bytes(data)
        _die_if("results", 0)
        os.replace(tmp, self.results_path)
        write_atomic(self.run_json_path, json.dumps(run_info, indent=1).encode())


def read_shard(path: str | os.PathLike):
    """One committed shard as a table of :func:`schema`. A shard written before a column was added
    (a run resumed by a newer version) gets that column as nulls rather than failing the run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    target = schema()
    for field in target:
        if field.name not in table.column_names:
            table = table.append_column(field.name, pa.nulls(len(table), field.type))
    return table.select(list(COLUMN_NAMES)).cast(target)


def load_results(run: str | os.PathLike):
    """results.parquet of a finished run as a pyarrow Table."""
    import pyarrow.parquet as pq

    return pq.read_table(Path(run) / "results.parquet")


def load_embeddings(run: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A run's embeddings: ``(input_index (n,) int64, vectors (n, K) float32)``, sorted by input,
    one per input explained without error (see :meth:`RunFolder.read_embeddings`). Empty arrays
    for a run made without them (before they existed, or with ``embeddings=False``)."""
    return RunFolder(run).read_embeddings()
