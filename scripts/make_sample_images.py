"""Write sample_images/: real photos bundled with scikit-image and Matplotlib, two side-by-side
composites, and SOURCES.md with each image's origin, licence and the default model's top-1 class.

Run from the repository root:  python scripts/make_sample_images.py
Needs scikit-image and matplotlib (their sample data ships inside the wheels: no network) and, for the
top-1 column, the default EfficientNet-Lite0 model (offline).
"""

from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "sample_images")
MAX_SIDE = 640
QUALITY = 90

# file name -> (loader description, origin, licence)
SOURCES: dict[str, tuple[str, str, str]] = {
    "chelsea.jpg": (
        "skimage.data.chelsea()",
        "scikit-image sample data: Stefan van der Walt's cat Chelsea",
        "CC0 (public domain dedication)",
    ),
    "coffee.jpg": (
        "skimage.data.coffee()",
        "scikit-image sample data: a cup of coffee, photo by Rachel Michetti",
        "CC0 (public domain dedication)",
    ),
    "astronaut.jpg": (
        "skimage.data.astronaut()",
        "scikit-image sample data: astronaut Eileen Collins (NASA)",
        "public domain (NASA)",
    ),
    "rocket.jpg": (
        "skimage.data.rocket()",
        "scikit-image sample data: SpaceX Falcon 9 launch photo via NASA",
        "public domain (NASA)",
    ),
    "grace_hopper.jpg": (
        "matplotlib.cbook.get_sample_data('grace_hopper.jpg')",
        "Matplotlib sample data: Rear Admiral Grace Hopper (US Navy official portrait)",
        "public domain (US Navy)",
    ),
}
COMPOSITES: dict[str, tuple[str, str]] = {
    "cat_and_coffee.jpg": ("chelsea.jpg", "coffee.jpg"),
    "coffee_and_rocket.jpg": ("coffee.jpg", "rocket.jpg"),
}


def load_originals() -> dict[str, np.ndarray]:
    """The original RGB uint8 arrays, straight from the installed packages."""
    import matplotlib.cbook
    import skimage.data

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = np.array(Image.open(fh).convert("RGB"))
    return {
        "chelsea.jpg": skimage.data.chelsea(),
        "coffee.jpg": skimage.data.coffee(),
        "astronaut.jpg": skimage.data.astronaut(),
        "rocket.jpg": skimage.data.rocket(),
        "grace_hopper.jpg": hopper,
    }


def fit(img: Image.Image, max_side: int = MAX_SIDE) -> Image.Image:
    """Shrink (never enlarge) so the long side is at most ``max_side`` pixels."""
    scale = max_side / max(img.size)
    if scale >= 1:
        return img
    return img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)


def center_square(img: Image.Image) -> Image.Image:
    """The largest centred square crop."""
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((left, top, left + side, top + side))


def side_by_side(left: Image.Image, right: Image.Image, height: int = 320) -> Image.Image:
    """Square centre crops of both images, scaled to ``height`` and pasted left | right (2:1), so the
    engine's squash to a square input distorts each half by 2x only."""
    parts = [center_square(im).resize((height, height), Image.LANCZOS) for im in (left, right)]
    canvas = Image.new("RGB", (sum(p.width for p in parts), height))
    x = 0
    for p in parts:
        canvas.paste(p, (x, 0))
        x += p.width
    return fit(canvas)


def predict(paths: list[str]) -> dict[str, np.ndarray]:
    """Default model's class probabilities per file, images resized as the engine does."""
    sys.path.insert(0, ROOT)
    import model_zoo

    zm = model_zoo.load_model(model_zoo.DEFAULT_MODEL)
    h, w = zm.input_size
    result = {}
    for path in paths:
        img = np.array(Image.open(path).convert("RGB"))
        x = np.array(Image.fromarray(img).resize((w, h), Image.BICUBIC))[None]
        logits = np.asarray(zm.keras_model(zm.preprocess(x), training=False))[0]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        result[os.path.basename(path)] = p
    return result, zm.class_names


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    written = []
    for name, arr in load_originals().items():
        path = os.path.join(OUT, name)
        fit(Image.fromarray(arr)).save(path, quality=QUALITY, optimize=True)
        written.append(path)
    for name, (a, b) in COMPOSITES.items():
        path = os.path.join(OUT, name)
        side_by_side(Image.open(os.path.join(OUT, a)), Image.open(os.path.join(OUT, b))).save(
            path, quality=QUALITY, optimize=True
        )
        written.append(path)
    probs, names = predict(written)
    lines = [
        "# Sample images",
        "",
        "Made by `scripts/make_sample_images.py` from sample data that registry packages bundle "
        "(scikit-image, Matplotlib); JPEG quality 90, long side at most 640 px. The top-1 column is "
        "EfficientNet-Lite0 (the default model) on the whole image squashed to 224x224 with Pillow "
        "bicubic, as the engine does; it is computed by the script, not copied.",
        "",
        "For the composites, the last column also gives the rank and probability of each half's own "
        "top-1 class: comparing those classes in the app shows two different regions.",
        "",
        "| File | Size | Origin | Licence | Lite0 top-1 (p) |",
        "|---|---|---|---|---|",
    ]
    for path in written:
        name = os.path.basename(path)
        with Image.open(path) as im:
            size = f"{im.width}x{im.height}"
        if name in SOURCES:
            loader, origin, licence = SOURCES[name]
            origin = f"{origin}; `{loader}`"
        else:
            a, b = COMPOSITES[name]
            origin = f"composite: {a} (left) and {b} (right), side by side, made by the script"
            licence = f"as its parts ({SOURCES[a][2]}; {SOURCES[b][2]})"
        p = probs[name]
        i = int(np.argmax(p))
        cell = f"{i} {names[i]} ({p[i]:.2f})"
        if name in COMPOSITES:
            order = list(np.argsort(-p))
            for part in COMPOSITES[name]:
                j = int(np.argmax(probs[part]))
                cell += f"; {part}'s class {j} {names[j]}: rank {order.index(j) + 1} ({p[j]:.2f})"
        lines.append(f"| `{name}` | {size} | {origin} | {licence} | {cell} |")
    lines.append("")
    with open(os.path.join(OUT, "SOURCES.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    total = sum(os.path.getsize(p) for p in written)
    print(f"wrote {len(written)} images ({total / 1024:.0f} KiB) and SOURCES.md to {OUT}")


if __name__ == "__main__":
    main()
