"""``python -m gradcam rank-layers IMAGE [--layer L ...] [--json FILE]``: which layer explains best?

Each candidate layer's map of the image (default: the last spatial layer of each stage, see
:func:`gradcam.metrics.layers.stage_layers`) is scored by insertion minus deletion
(:func:`gradcam.rank_layers`); a table is printed, best first, and ``--json`` writes the rows."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import GradCamError
from .common import ProgressBar, add_model_arguments, fail, load_model, make_explainer, parse_target

NAME = "rank-layers"
HELP = "rank layers by how faithful their maps are (insertion minus deletion), best first"


def add_arguments(parser) -> None:
    parser.add_argument("image", metavar="IMAGE", help="an image file (JPEG, PNG, WebP, BMP, TIFF, GIF)")
    add_model_arguments(parser)
    parser.add_argument(
        "--target", default=None, metavar="T", help="class index or name, or group:NAME; default the top prediction"
    )
    parser.add_argument("--method", default="gradcam", metavar="M", help="a CAM method (default gradcam)")
    parser.add_argument(
        "--layer",
        action="append",
        default=[],
        metavar="L",
        help="a layer to rank (repeatable; python -m gradcam layers); default the last layer of each stage",
    )
    parser.add_argument(
        "--steps", type=int, default=50, metavar="N", help="deletion and insertion steps per curve (default 50)"
    )
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON")


def run(args) -> int:
    from .. import rank_layers
    from ..images import decode_image

    try:
        explainer = make_explainer(load_model(args), args)
        target = parse_target(args.target) if args.target is not None else None
        if target is not None:
            explainer.check_target(target)
        image = decode_image(args.image, name=str(args.image)).pixels
        rows = rank_layers(
            explainer,
            image,
            target,
            args.method,
            args.layer or None,
            steps=args.steps,
            progress=ProgressBar("Ranking layers"),  # draws only on a terminal
        )
    except (GradCamError, ValueError) as error:
        return fail(str(error))
    print(f"{'rank':>4}  {'layer':40s} {'stage':10s} {'map':>7s} {'ins-del':>8s} {'insertion':>9s} {'deletion':>8s}")
    for number, row in enumerate(rows, 1):
        grid = f"{row.grid[1]}x{row.grid[0]}"
        print(
            f"{number:>4}  {row.layer:40s} {row.stage:10s} {grid:>7s} {row.score:8.3f} "
            f"{row.insertion_auc:9.3f} {row.deletion_auc:8.3f}"
        )
    label = rows[0].explanation.label
    print(f"Best for {label!r} with {args.method}: {rows[0].layer} (insertion minus deletion, higher is better).")
    if args.json:
        record = {"image": args.image, "target": label, "method": args.method, "steps": args.steps}
        record["layers"] = [row.summary() for row in rows]
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0
