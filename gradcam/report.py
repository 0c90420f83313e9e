"""A self-contained one-page HTML report of an explanation, for people who will not open the app.

The page carries everything inline: the photo, the heatmap and the overlay as base64 JPEG (shrunk
to at most :data:`REPORT_MAX_SIDE` pixels on the long side, so a report of a phone photo stays a
few hundred kilobytes), the classes with their probabilities, the method, layer and model, and the
provenance record as a table. No scripts, no fonts, no external links: it opens the same offline,
in a mail client or years later. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .encoding import data_uri, jpeg_bytes
from .errors import ExportError
from .provenance import display_settings, provenance
from .render import colorize, fit_for_display, overlay
from .targets import class_order

#: Longest side, in pixels, of each picture in a report.
REPORT_MAX_SIDE = 1024
#: JPEG quality of the inline pictures: heatmaps are smooth, so 85 shows no artefacts at a third
#: of the size of PNG.
JPEG_QUALITY = 85
#: How many of the most probable classes the report lists.
TOP_CLASSES = 10

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
.lead{color:#57606a;margin-top:0}.verdict{margin:.4rem 0}
.row{display:grid;grid-template-columns:repeat(auto-fill,minmax(240px,1fr));gap:1rem}
figure{margin:0}figure img{width:100%;height:auto;border:1px solid #d0d7de;border-radius:4px}
figcaption{font-size:.85rem;color:#57606a}table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}tr.explained td{background:#fff1e5;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}code{font-size:.85rem;white-space:nowrap}
td+td{overflow-wrap:anywhere}
.bar{display:inline-block;height:.7rem;background:#e4572e;vertical-align:middle;margin-right:.4rem}
footer{margin-top:2rem;font-size:.8rem;color:#57606a}
"""


def image_data_uri(image: np.ndarray, max_side: int = REPORT_MAX_SIDE, quality: int = JPEG_QUALITY) -> str:
    """A uint8 RGB (H, W, 3) image as a ``data:image/jpeg;base64,...`` URI, shrunk so its longer
    side is at most ``max_side``.

    Raises:
        ExportError: not a uint8 (H, W, 3) array.
    """

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ExportError(
            f"A uint8 RGB image (H, W, 3) is expected for the report; got {array.dtype} "
            f"{array.shape}. Colour a heatmap first with gradcam.colorize."
        )
    small = fit_for_display(array, max_side)
    return data_uri(jpeg_bytes(small, quality, optimize=True), "image/jpeg")


def _figure(uri: str, caption: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{html.escape(alt)}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def _flatten(record: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            rows.append((name, json.dumps(value, ensure_ascii=False, default=str)))
        else:
            rows.append((name, "" if value is None else str(value)))
    return rows


def _probability_rows(explanations: Sequence[Any], names: Sequence[str]) -> str:

    probabilities = np.asarray(explanations[0].probabilities, dtype=np.float64)
    explained = {int(e.target_index) for e in explanations}
    explained |= {int(e.contrast_index) for e in explanations if getattr(e, "contrast_index", None) is not None}
    order = class_order(probabilities, TOP_CLASSES)
    order += [i for i in sorted(explained) if i not in order]
    known = {int(i): str(n) for e in explanations for i, n, _ in (getattr(e, "top", None) or ())}
    for e in explanations:
        known[int(e.target_index)] = str(e.target_name)
    rows = []
    for i in order:
        name = names[i] if i < len(names) else known.get(i, f"class {i}")
        p = float(probabilities[i])
        css = ' class="explained"' if i in explained else ""
        rows.append(
            f"<tr{css}><td>{html.escape(name)}</td><td class=num>{i}</td>"
            f'<td><span class="bar" style="width:{max(p, 0.0) * 12:.2f}rem"></span>{p:.2%}</td></tr>'
        )
    return "<table><tr><th>class</th><th>index</th><th>probability</th></tr>" + "".join(rows) + "</table>"


def _sensitivity_lines(items: Sequence[Any], sensitivities: Sequence[Any] | None, record) -> list[str]:
    """Per explanation, its "About this class?" paragraph (empty when not measured)."""
    if sensitivities is not None:
        if len(sensitivities) != len(items):
            raise ExportError(
                f"sensitivities must give one entry per explanation: expected {len(items)}, got {len(sensitivities)}."
            )
        found = [s.summary() if s is not None else None for s in sensitivities]
    else:
        found = [(record or {}).get("class_sensitivity")] + [None] * (len(items) - 1)
    lines = []
    for e, s in zip(items, found):
        if not s:
            lines.append("")
            continue
        label = e.label if hasattr(e, "label") else e.target_name
        rho = s.get("similarity_to_top")
        figure = f"similarity to {s.get('top_name')}'s map {rho:.2f}; " if rho is not None else ""
        lines.append(
            f'<p class="verdict"><b>About this class? {html.escape(label)}: {html.escape(str(s.get("verdict")))}</b> '
            f"({html.escape(figure)}Spearman's rho on a 56×56 grid). {html.escape(str(s.get('reading', '')))}</p>"
        )
    return lines


def html_report(
    explanations: Any,
    *,
    image: np.ndarray,
    model: Any,
    image_name: str,
    display: Any = None,
    record: Mapping[str, Any] | None = None,
    image_sha256: str | None = None,
    heatmaps: Sequence[np.ndarray] | None = None,
    title: str | None = None,
    max_side: int = REPORT_MAX_SIDE,
    sensitivities: Sequence[Any] | None = None,
) -> str:
    """A self-contained one-page HTML report of the current view.

    Args:
        explanations: one :class:`gradcam.Explanation`, or several of the same image (compared
            classes or methods): each gets its heatmap and overlay.
        image: the uint8 RGB pixels explained (any size; shrunk for the page).
        model: the model-zoo ``ZooModel`` (its label, name and class names are shown).
        image_name: the image's file name as the person gave it.
        display: colour map, opacity and "show the top X%" (a mapping, or an object with
            ``colormap``, ``alpha`` and ``top_percent`` such as the app's link; see
            :func:`gradcam.export.display_settings`).
        record: the provenance record to tabulate (an :class:`~gradcam.export.ExportBundle`
            passes its own); None builds one for the first explanation with ``image_sha256``.
        heatmaps: maps to draw instead of each explanation's own (e.g. ``gradcam.shared_scale``).
        title: the page's heading; default "Grad-CAM Explorer report: <image name>".
        max_side: longest side of each picture in pixels.
        sensitivities: per explanation its :class:`gradcam.sensitivity.ClassSensitivity` (or
            None): "About this class?" with the similarity to the top class's map and the verdict
            in words goes under its pictures. Default: the ``class_sensitivity`` of ``record`` for
            the first explanation, when the record has one.

    Returns:
        The page as a string (encode as UTF-8 to save it).

    Raises:
        ExportError: no explanations, a heatmaps list of the wrong length, or a bad image.
    """

    items = list(explanations) if isinstance(explanations, (list, tuple)) else [explanations]
    if not items:
        raise ExportError("An explanation (or a list of them) is expected for the report; got an empty list.")
    maps = list(heatmaps) if heatmaps is not None else [e.heatmap for e in items]
    if len(maps) != len(items):
        raise ExportError(f"heatmaps must give one map per explanation: expected {len(items)}, got {len(maps)}.")
    readings = _sensitivity_lines(items, sensitivities, record)
    settings = display_settings(display)
    # Draw at the report's size: colouring and blending a 12-megapixel photo only to shrink it
    # afterwards would cost a second for nothing.
    photo = fit_for_display(np.asarray(image), max_side)
    if np.asarray(photo).dtype != np.uint8:
        raise ExportError(f"A uint8 RGB image is expected for the report; got {np.asarray(image).dtype}.")
    keep = settings["top_fraction"] if settings["top_fraction"] < 1.0 else None
    names = list(getattr(model, "class_names", None) or [])
    model_label = getattr(model, "label", None) or getattr(model, "name", None) or "model"
    if record is None:
        record = provenance(
            items[0],
            model=model,
            image_name=image_name,
            image_sha256=image_sha256 or "",
            image_size=(np.asarray(image).shape[1], np.asarray(image).shape[0]),
            display=settings,
        )
    first = items[0]
    heading = title or f"Grad-CAM Explorer report: {image_name}"
    method_label = (record.get("explanation", {}) or {}).get("method_label") or first.method

    def what(e: Any) -> str:
        text = f"{e.target_name} (p = {float(e.target_probability):.1%})"
        if getattr(e, "contrast_name", None):
            text = f"why {e.target_name} rather than {e.contrast_name}"
        return text

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(heading)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(heading)}</h1>",
        '<p class="lead">'
        + html.escape(
            f"{method_label}"
            + (f" at layer {first.layer}" if first.layer else "")
            + f" explains what {model_label} sees as "
            + "; ".join(what(e) for e in items)
            + "."
        )
        + "</p>",
        "<h2>The image and what the model looked at</h2>",
        '<div class="row">',
        _figure(
            image_data_uri(photo, max_side),
            f"Original: {image_name} ({np.asarray(image).shape[1]}×{np.asarray(image).shape[0]} pixels)",
            "original photo",
        ),
    ]
    for e, heat in zip(items, maps):
        small = fit_for_display(np.asarray(heat, dtype=np.float32), max_side)
        label = e.label if hasattr(e, "label") else e.target_name
        parts.append(
            _figure(
                image_data_uri(colorize(small, settings["colormap"]), max_side),
                f"Heatmap: {label} ({settings['colormap']})",
                f"heatmap of {label}",
            )
        )
        over = overlay(photo, small, settings["colormap"], settings["alpha"], keep=keep)
        shown = f", top {keep:.0%} shown" if keep else ""
        parts.append(
            _figure(
                image_data_uri(over, max_side),
                f"Overlay: {label} (opacity {settings['alpha']:.2f}{shown})",
                f"overlay of {label}",
            )
        )
    parts.append("</div>")
    if any(readings):
        parts.append("<h2>Is each map about its class?</h2>")
        parts += [line for line in readings if line]
    parts += [
        "<h2>Classes</h2>",
        _probability_rows(items, names),
        "<h2>How it was made</h2>",
        "<table><tr><th>field</th><th>value</th></tr>",
    ]
    parts += [f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v)}</td></tr>" for k, v in _flatten(record)]
    parts += [
        "</table>",
        "<footer>Made with Grad-CAM Explorer. A heatmap shows where the evidence for a class lies "
        "according to the method; it is a claim about the model, not proof. The provenance above "
        "is enough to recompute it.</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


__all__ = ["REPORT_MAX_SIDE", "html_report", "image_data_uri"]
