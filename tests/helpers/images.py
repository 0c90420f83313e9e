"""Images made in memory for the tests: random pixels, files encoded by Pillow, hand-built PNGs."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def random_image(rng, height: int, width: int) -> np.ndarray:
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """Encode a Pillow image with Pillow, in memory."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def raw_png(
    width: int, height: int, bit_depth: int, color_type: int, rows: bytes | None = None, *, row_bytes: int | None = None
) -> bytes:
    """Write a PNG by hand, so headers can say things Pillow would never write.

    ``rows`` is the unfiltered scanline data (each row already prefixed with filter byte 0);
    when None, ``height`` rows of ``row_bytes`` zero bytes are compressed as a stream, so a huge
    image costs only its compressed size in memory.
    """
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    if rows is not None:
        compressed = zlib.compress(rows, 9)
    else:
        compressor = zlib.compressobj(9)
        row = b"\x00" * (1 + row_bytes)
        compressed = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", compressed) + png_chunk(b"IEND", b"")
