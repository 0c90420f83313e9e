"""``python -m gradcam explain IMAGE... --out DIR``: overlays, heatmaps and results.json for a batch.

Each record of ``results.json`` names the files written and carries, under ``provenance``, the
same record (same function, same schema) as the web app's "Provenance JSON" download. With
``--html`` each map also gets a self-contained HTML report, as the app's report button gives.
Every record carries ``similarity_to_top`` and ``verdict`` (:mod:`gradcam.sensitivity`): is the map
about its class, or the top class's map again?"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from ..errors import GradCamError
from ..export import png_bytes, provenance, sha256_bytes
from .common import add_model_arguments, each_image, fail, load_model, make_explainer, parse_target

NAME = "explain"
HELP = "explain images: write an overlay PNG and a heatmap .npy per image, method and target"


def add_arguments(parser) -> None:
    from .. import METHODS
    from ..render import COLORMAPS

    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, BMP, TIFF, GIF)")
    add_model_arguments(parser)
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="T",
        help="class index or name to explain (repeatable); a class group: 'group:dog', "
        "'group:alcohol' (WordNet groups and curated concepts, python -m gradcam groups), "
        "or 'group:NAME=440+907' (its member indices); 'A-vs-B' for a contrast, e.g. "
        "'group:alcohol-vs-group:gambling'; default: the top prediction",
    )
    parser.add_argument(
        "--contrast",
        action="append",
        nargs=2,
        default=[],
        metavar=("A", "B"),
        help="explain 'why A rather than B' (repeatable); A and B may be groups (group:dog)",
    )
    parser.add_argument(
        "--top-k", type=int, default=0, metavar="K", help="also explain each image's K most probable classes"
    )
    parser.add_argument(
        "--method",
        action="append",
        default=[],
        metavar="M",
        help=f"method (repeatable): {', '.join(METHODS)}; default gradcam",
    )
    parser.add_argument(
        "--layer",
        default=None,
        metavar="L",
        help="layer path (python -m gradcam layers); default the last spatial layer",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a method's own option, e.g. --option window=14 for occlusion or --option channels=128 "
        "for Score-CAM (repeatable; python -m gradcam methods lists them); it goes to the "
        "methods that have it",
    )
    parser.add_argument("--aug-smooth", action="store_true", help="average CAM maps over flips and brightness changes")
    parser.add_argument("--colormap", default="jet", metavar="C", help=f"colour map: {', '.join(COLORMAPS)}, ...")
    parser.add_argument(
        "--alpha", type=float, default=0.5, metavar="A", help="heatmap opacity in the overlay, 0-1 (default 0.5)"
    )
    parser.add_argument(
        "--top-percent",
        type=int,
        default=100,
        metavar="P",
        help="colour only the map's top P%% of pixels in the overlay; the rest shows the photo (default 100)",
    )
    parser.add_argument(
        "--html", action="store_true", help="also write a self-contained one-page HTML report per map (images inline)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")


def run(args) -> int:
    from .. import METHODS, Contrast, get_method, overlay
    from ..images import decode_image
    from ..render import colormap_table
    from ..sensitivity import compare_all_to_top

    try:
        methods = [get_method(m) for m in (args.method or ["gradcam"])]
        method_options = _method_options(args.option, methods)
        colormap_table(args.colormap)
        if not 0.0 <= args.alpha <= 1.0:
            return fail(f"--alpha must be between 0 and 1; got {args.alpha}.")
        if not 1 <= args.top_percent <= 100:
            return fail(f"--top-percent must be from 1 to 100 (the share of the map coloured); got {args.top_percent}.")
        keep = args.top_percent / 100.0 if args.top_percent < 100 else None
        display = {"colormap": args.colormap, "alpha": args.alpha, "top_fraction": args.top_percent / 100.0}
        if args.top_k < 0:
            return fail(f"--top-k must be 0 or more; got {args.top_k}.")
        model = load_model(args)
        explainer = make_explainer(model, args)
        requested = [parse_target(t) for t in args.target] + [
            Contrast(parse_target(a), parse_target(b)) for a, b in args.contrast
        ]
        # Class names become indices now, and every target is checked: an unknown class or group
        # stops the run before any image is processed, and --top-k can skip classes already asked for.
        requested = [explainer.class_index(t) if isinstance(t, (int, str)) else t for t in requested]
        for target in requested:
            explainer.check_target(target)
        if args.layer is not None:
            explainer.layer_path(args.layer)
    except (GradCamError, ValueError) as error:
        return fail(str(error))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def explain_one(path, stem) -> list[dict]:
        records = []
        decoded = decode_image(path, name=str(path))
        image = decoded.pixels
        image_sha256 = sha256_bytes(Path(path).read_bytes())  # the bytes given, as the app hashes uploads
        targets = list(requested)
        if args.top_k:
            targets += [i for i, _, _ in explainer.top_k(image, args.top_k) if i not in targets]
        targets = targets or [None]
        for method in methods:
            started = time.perf_counter()
            layer = args.layer if method.uses_layer else None
            # The top prediction's map comes along (one more row of the same call, from the same
            # pass): every other class's map is compared with it (is it about its class?).
            with_top = targets if None in targets else [*targets, None]
            results = explainer.explain_targets(
                image,
                with_top,
                method=method.key,
                layer=layer,
                aug_smooth=args.aug_smooth,
                **method_options[method.key],
            )
            sensitivities = compare_all_to_top(results, results[with_top.index(None)])
            results, sensitivities = results[: len(targets)], sensitivities[: len(targets)]
            seconds = (time.perf_counter() - started) / len(results)
            for result, sensitivity in zip(results, sensitivities):
                name = f"{stem}_{method.key}_{_slug(result.label)}"
                picture = overlay(image, result.heatmap, args.colormap, args.alpha, keep=keep)
                (out / f"{name}.png").write_bytes(png_bytes(picture))
                np.save(out / f"{name}.npy", result.heatmap)
                info = METHODS[method.key]
                made = provenance(
                    result,
                    model=model,
                    image_name=str(path),
                    image_sha256=image_sha256,
                    image_size=decoded.original_size,
                    method_label=info.label,
                    method_paper=info.paper,
                    options={"aug_smooth": args.aug_smooth, **method_options[method.key]},
                    display=display,
                    sensitivity=sensitivity,
                )
                record = {
                    "image": str(path),
                    "model": model.name,
                    **result.summary(),
                    "similarity_to_top": made["explanation"]["similarity_to_top"],
                    "verdict": sensitivity.verdict,
                    "verdict_reading": sensitivity.reading,
                    "seconds": round(seconds, 4),
                    "overlay": f"{name}.png",
                    "heatmap": f"{name}.npy",
                    "image_notes": list(decoded.notes),
                }
                if args.html:
                    from ..report import html_report

                    page = html_report(
                        result,
                        image=image,
                        model=model,
                        image_name=Path(path).name,
                        display=display,
                        record=made,
                        sensitivities=[sensitivity],
                    )
                    (out / f"{name}.html").write_text(page, encoding="utf-8")
                    record["report"] = f"{name}.html"
                record["provenance"] = made
                records.append(record)
        return records

    records, failures = each_image(args.images, "Explaining", "explained", explain_one, model.name)
    (out / "results.json").write_text(json.dumps(records, indent=2))
    print(
        f"Wrote {sum('error' not in r for r in records)} explanations and {out / 'results.json'}"
        + (f"; {failures} image(s) failed." if failures else ".")
    )
    return 1 if failures else 0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "target"


def _method_options(given: list[str], methods) -> dict[str, dict]:
    """``--option NAME=VALUE`` texts as each method's own options: an option goes to the methods
    that declare it, converted and checked by them; one that no chosen method has is refused."""
    chosen: dict[str, dict] = {method.key: {} for method in methods}
    for text in given:
        name, sep, value = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise ValueError(f"--option takes NAME=VALUE (e.g. --option window=14); got {text!r}.")
        takers = [method for method in methods if name in method.option_names()]
        if not takers:
            valid = sorted({o for method in methods for o in method.option_names()})
            raise ValueError(
                f"--option {name}: none of the chosen methods ({', '.join(m.key for m in methods)}) has it; "
                + (f"their options: {', '.join(valid)}." if valid else "they have no options of their own.")
                + " python -m gradcam methods lists every method's options."
            )
        for method in takers:
            chosen[method.key][name] = value.strip()
    for method in methods:
        # converted and checked now, so a bad value stops the run before any image
        chosen[method.key] = {
            name: value
            for name, value in method.resolve_options(chosen[method.key]).items()
            if name in chosen[method.key]
        }
    return chosen
