"""``python -m gradcam dataset run SRC --out RUN``, ``... dataset report RUN``, ``... dataset map RUN``,
``... dataset duplicates RUN`` and ``... dataset compare RUN_A RUN_B --out DIR``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import GradCamError
from .common import fail

NAME = "dataset"
HELP = "audit a dataset: explain every image of a folder, ZIP or list (resumable), then report on the run"


def add_arguments(parser) -> None:
    from .. import METHODS

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="explain every input of SRC into the run folder RUN",
        description="Explain every input of SRC into RUN. Run the same command again to "
        "continue an interrupted run; on a finished run it does nothing.",
    )
    run.add_argument(
        "src", metavar="SRC", help="a folder (recursive), a .zip, or a .csv/.parquet list with a path column"
    )
    run.add_argument("--out", required=True, metavar="RUN", help="the run folder (created if missing)")
    run.add_argument(
        "--labels",
        default=None,
        metavar="FILE",
        help="CSV path,label; a label is a class index, a class name or a WordNet id",
    )
    run.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_PATH",
        help="a model-zoo name or a .keras/.h5 file; default: the offline EfficientNet-Lite0",
    )
    run.add_argument("--classes", default=None, metavar="FILE", help="class names for your own model (.txt or .json)")
    run.add_argument(
        "--preprocessing",
        default="tf",
        metavar="PRESET",
        help="input preprocessing for your own model: tf, torch, caffe, unit, raw or lite (default tf)",
    )
    run.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="M",
        help=f"method (repeatable, or comma-separated): {', '.join(METHODS)}; default gradcam",
    )
    run.add_argument(
        "--target",
        default="top",
        metavar="T",
        help="top (the top prediction, default), label (the labelled class), a class index or name, "
        "or a class group (group:dog; python -m gradcam groups)",
    )
    run.add_argument("--layer", default=None, metavar="L", help="layer path; default the last spatial layer")
    run.add_argument(
        "--batch-size", type=int, default=16, metavar="N", help="images per batch and per results shard (default 16)"
    )
    run.add_argument("--metrics", action="store_true", help="also compute deletion and insertion areas (slow)")
    run.add_argument("--engine", default="local", choices=("local", "ray"), help="local (default) or ray")
    run.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="join this Ray cluster (e.g. 127.0.0.1:6379); default: start a local Ray",
    )
    run.add_argument("--ray-actors", type=int, default=2, metavar="N", help="Ray actors explaining (default 2)")
    report = actions.add_parser("report", help="analyse a finished run: RUN/report.json, mean maps, report.html")
    # dest is not "run": that name holds the command's entry point (set_defaults in cli/__init__).
    report.add_argument("run_folder", metavar="RUN", help="a finished run folder")
    mapping = actions.add_parser(
        "map",
        help="2-D maps of a finished run's embeddings and explanations (RUN/map.parquet)",
        description="Compute two 2-D layouts of a finished run: of its embeddings (what the network sees) and of "
        "the explanation vectors SpRAy clusters (where it looks). Stored in RUN/map.parquet and reused; "
        "--recompute computes them again.",
    )
    mapping.add_argument("run_folder", metavar="RUN", help="a finished run folder")
    mapping.add_argument("--method", default=None, metavar="M", help="whose maps to lay out; default the run's first")
    mapping.add_argument(
        "--algorithm",
        default=None,
        choices=("tsne", "pca"),
        help="t-SNE (the default for a new map) or PCA (faster, coarser); default: the stored map's",
    )
    mapping.add_argument("--recompute", action="store_true", help="compute again even if a map is stored")
    duplicates = actions.add_parser(
        "duplicates",
        help="exact and near-duplicate inputs of a run, or leaks from another run (RUN/duplicates.parquet)",
        description="Find pairs of inputs that are the same bytes (exact, by sha256) or nearly the same picture "
        "(near: cosine similarity of the embeddings at or above the threshold). With --against, only pairs "
        "with one input in each run: a leak check between a training and a test folder.",
    )
    duplicates.add_argument("run_folder", metavar="RUN", help="a finished run folder")
    duplicates.add_argument(
        "--against", default=None, metavar="OTHER_RUN", help="another finished run, made with the same model"
    )
    duplicates.add_argument(
        "--threshold",
        type=float,
        default=None,
        metavar="T",
        help="least cosine similarity of a near pair (default 0.85, chosen on real photos: see the docs)",
    )
    compare = actions.add_parser(
        "compare",
        help="two finished runs side by side, input by input (DIR/comparison.parquet and a report)",
        description="Pair the inputs of two finished runs by their bytes (sha256) and compare their predictions "
        "and maps (Spearman's rank correlation on a 56x56 grid, as compare-models does). The runs may come "
        "from different models, methods or layers; inputs in one run only are counted and listed.",
    )
    compare.add_argument("run_a", metavar="RUN_A", help="a finished run folder")
    compare.add_argument("run_b", metavar="RUN_B", help="another finished run folder")
    compare.add_argument("--out", required=True, metavar="DIR", help="where to write the comparison (created)")
    compare.add_argument("--method-a", default=None, metavar="M", help="run A's method; default its first")
    compare.add_argument("--method-b", default=None, metavar="M", help="run B's method; default its first")


def run(args) -> int:
    actions = {"run": _run, "report": _report, "map": _map, "duplicates": _duplicates, "compare": _compare}
    return actions[args.action](args)


def _compare(args) -> int:
    from ..dataset.comparison import compare_runs

    try:
        report = compare_runs(args.run_a, args.run_b, args.out, method_a=args.method_a, method_b=args.method_b)
    except GradCamError as error:
        return fail(" ".join(str(error).split()))
    rate, rho = report["agreement_rate"], report["mean_map_agreement"]
    print(
        f"Wrote {args.out}/comparison.parquet, comparison.json and comparison.html: {report['paired']} inputs "
        f"in both runs; predictions agree on {'-' if rate is None else f'{rate:.0%}'}, mean map agreement "
        f"{'-' if rho is None else f'{rho:+.2f}'}; {report['only_in_a']['count']} in {args.run_a} only, "
        f"{report['only_in_b']['count']} in {args.run_b} only."
    )
    return 0


def _duplicates(args) -> int:
    from ..dataset.duplicates import DEFAULT_THRESHOLD, find_duplicates

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    try:
        table = find_duplicates(args.run_folder, args.against, threshold)
    except GradCamError as error:
        return fail(" ".join(str(error).split()))
    kinds = table.column("kind").to_pylist()
    where = f" against {args.against}" if args.against else ""
    print(
        f"Wrote {args.run_folder}/duplicates.parquet{where}: {kinds.count('exact')} exact and "
        f"{kinds.count('near')} near pairs (threshold {threshold})."
    )
    for row in table.slice(0, 10).to_pylist():
        print(f"  {row['kind']:5} {row['similarity']:.3f}  {row['path_a']}  ~  {row['path_b']}")
    return 0


def _map(args) -> int:
    import json

    from ..dataset.layout import compute_map

    try:
        table = compute_map(args.run_folder, args.method, algorithm=args.algorithm, recompute=args.recompute)
    except GradCamError as error:
        return fail(" ".join(str(error).split()))
    meta = json.loads((Path(args.run_folder) / "map.json").read_text())
    print(
        f"Wrote {args.run_folder}/map.parquet: {table.num_rows} points ({meta['embedded']} with embeddings), "
        f"{meta['algorithm']}, computed in {meta['seconds']:.1f}s on {meta['made']}."
    )
    return 0


class ProgressLine:
    """images done, images/s and time left, on standard error (one line, rewritten on a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int, seconds: float) -> None:
        now = time.perf_counter()
        if not self.live and now - self.last < 1.0 and done < total:
            return  # a log gets a line a second at most
        self.last = now
        rate = done / seconds if seconds > 0 else 0.0
        left = (total - done) / rate if rate > 0 else float("nan")
        text = f"images {done}/{total} ({done / max(total, 1):.0%}), {rate:.1f} images/s, {_duration(left)} left"
        self.stream.write(("\r" + text.ljust(78)) if self.live else text + "\n")
        if self.live and done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _run(args) -> int:
    from ..dataset import ModelSpec, run_dataset

    methods = [m.strip() for text in (args.method or ["gradcam"]) for m in text.split(",") if m.strip()]
    try:
        summary = run_dataset(
            args.src,
            args.out,
            spec=ModelSpec(args.model, args.classes, args.preprocessing),
            methods=methods,
            target=args.target,
            layer=args.layer,
            labels=args.labels,
            batch_size=args.batch_size,
            metrics=args.metrics,
            engine=args.engine,
            ray_address=args.ray_address,
            concurrency=args.ray_actors,
            progress=ProgressLine(),
        )
    except GradCamError as error:
        return fail(" ".join(str(error).split()))
    if summary.already_complete:
        print(f"{args.out}: the run is already complete ({summary.rows} rows, {summary.errors} errors); nothing to do.")
        return 0
    resumed = f", continuing after {summary.already_done} inputs done earlier" if summary.already_done else ""
    print(
        f"Wrote {args.out}/results.parquet: {summary.rows} rows for {summary.inputs} inputs, "
        f"{summary.ok} ok, {summary.errors} errors{resumed} ({summary.seconds:.1f}s)."
    )
    return 0


def _report(args) -> int:
    from ..dataset import build_report

    try:
        report = build_report(args.run_folder)
    except GradCamError as error:
        return fail(" ".join(str(error).split()))
    flagged = [c["name"] for c in report["classes"] if c["flags"]]
    print(
        f"Wrote {args.run_folder}/report.json and report.html: {len(report['classes'])} predicted classes; "
        f"border/fixed-spot classes: {', '.join(flagged) or 'none'}."
    )
    scores = report["scores"]
    if scores["mean_entropy"] is not None:
        print(f"Mean entropy {scores['mean_entropy']:.3f} nats, mean margin {scores['mean_margin']:.3f}.")
    for row in [r for r in scores["most_mistaken"] if r["mistakenness"] > 0.5][:5]:
        print(
            f"  label probably wrong: {row['path']} labelled {row['label']!r}, predicted "
            f"{row['predicted_name']!r} ({row['predicted_probability']:.2f}); mistakenness {row['mistakenness']:.3f}"
        )
    return 0
