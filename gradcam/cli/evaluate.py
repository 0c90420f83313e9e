"""``python -m gradcam evaluate IMAGE... --method M...``: faithfulness scores of every method on
every image, as a table (metrics.csv and metrics.json) and a ranking per image."""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path

from ..errors import GradCamError
from ..export import library_versions, sha256_bytes
from .common import ProgressBar, add_model_arguments, fail, load_model, make_explainer, parse_target

NAME = "evaluate"
HELP = "score how faithful each method's map is (deletion, insertion, average drop, ROAD, ...) and rank them"


def add_arguments(parser) -> None:
    from .. import METHODS
    from ..metrics import METRICS

    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, BMP, TIFF, GIF)")
    add_model_arguments(parser)
    parser.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="M",
        help=f"method (repeatable): {', '.join(METHODS)}; default gradcam",
    )
    parser.add_argument(
        "--layer", default=None, metavar="L", help="layer path for CAM methods; default the last spatial layer"
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="T",
        help="class index or name, or a class group (group:dog; python -m gradcam groups); "
        "default each image's top prediction",
    )
    parser.add_argument(
        "--metric",
        action="append",
        default=[],
        metavar="NAME",
        help=f"metric (repeatable): {', '.join(METRICS)}; default deletion, insertion, "
        "average_drop and road, plus pointing_game with --box/--point",
    )
    parser.add_argument(
        "--sanity",
        action="store_true",
        help="also run the randomisation check (Adebayo et al.): rank correlation with the map "
        "of a copy of the model whose top layer's weights are random",
    )
    parser.add_argument(
        "--randomize",
        default="top",
        metavar="N",
        help="layers the randomisation check re-draws: top, all or a number (default top)",
    )
    parser.add_argument(
        "--box",
        default=None,
        metavar="X0,Y0,X1,Y1",
        help="pointing game: the object's box in the image's pixels (every image)",
    )
    parser.add_argument("--point", default=None, metavar="X,Y", help="pointing game: a point on the object")
    parser.add_argument(
        "--tolerance", type=float, default=15.0, metavar="PX", help="pointing game tolerance (default 15)"
    )
    parser.add_argument("--steps", type=int, default=50, help="deletion/insertion steps (default 50)")
    parser.add_argument("--batch-size", type=int, default=64, help="perturbed images per forward pass (default 64)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the random-map baseline")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random baseline, ties and ROAD noise")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder: metrics.csv and metrics.json")


def _numbers(text: str | None, count: int, option: str):
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != count:
        raise ValueError(f"{option} takes {count} comma-separated numbers; got {text!r}.")
    return values


def run(args) -> int:
    from .. import get_method
    from ..images import decode_image
    from ..metrics import SCORES, evaluate
    from ..metrics.evaluate import resolve_metrics

    try:
        methods = [get_method(m) for m in (args.method or ["gradcam"])]
        box = _numbers(args.box, 4, "--box")
        point = _numbers(args.point, 2, "--point")
        metrics = list(args.metric) or None
        if args.sanity:
            metrics = (metrics or resolve_metrics(None, box, point)) + ["randomization"]
        keys = resolve_metrics(metrics, box, point)
        randomize = int(args.randomize) if str(args.randomize).isdigit() else args.randomize
        if args.steps < 1 or args.batch_size < 1:
            return fail("--steps and --batch-size must be 1 or more.")
        model = load_model(args)
        explainer = make_explainer(model, args)
        target = parse_target(args.target) if args.target else None
        explainer.check_target(target)
        if args.layer is not None:
            explainer.layer_path(args.layer)
    except (GradCamError, ValueError) as error:
        return fail(str(error))

    score_names = [s for s in SCORES if any(s in _scores_of(k) for k in keys)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    rows: list[dict] = []
    failures = 0
    progress = _Throttled(ProgressBar("Evaluating"))
    jobs = len(args.images) * len(methods)
    for i, path in enumerate(args.images):
        per_image = {}
        shared = None  # the random baseline: computed for the first method, reused for the others
        try:
            image = decode_image(path).pixels
            image_sha256 = sha256_bytes(Path(path).read_bytes())  # the digest provenance records use
            for j, method in enumerate(methods):
                number = i * len(methods) + j
                label = f"{Path(path).name} {method.key}"

                def report(fraction, message, number=number, label=label):
                    progress((number + fraction) / jobs, f"{label}: {message}")

                report(0.0, "explaining")
                started = time.perf_counter()
                explanation = explainer.explain(
                    image, target=target, method=method.key, layer=args.layer if method.uses_layer else None
                )
                baseline = (
                    shared
                    if shared is not None and shared.target_index == explanation.target_index
                    else not args.no_baseline
                )
                result = evaluate(
                    explainer,
                    image,
                    explanation,
                    keys,
                    steps=args.steps,
                    batch_size=args.batch_size,
                    box=box,
                    point=point,
                    tolerance=args.tolerance,
                    baseline=baseline,
                    layers_to_randomize=randomize,
                    seed=args.seed,
                    progress=report,
                )
                seconds = time.perf_counter() - started
                if result.baseline is not None:
                    shared = result.baseline
                per_image[method.key] = result
                records.append(
                    {
                        "image": str(path),
                        "image_sha256": image_sha256,
                        "model": model.name,
                        **result.to_dict(),
                        "seconds": round(seconds, 3),
                    }
                )
                rows.append(_row(path, model.name, result, score_names, seconds))
            if per_image and not args.no_baseline:
                base = next(iter(per_image.values())).baseline
                rows.append(_row(path, model.name, base, score_names, None))
            _print_ranking(path, per_image, score_names)
        except GradCamError as error:
            failures += 1
            message = str(error)
            line = f"error: {path}: {message}"
            print("\n" + line if sys.stderr.isatty() else line, file=sys.stderr)
            records.append({"image": str(path), "model": model.name, "error": message})
            rows.append({"image": str(path), "model": model.name, "error": message})
    progress(1.0, f"{len(args.images) - failures} of {len(args.images)} images evaluated")
    summary = _summary(rows, score_names)
    # Model weights and library versions as the provenance records of explain and the app write them.
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "model": model.name,
                "metrics": keys,
                "steps": args.steps,
                "model_weights_sha256": getattr(model, "weights_sha256", None),
                "versions": library_versions(),
                "results": records,
                "summary": summary,
            },
            indent=2,
        )
    )
    columns = [
        "image",
        "model",
        "method",
        "layer",
        "target_index",
        "target_name",
        "probability",
        *score_names,
        "beats_random",
        "seconds",
        "error",
    ]
    with open(out / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    if len(args.images) > 1 and summary:
        print("Mean over images:")
        _print_table(summary, ["method", "images", *score_names])
    tail = f"; {failures} image(s) failed." if failures else "."
    print(f"Wrote {out / 'metrics.csv'} and {out / 'metrics.json'}{tail}")
    return 1 if failures else 0


def _scores_of(key: str):
    from ..metrics import METRICS

    return METRICS[key].scores


def _row(path, model_name, result, score_names, seconds) -> dict:
    beats = result.beats_baseline()
    return {
        "image": str(path),
        "model": model_name,
        "method": result.method,
        "layer": result.layer or "",
        "target_index": result.target_index,
        "target_name": result.target_name,
        "probability": round(result.probability, 6),
        **{s: _fmt(result.scores.get(s)) for s in score_names},
        "beats_random": f"{sum(beats.values())}/{len(beats)}" if beats else "",
        "seconds": round(seconds, 3) if seconds is not None else "",
        "error": "",
    }


def _fmt(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return round(float(value), 6)


def _summary(rows, score_names) -> list[dict]:
    """Each method's mean score over the images (the data-set figures the papers report: e.g.
    Average Drop % is the mean of the per-image drops)."""
    methods: dict[str, list[dict]] = {}
    for row in rows:
        if not row.get("error"):
            methods.setdefault(row["method"], []).append(row)
    out = []
    for method, group in methods.items():
        record = {"method": method, "images": len(group)}
        for s in score_names:
            values = [r[s] for r in group if r[s] != ""]
            record[s] = round(sum(values) / len(values), 6) if values else None
        out.append(record)
    return out


def _print_ranking(path, per_image, score_names) -> None:
    from ..metrics import rank_methods

    if not per_image:
        return
    first = next(iter(per_image.values()))
    print(f"\n{path}: {first.target_name} (p = {first.probability:.3f})")
    table = rank_methods(per_image)
    _print_table(table, ["rank", "method", *[s for s in score_names if s in table[0]], "beats_random"])


def _print_table(rows, columns) -> None:
    def cell(value):
        if isinstance(value, float):
            return "" if not math.isfinite(value) else f"{value:.3f}"
        return "" if value is None else str(value)

    short = {
        "deletion_auc": "deletion",
        "insertion_auc": "insertion",
        "average_drop": "drop%",
        "increase_in_confidence": "increase",
        "road_morf": "ROAD-MoRF",
        "road_lerf": "ROAD-LeRF",
        "road_gap": "ROAD-gap",
        "pointing_game": "pointing",
        "randomization_rho": "rand-rho",
        "beats_random": "beats-random",
    }
    header = [short.get(c, c) for c in columns]
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(h), *(len(r[k]) for r in cells)) for k, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


class _Throttled:
    """Passes progress on to a bar: on a terminal at most ten times a second; in a log (no
    terminal) once per step of 10%, so a redirected run does not write a line per batch."""

    def __init__(self, bar):
        self.bar = bar
        self.last_time = 0.0
        self.last_step = -1

    def __call__(self, fraction: float, message: str = "") -> None:
        now = time.perf_counter()
        if getattr(self.bar, "_live", False):
            if fraction < 1.0 and now - self.last_time < 0.1:
                return
        else:
            step = int(fraction * 10)
            if fraction < 1.0 and step == self.last_step:
                return
            self.last_step = step
        self.last_time = now
        self.bar(fraction, message)
