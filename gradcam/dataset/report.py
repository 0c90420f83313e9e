"""The audit report of a finished run: per-class figures, mean maps, border / fixed-spot classes and
SpRAy clusters (Lapuschkin et al., "Unmasking Clever Hans predictors and assessing what machines
really learn", Nature Communications 2019).

``build_report(RUN)`` writes ``RUN/report.json``, ``RUN/report/*.png`` (mean maps, coloured) and
``RUN/report.html``, and returns the report as a dict. Only numpy and scipy are used.
"""

from __future__ import annotations

import html
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from .errors import ClusterError, RunFolderError
from .results import BORDER_FRACTION, RunFolder

#: Classes with fewer maps than this are counted but not flagged or clustered: a "fixed spot"
#: of two images is chance.
MIN_CLASS_SIZE = 4
#: A class is a border class when, on average, this share of its maps' mass lies in the border
#: band (a uniform map has 1 - (1 - 2 * BORDER_FRACTION) ** 2 = 0.36).
BORDER_SHARE_FLAG = 0.6
#: A class has a fixed spot when its maps' peaks lie within this distance (as a fraction of the
#: image's width and height) of their median, for the median image...
SPOT_SPREAD_FLAG = 0.1
#: ... and that spot is at least this far from the image's centre: centred objects are the norm
#: in photographs, a peak always in the same off-centre place is not.
SPOT_OFF_CENTRE = 0.25
#: SpRAy: maps are compared at this size (the paper downsizes heatmaps before clustering).
SPRAY_SIZE = 16
#: SpRAy: the largest number of clusters the eigengap may choose.
MAX_CLUSTERS = 6
#: Representative images listed per cluster (the members nearest its mean map).
REPRESENTATIVES = 4
#: An unfinished run has no run.json yet, so no model input size: its maps are compared at this size.
PARTIAL_SIZE = (224, 224)


def build_report(
    run: str | os.PathLike,
    method: str | None = None,
    write: bool = True,
    *,
    partial: bool = False,
    arrays: bool = False,
) -> dict:
    """Analyse the run folder ``run``; returns the report (see the module docstring for files).

    Args:
        run: a finished run folder (``results.parquet`` and ``run.json``).
        method: which method's maps to analyse; default the run's first.
        write: write report.json, the PNGs and report.html (False: only return the dict).
        partial: also accept an unfinished run (interrupted, or still running): its committed
            shards are analysed, class names come from the rows, and maps are compared at
            :data:`PARTIAL_SIZE` (the model's input size is only recorded at the end, in run.json).
            Nothing is written for a partial run.
        arrays: keep each class's and cluster's mean map as a float32 array under ``"mean_array"``
            (for the web app, which draws them itself; such a dict is no longer JSON).

    Raises:
        RunFolderError: not a finished run (without ``partial``), no run at all, or a method the
            run does not have.
    """
    folder = RunFolder(run)
    complete = folder.is_complete()
    if not complete and not (partial and folder.read_manifest() is not None):
        raise RunFolderError(
            f"{run}: not a finished run (results.parquet and run.json are missing). "
            "Run 'python -m gradcam dataset run SRC --out RUN' first, or again to finish it."
        )
    rows, methods, height, width, names = _run_rows(folder) if complete else _partial_rows(folder)
    write = write and complete
    method = method or methods[0]
    if method not in methods:
        raise RunFolderError(f"{run}: the run has no {method!r} maps; it has {', '.join(methods)}.")
    rows = [r for r in rows if r["method"] == method]
    ok = [r for r in rows if r["status"] == "ok"]

    def load(row: dict) -> np.ndarray:
        return at_input_size(np.load(folder.root / row["heatmap_path"]), height, width)

    # One pass over the maps keeps, per class, the sum of its maps and their SpRAy vectors only:
    # the maps themselves at the input size would need n x 224 x 224 floats (4 GB for 20,000).
    # Clusters read their members' maps again (mean_of, nearest_to), one at a time.
    members: dict[int, list[dict]] = {}
    sums: dict[int, np.ndarray] = {}
    vectors: dict[int, list[np.ndarray]] = {}
    for row in ok:
        heatmap = load(row)
        index = row["predicted_index"]
        members.setdefault(index, []).append(row)
        sums[index] = sums[index] + heatmap if index in sums else heatmap.astype(np.float64)
        vectors.setdefault(index, []).append(spray_vectors(heatmap[None])[0])

    images_dir = folder.root / "report"
    classes = []
    for index in sorted(members, key=lambda i: (-len(members[i]), i)):
        class_rows = members[index]
        mean = (sums[index] / len(class_rows)).astype(np.float32)
        entry = {
            "index": int(index),
            "name": _name(names, index),
            "count": len(class_rows),
            "mean_confidence": float(np.mean([r["predicted_probability"] for r in class_rows])),
            "mean_entropy": _mean(class_rows, "entropy"),
            "precision": _share([r["label_index"] == index for r in class_rows if r["label_index"] is not None]),
            "mean_map": f"report/class_{index}_mean.png",
            "mean_map_peak": _peak(mean),
            **_placement(class_rows),
            "flags": [],
            "clusters": [],
        }
        if len(class_rows) >= MIN_CLASS_SIZE:
            if entry["border_share"] is not None and entry["border_share"] >= BORDER_SHARE_FLAG:
                entry["flags"].append("border")
            if (
                entry["spot_spread"] is not None
                and entry["spot_spread"] <= SPOT_SPREAD_FLAG
                and (entry["spot_off_centre"] >= SPOT_OFF_CENTRE)
            ):
                entry["flags"].append("fixed_spot")
            entry["clusters"], entry["eigenvalues"] = _spray(np.stack(vectors[index]), class_rows, index, load)
        if write:
            _save_png(images_dir / f"class_{index}_mean.png", mean)
            for cluster in entry["clusters"]:
                _save_png(folder.root / cluster["mean_map"], cluster["_mean"])
        if arrays:
            entry["mean_array"] = mean.astype(np.float32)
        for cluster in entry["clusters"]:
            mean_map = cluster.pop("_mean")
            if arrays:
                cluster["mean_array"] = mean_map.astype(np.float32)
        classes.append(entry)

    report = {
        "run": str(folder.root),
        "method": method,
        "model": _model_name(folder, complete),
        "complete": complete,
        "input_size": [height, width],
        "counts": {
            "inputs": len(rows),
            "ok": len(ok),
            "errors": len(rows) - len(ok),
            "labelled": sum(r["label_index"] is not None for r in ok),
        },
        "accuracy": _share([r["label_index"] == r["predicted_index"] for r in ok if r["label_index"] is not None]),
        "labels": _by_label(ok, names),
        "scores": _scores(ok),
        "classes": classes,
        "thresholds": {
            "min_class_size": MIN_CLASS_SIZE,
            "border_fraction": BORDER_FRACTION,
            "border_share_flag": BORDER_SHARE_FLAG,
            "spot_spread_flag": SPOT_SPREAD_FLAG,
            "spot_off_centre": SPOT_OFF_CENTRE,
            "spray_size": SPRAY_SIZE,
            "max_clusters": MAX_CLUSTERS,
        },
    }
    if write:
        (folder.root / "report.json").write_text(json.dumps(report, indent=1))
        (folder.root / "report.html").write_text(_html(report))
    return report


def _run_rows(folder: RunFolder):
    """A finished run's rows (all methods), methods, the model's input size and class names."""
    import pyarrow.parquet as pq

    info = json.loads(folder.run_json_path.read_text())
    height, width = info["model"]["input_size"]
    return (
        pq.read_table(folder.results_path).to_pylist(),
        info["methods"],
        height,
        width,
        info["model"]["class_names"],
    )


def _partial_rows(folder: RunFolder):
    """An unfinished run's committed rows, its methods (from the manifest), :data:`PARTIAL_SIZE`
    and the class names its rows mention (index -> name)."""
    methods = list((folder.read_manifest() or {}).get("fields", {}).get("methods") or ["gradcam"])
    rows = folder.gather(methods).to_pylist()
    names: dict[int, str] = {}
    for row in rows:
        for index, name in zip(row.get("top5_indices") or [], row.get("top5_names") or []):
            names.setdefault(index, name)
        for index, name in ((row["predicted_index"], row["predicted_name"]), (row["target_index"], row["target_name"])):
            if index is not None and name is not None:
                names[index] = name
    return rows, methods, PARTIAL_SIZE[0], PARTIAL_SIZE[1], names


def _name(names, index: int) -> str:
    """A class's name from a list (finished runs) or a dict (partial runs; the index when unknown)."""
    if isinstance(names, dict):
        return names.get(index, str(index))
    return names[index]


def _model_name(folder: RunFolder, complete: bool) -> str:
    if complete:
        return json.loads(folder.run_json_path.read_text())["model"]["name"]
    import model_zoo  # light: no TensorFlow until a model is loaded

    spec = json.loads((folder.read_manifest() or {}).get("fields", {}).get("model") or "{}")
    return spec.get("model") or model_zoo.DEFAULT_MODEL


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None


def _peak(heatmap: np.ndarray) -> list[int]:
    y, x = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return [int(x), int(y)]


def _placement(rows: list[dict]) -> dict:
    """Where a class's maps sit: mean border share, and the spread of their peaks around their
    median (as fractions of width and height) with that spot's distance from the centre."""
    shares = [r["border_share"] for r in rows if r["border_share"] is not None]
    peaks = np.array(
        [
            (r["peak_x"] / max(r["width"] - 1, 1), r["peak_y"] / max(r["height"] - 1, 1))
            for r in rows
            if r["peak_x"] is not None
        ]
    )
    if len(peaks) == 0:
        return {
            "border_share": _share(shares) if shares else None,
            "spot": None,
            "spot_spread": None,
            "spot_off_centre": None,
        }
    spot = np.median(peaks, axis=0)
    spread = float(np.median(np.linalg.norm(peaks - spot, axis=1)))
    return {
        "border_share": float(np.mean(shares)) if shares else None,
        "spot": [round(float(spot[0]), 4), round(float(spot[1]), 4)],
        "spot_spread": round(spread, 4),
        "spot_off_centre": round(float(np.linalg.norm(spot - 0.5)), 4),
    }


def spectral_clusters(vectors: np.ndarray, max_clusters: int = MAX_CLUSTERS, seed: int = 0, *, k: int | None = None):
    """Spectral clustering with the number of clusters from the eigengap (Ng, Jordan & Weiss 2001).

    Args:
        vectors: (n, d) float, one downsampled map per row.
        max_clusters: the largest k the eigengap may choose.
        seed: seeds k-means.
        k: the number of clusters, chosen by a person looking at the eigengap plot (1 to n; None:
            the eigengap chooses, as SpRAy does). ViRelAy lets its user pick k the same way.

    Returns:
        ``(labels (n,) int, eigenvalues)``: the normalised Laplacian's smallest eigenvalues (at
        least ``k + 1`` of them when ``k`` is given), whose largest gap after the k-th chooses k.
        Clusters are numbered by size, largest first. The affinity is a Gaussian with local scaling
        (Zelnik-Manor & Perona 2004): each map's width is its distance to its m-th nearest
        neighbour, m = ceil(log2 n), so that a small strategy of a few maps is not drowned by a
        large one. SpRAy's paper used a k-nearest-neighbour graph; the Gaussian is its smooth form.
    """
    from scipy.cluster.vq import kmeans2
    from scipy.linalg import eigh
    from scipy.spatial.distance import pdist, squareform

    n = len(vectors)
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= max(n, 1)):
        raise ClusterError(f"Cannot make {k!r} clusters of {n} maps: expected a whole number from 1 to {max(n, 1)}.")
    if n < 3:
        if k is not None and k > 1:  # two maps in two clusters: each its own
            return np.arange(n), np.zeros(min(n, 1))
        return np.zeros(n, int), np.zeros(min(n, 1))
    distances = squareform(pdist(vectors))
    neighbour = min(n - 1, max(2, int(np.ceil(np.log2(n)))))
    widths = np.maximum(np.sort(distances, axis=1)[:, neighbour], 1e-8)
    affinity = np.exp(-(distances**2) / (widths[:, None] * widths[None, :]))
    np.fill_diagonal(affinity, 0.0)
    degree = affinity.sum(axis=1)
    scale = 1.0 / np.sqrt(np.maximum(degree, 1e-12))
    laplacian = np.eye(n) - scale[:, None] * affinity * scale[None, :]
    values, vectors_ = eigh(laplacian)
    kmax = min(max_clusters, n - 1)
    shown = values[: max(kmax, k or 0) + 1]
    if k is None:
        gaps = np.diff(values[: kmax + 1])  # gaps[k-1] = lambda_{k+1} - lambda_k
        k = int(np.argmax(gaps)) + 1
    if k == 1:
        return np.zeros(n, int), shown
    if k == n:
        return np.arange(n), shown
    embedding = vectors_[:, :k]
    embedding = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
    # k-means can leave a cluster empty (a poor start): try a few more seeds before giving fewer.
    for attempt in range(5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scipy's "One of the clusters is empty"
            _, labels = kmeans2(embedding, k, minit="++", seed=seed + attempt)
        if len(set(labels.tolist())) == k:
            break
    # Number clusters by size, largest first, so the report reads the same from run to run.
    order = sorted(set(labels.tolist()), key=lambda c: (-int(np.sum(labels == c)), c))
    labels = np.array([order.index(c) for c in labels])
    return labels, shown


def at_input_size(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """A stored (H, W) map at the model's input size (height, width), float32: area averaging
    when shrinking, bilinear when enlarging (the model input's own geometry)."""
    import cv2

    heatmap = np.asarray(heatmap, np.float32)
    interpolation = cv2.INTER_AREA if heatmap.shape[0] > height or heatmap.shape[1] > width else cv2.INTER_LINEAR
    return cv2.resize(heatmap, (width, height), interpolation=interpolation)


def spray_vectors(stack: np.ndarray) -> np.ndarray:
    """The vectors SpRAy clusters: maps at the input size (n, h, w), area-averaged to
    :data:`SPRAY_SIZE` x :data:`SPRAY_SIZE` and flattened, (n, SPRAY_SIZE**2) float32."""
    import cv2

    small = [cv2.resize(m, (SPRAY_SIZE, SPRAY_SIZE), interpolation=cv2.INTER_AREA) for m in stack]
    return np.asarray(small, np.float32).reshape(len(small), -1)


def recluster_class(
    run: str | os.PathLike, class_index: int, k: int | None = None, method: str | None = None, *, arrays: bool = False
) -> dict:
    """SpRAy on one predicted class of a run with ``k`` clusters: the report's clustering of that
    class (:func:`build_report`), with the number of clusters chosen by a person reading the
    eigengap plot rather than by the largest gap.

    Args:
        run: a run folder, finished or not (an unfinished one's maps are compared at
            :data:`PARTIAL_SIZE`, as the report does).
        class_index: the predicted class to cluster.
        k: the number of clusters, 1 to the class's number of images (None: the eigengap's choice,
            which gives the report's clusters).
        method: which method's maps (default the run's first).
        arrays: keep each cluster's mean map as a float32 array under ``"mean_array"``.

    Returns:
        ``{"index", "name", "count", "k", "eigenvalues", "clusters"}``; ``clusters`` as in the
        report's classes (``cluster``, ``size``, ``members``, ``representatives``, ...).

    Raises:
        RunFolderError: not a run, or a method the run lacks.
        ClusterError: a class the run did not predict, one of fewer than :data:`MIN_CLASS_SIZE`
            images, or ``k`` outside 1 to the class's number of images.
    """
    folder = RunFolder(run)
    complete = folder.is_complete()
    if not complete and folder.read_manifest() is None:
        raise RunFolderError(f"{run}: not a run folder (no results.parquet, run.json or manifest).")
    rows, methods, height, width, names = _run_rows(folder) if complete else _partial_rows(folder)
    method = method or methods[0]
    if method not in methods:
        raise RunFolderError(f"{run}: the run has no {method!r} maps; it has {', '.join(methods)}.")
    ok = [r for r in rows if r["method"] == method and r["status"] == "ok"]
    class_rows = [r for r in ok if r["predicted_index"] == class_index]
    if len(class_rows) < MIN_CLASS_SIZE:
        predicted = sorted({r["predicted_index"] for r in ok})
        raise ClusterError(
            f"Class {class_index} has {len(class_rows)} explained image(s) in {run}; SpRAy clusters classes of at "
            f"least {MIN_CLASS_SIZE}. Classes the run predicted: {', '.join(map(str, predicted[:30])) or 'none'}."
        )

    def load(row: dict) -> np.ndarray:
        return at_input_size(np.load(folder.root / row["heatmap_path"]), height, width)

    vectors = np.stack([spray_vectors(load(r)[None])[0] for r in class_rows])
    clusters, eigenvalues = _spray(vectors, class_rows, class_index, load, k=k)
    for cluster in clusters:
        mean = cluster.pop("_mean")
        if arrays:
            cluster["mean_array"] = mean.astype(np.float32)
    return {
        "index": int(class_index),
        "name": _name(names, class_index),
        "count": len(class_rows),
        "k": len(clusters),
        "eigenvalues": eigenvalues,
        "clusters": clusters,
    }


def _spray(vectors: np.ndarray, rows: list[dict], index: int, load, k: int | None = None):
    """SpRAy on one class: ``vectors`` (n, SPRAY_SIZE**2) clustered into ``k`` clusters (None: the
    eigengap's choice); ``load(row)`` reads a member's map at the input size again for its
    cluster's mean map and representatives."""
    labels, values = spectral_clusters(vectors, k=k)
    clusters = []
    for number in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == number)
        mean = np.mean([load(rows[m]) for m in members], axis=0, dtype=np.float64).astype(np.float32)
        distances = [float(np.linalg.norm(load(rows[m]) - mean)) for m in members]
        nearest = members[np.argsort(distances, kind="stable")][:REPRESENTATIVES]
        clusters.append(
            {
                "cluster": number,
                "size": int(len(members)),
                "mean_map": f"report/class_{index}_cluster_{number}.png",
                "mean_map_peak": _peak(np.asarray(mean)),
                "representatives": [rows[m]["path"] for m in nearest],
                "members": [rows[m]["path"] for m in members],
                "_mean": mean,
            }
        )
    return clusters, [round(float(v), 6) for v in values]


def _save_png(path: Path, heatmap: np.ndarray) -> None:
    from PIL import Image

    from ..render import colorize

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    scaled = heatmap / heatmap.max() if heatmap.max() > 0 else heatmap
    Image.fromarray(colorize(scaled)).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())


def _by_label(rows: list[dict], names: list[str]) -> list[dict]:
    """Per true class: count, accuracy and mean confidence in the predicted class."""
    groups: dict[int, list[dict]] = {}
    for row in rows:
        if row["label_index"] is not None:
            groups.setdefault(row["label_index"], []).append(row)
    return [
        {
            "index": int(i),
            "name": _name(names, i),
            "count": len(g),
            "accuracy": _share([r["predicted_index"] == i for r in g]),
            "mean_confidence": float(np.mean([r["predicted_probability"] for r in g])),
            "mean_entropy": _mean(g, "entropy"),
            "mean_label_probability": _mean(g, "label_probability"),
        }
        for i, g in sorted(groups.items())
    ]


#: Inputs listed as the hardest and as the most probably mislabelled.
SCORE_LIST = 10


def _mean(rows: list[dict], column: str) -> float | None:
    values = [r[column] for r in rows if r.get(column) is not None]
    return float(np.mean(values)) if values else None


def _scores(rows: list[dict]) -> dict:
    """Means of the output scores, the hardest inputs (highest entropy) and the inputs whose label
    is most probably wrong (highest mistakenness), :data:`SCORE_LIST` of each."""

    def listed(column: str) -> list[dict]:
        scored = [r for r in rows if r.get(column) is not None]
        scored.sort(key=lambda r: (-r[column], r["input_index"]))
        return [
            {
                "path": r["path"],
                "label": r["label"],
                "predicted_name": r["predicted_name"],
                "predicted_probability": r["predicted_probability"],
                "entropy": r.get("entropy"),
                "margin": r.get("margin"),
                "label_probability": r.get("label_probability"),
                "mistakenness": r.get("mistakenness"),
            }
            for r in scored[:SCORE_LIST]
        ]

    return {
        "mean_entropy": _mean(rows, "entropy"),
        "mean_margin": _mean(rows, "margin"),
        "mean_label_probability": _mean(rows, "label_probability"),
        "mean_mistakenness": _mean(rows, "mistakenness"),
        "hardest": listed("entropy"),
        "most_mistaken": listed("mistakenness"),
    }


def _html(report: dict) -> str:
    def cell(value) -> str:
        if value is None:
            return "–"
        return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))

    parts = [
        f"<!doctype html><meta charset='utf-8'><title>Audit of {html.escape(report['run'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}img{width:112px;image-rendering:pixelated}"
        "td,th{padding:4px 8px;text-align:left;vertical-align:top}.flag{color:#b00;font-weight:bold}</style>",
        f"<h1>Audit: {html.escape(report['model'])}, {html.escape(report['method'])}</h1>",
        f"<p>{report['counts']['inputs']} inputs, {report['counts']['ok']} explained, "
        f"{report['counts']['errors']} errors; accuracy {cell(report['accuracy'])}.</p>",
        "<table><tr><th>predicted class</th><th>images</th><th>mean confidence</th><th>mean entropy</th>"
        "<th>border share</th>"
        "<th>flags</th><th>mean map</th><th>clusters (size: representatives)</th></tr>",
    ]
    for entry in report["classes"]:
        clusters = "".join(
            f"<div><img src='{c['mean_map']}' alt='cluster {c['cluster']}'> {c['size']}: "
            f"{html.escape(', '.join(c['representatives']))}</div>"
            for c in entry["clusters"]
        )
        parts.append(
            f"<tr><td>{html.escape(entry['name'])} ({entry['index']})</td><td>{entry['count']}</td>"
            f"<td>{cell(entry['mean_confidence'])}</td><td>{cell(entry['mean_entropy'])}</td>"
            f"<td>{cell(entry['border_share'])}</td>"
            f"<td class='flag'>{html.escape(', '.join(entry['flags']))}</td>"
            f"<td><img src='{entry['mean_map']}' alt='mean map'></td><td>{clusters}</td></tr>"
        )
    parts.append("</table>")
    for title, key, column in (
        ("Labels most probably wrong (mistakenness)", "most_mistaken", "mistakenness"),
        ("Hardest inputs (entropy, nats)", "hardest", "entropy"),
    ):
        listed = report.get("scores", {}).get(key) or []
        if not listed:
            continue
        parts.append(
            f"<h2>{html.escape(title)}</h2><table><tr><th>path</th><th>label</th><th>prediction</th>"
            f"<th>{column}</th><th>margin</th><th>label probability</th></tr>"
        )
        parts += [
            f"<tr><td>{html.escape(r['path'])}</td><td>{cell(r['label'])}</td>"
            f"<td>{html.escape(r['predicted_name'])} ({cell(r['predicted_probability'])})</td>"
            f"<td>{cell(r[column])}</td><td>{cell(r['margin'])}</td><td>{cell(r['label_probability'])}</td></tr>"
            for r in listed
        ]
        parts.append("</table>")
    return "\n".join(parts)
