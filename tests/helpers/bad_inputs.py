"""The issue's list of bad and awkward images, generated in memory (no binary blobs), shared by the
library, CLI and app hardening tests.

Each case is (file name, bytes, outcome): outcome is ``Refused(fragment)`` for files that must get
a one-line ImageError containing ``fragment``, or ``Works(height, width, note)`` for files that must
decode to an upright (height, width, 3) image (``note``: a fragment of one of its decode notes, or
None) and explain correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers.images import encode, png_chunk, raw_png  # noqa: F401 - png_chunk re-exported

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_images"


@dataclass(frozen=True)
class Refused:
    fragment: str


@dataclass(frozen=True)
class Works:
    height: int
    width: int
    note: str | None = None


@cache
def photo(name: str = "coffee.jpg", size: tuple[int, int] | None = None) -> np.ndarray:
    """A bundled sample photo as uint8 RGB, optionally resized to (width, height)."""
    image = Image.open(SAMPLES / name).convert("RGB")
    if size is not None:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image)


def _flip_crc(png: bytes, kind: bytes) -> bytes:
    at = png.index(kind)
    length = int.from_bytes(png[at - 4 : at], "big")
    crc_at = at + 4 + length
    return png[:crc_at] + bytes([png[crc_at] ^ 0xFF]) + png[crc_at + 1 :]


def exif_rotated_jpeg(upright: np.ndarray) -> bytes:
    """A JPEG whose stored pixels are ``upright`` turned 90° counter-clockwise, tagged with EXIF
    orientation 6 ("rotate 90° clockwise to view"): a viewer shows ``upright``."""
    stored = np.ascontiguousarray(np.rot90(upright, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())


def espresso_top_right() -> np.ndarray:
    """An upright 480 x 320 (H x W) flat grey picture with the coffee photo, 150 x 150, in its
    top-right corner: the one place an "espresso" map may light up."""
    canvas = np.full((480, 320, 3), 128, np.uint8)
    canvas[10:160, 160:310] = photo("coffee.jpg", (150, 150))
    return canvas


@cache
def bad_inputs() -> tuple[tuple[str, bytes, object], ...]:
    coffee = photo("coffee.jpg", (160, 120))  # 120 x 160, real content for the model
    jpeg = encode(Image.fromarray(photo("chelsea.jpg", (200, 150))), "JPEG", quality=90)
    png = encode(Image.fromarray(coffee), "PNG")

    sixteen = photo("rocket.jpg", (96, 64))[:, :, 0].astype(np.uint16) * 257  # full 16-bit range
    palette = Image.fromarray(coffee).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    palette_data = encode(palette, "PNG", transparency=0)
    rgba = np.dstack([coffee, np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1))])
    frames = [Image.fromarray(photo(n, (80, 60))) for n in ("coffee.jpg", "rocket.jpg", "chelsea.jpg")]
    strip = np.ascontiguousarray(np.tile(photo("coffee.jpg", (400, 20)), (1, 20, 1)))  # 20 x 8000

    return (
        ("empty.jpg", b"", Refused("the file is empty (0 bytes)")),
        ("letter.jpg", b"Dear diary,\nthis is not a picture.\n", Refused("this is a text file, not an image")),
        (
            "page.png",
            b"<!DOCTYPE html>\n<html><body>403 Forbidden</body></html>",
            Refused("this is an HTML web page, not an image"),
        ),
        (
            "drawing.png",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
            Refused("SVG vector drawing"),
        ),
        ("truncated.jpg", jpeg[: len(jpeg) // 2], Refused("the JPEG file is truncated")),
        ("badcrc.png", _flip_crc(png, b"IDAT"), Refused("checksum mismatch in its IDAT chunk")),
        ("bomb.png", raw_png(8000, 8000, 1, 0, row_bytes=1000), Refused("megapixel limit")),
        ("one_pixel.png", encode(Image.new("RGB", (1, 1), (200, 120, 40)), "PNG"), Works(1, 1)),
        ("strip_8000x20.png", encode(Image.fromarray(strip), "PNG"), Works(20, 8000)),
        ("deep16.png", encode(Image.fromarray(sixteen), "PNG"), Works(64, 96, "16-bit PNG scaled")),
        (
            "cmyk.jpg",
            encode(Image.fromarray(coffee).convert("CMYK"), "JPEG", quality=95),
            Works(120, 160, "CMYK converted"),
        ),
        ("palette.png", palette_data, Works(120, 160, "transparency composited")),
        ("rgba.png", encode(Image.fromarray(rgba, mode="RGBA"), "PNG"), Works(120, 160, "transparency composited")),
        ("gray.png", encode(Image.fromarray(coffee).convert("L"), "PNG"), Works(120, 160)),
        (
            "animated.gif",
            encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
            Works(60, 80, "animated GIF: used frame 1 of 3"),
        ),
        (
            "pages.tif",
            encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
            Works(60, 80, "multi-page TIFF: used page 1 of 3"),
        ),
        ("rotated_exif6.jpg", exif_rotated_jpeg(espresso_top_right()), Works(480, 320, "EXIF orientation")),
    )


def write_all(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data, _ in bad_inputs():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths
