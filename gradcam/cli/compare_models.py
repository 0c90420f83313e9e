"""``python -m gradcam compare-models IMAGE... --model A --model B --out DIR``: one image, one class,
several models side by side (:func:`gradcam.compare_models`).

Per image: ``STEM_models.png`` (each model's overlay with its p for the class and its own top-1,
the agreement figures below) and one record in ``comparison.json`` (per model its probability,
top-1, input size and layer; per pair of models the rank correlation of their maps and how to read it)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from ..errors import GradCamError
from ..export import png_bytes
from .common import each_image, fail, load_model, parse_target

NAME = "compare-models"
HELP = "explain images with 2 to 4 models side by side: one PNG per image and comparison.json"
MAX_MODELS = 4


def add_arguments(parser) -> None:
    from .. import METHODS
    from ..render import COLORMAPS

    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, BMP, TIFF, GIF)")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME_OR_PATH",
        help="a model to compare (repeat, 2 to 4): a model-zoo name (python -m gradcam models) or "
        "a .keras/.h5 file; models must have the same classes (names or number of outputs)",
    )
    parser.add_argument(
        "--classes",
        default=None,
        metavar="FILE",
        help="class names for your own model(s): .txt (one per line) or .json",
    )
    parser.add_argument(
        "--preprocessing",
        default="tf",
        metavar="PRESET",
        help="input preprocessing for your own model(s): tf, torch, caffe, unit, raw or lite",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="T",
        help="class index or name, or a group ('group:dog'), explained by every model; "
        "default: each model's own top prediction",
    )
    parser.add_argument("--method", default="gradcam", metavar="M", help=f"method: {', '.join(METHODS)}")
    parser.add_argument(
        "--shared-scale",
        action="store_true",
        help="draw every model's map on one colour scale (default: each on its own)",
    )
    parser.add_argument("--colormap", default="jet", metavar="C", help=f"colour map: {', '.join(COLORMAPS)}, ...")
    parser.add_argument(
        "--alpha", type=float, default=0.5, metavar="A", help="heatmap opacity in the overlay, 0-1 (default 0.5)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")


def run(args) -> int:
    from .. import Explainer, get_method
    from ..compare import check_classes_match, compare_models, side_by_side
    from ..images import decode_image
    from ..render import colormap_table

    try:
        if not 2 <= len(args.model) <= MAX_MODELS:
            return fail(
                f"Give 2 to {MAX_MODELS} models to compare, each with --model NAME_OR_PATH; got {len(args.model)}."
            )
        if len(set(args.model)) != len(args.model):
            return fail(f"A model is listed twice in {args.model}; list each model once.")
        get_method(args.method)
        colormap_table(args.colormap)
        if not 0.0 <= args.alpha <= 1.0:
            return fail(f"--alpha must be between 0 and 1; got {args.alpha}.")
        target = parse_target(args.target) if args.target is not None else None
        explainers = {}
        for name in args.model:
            model = load_model(SimpleNamespace(model=name, classes=args.classes, preprocessing=args.preprocessing))
            explainers[name] = Explainer(model)
        check_classes_match(list(explainers.values()), list(explainers))
        for name, explainer in explainers.items():  # every model must have the class, before any image
            if target is not None:
                try:
                    explainer.check_target(target)
                except GradCamError as exc:
                    return fail(f"{name} cannot explain {args.target!r}: {exc} Pick a class every model has.")
    except (GradCamError, ValueError) as error:
        return fail(str(error))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def compare_one(path, stem) -> list[dict]:
        decoded = decode_image(path, name=str(path))
        result = compare_models(explainers, decoded.pixels, target, method=args.method, shared_scale=args.shared_scale)
        picture = side_by_side(result, decoded.pixels, args.colormap, args.alpha)
        (out / f"{stem}_models.png").write_bytes(png_bytes(picture))
        return [
            {
                "image": str(path),
                "picture": f"{stem}_models.png",
                **result.summary(),
                "image_notes": list(decoded.notes),
            }
        ]

    records, failures = each_image(args.images, "Comparing", "compared", compare_one)
    (out / "comparison.json").write_text(json.dumps(records, indent=2))
    print(
        f"Wrote {len(args.images) - failures} comparisons of {len(explainers)} models and {out / 'comparison.json'}"
        + (f"; {failures} image(s) failed." if failures else ".")
    )
    return 1 if failures else 0
