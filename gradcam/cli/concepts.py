"""``python -m gradcam concepts IMAGE... --k 4 --out DIR``: Deep Feature Factorization per image.

For each image: ``STEM_concepts.png`` (the concepts over the image, one colour each, with a legend
of the classes each concept votes for), ``STEM_concepts.npy`` (the maps, (k, H, W) in [0, 1]), and
one record in ``concepts.json`` (``Concepts.summary()``: layer, k, reconstruction error, classes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import GradCamError
from .common import add_model_arguments, each_image, fail, load_model, make_explainer

NAME = "concepts"
HELP = "find the concepts a layer sees in images (Deep Feature Factorization) and the classes each votes for"


def add_arguments(parser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, BMP, TIFF, GIF)")
    add_model_arguments(parser)
    parser.add_argument("--k", type=int, default=4, metavar="K", help="number of concepts (default 4)")
    parser.add_argument(
        "--layer",
        default=None,
        metavar="L",
        help="layer path (python -m gradcam layers); default the last spatial layer",
    )
    parser.add_argument("--seed", type=int, default=0, help="the factorisation's seed (default 0)")
    parser.add_argument(
        "--top",
        type=int,
        default=2,
        metavar="N",
        help="classes shown per concept in the legend (default 2; the JSON lists 5)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.6,
        metavar="A",
        help="concept colours' opacity at their peak, 0-1 (default 0.6)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")


def run(args) -> int:
    from ..concepts import check_k
    from ..export import png_bytes
    from ..images import decode_image
    from ..render import concepts_overlay

    if not 0.0 <= args.alpha <= 1.0:
        return fail(f"--alpha must be between 0 and 1; got {args.alpha}.")
    if args.top < 1:
        return fail(f"--top must be 1 or more; got {args.top}.")
    try:
        explainer = make_explainer(load_model(args), args)
        functions = explainer.layer_functions(args.layer)  # checks the layer name
        shape = functions.layer.output.shape  # (batch, h, w, K), or a token layer's (batch, T, K)
        h, w = functions.token_grid or (int(shape[1]), int(shape[2]))
        check_k(args.k, int(shape[-1]), int(h) * int(w), functions.layer.path)  # a bad --k stops before any work
    except (GradCamError, ValueError) as error:
        return fail(str(error))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def factorise_one(path, stem) -> list[dict]:
        image = decode_image(path, name=str(path)).pixels
        concepts = explainer.concepts(image, k=args.k, layer=args.layer, seed=args.seed)
        picture = concepts_overlay(image, concepts.maps, concepts.labels(args.top), alpha=args.alpha)
        (out / f"{stem}_concepts.png").write_bytes(png_bytes(picture))
        np.save(out / f"{stem}_concepts.npy", concepts.maps)
        return [
            {
                "image": str(path),
                "model": explainer.name,
                **concepts.summary(),
                "overlay": f"{stem}_concepts.png",
                "maps": f"{stem}_concepts.npy",
                "legend": concepts.labels(args.top),
            }
        ]

    records, failures = each_image(args.images, "Factorising", "factorised", factorise_one, explainer.name)
    (out / "concepts.json").write_text(json.dumps(records, indent=2))
    print(
        f"Wrote {len(args.images) - failures} concept overlays and {out / 'concepts.json'}"
        + (f"; {failures} image(s) failed." if failures else ".")
    )
    return 1 if failures else 0
