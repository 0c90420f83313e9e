"""Hardening tests for gradcam.images: every bad input is generated here, in memory (no binary blobs).

Each refusal must be a gradcam.errors.ImageError with a one-line message that names the file; no
Pillow / OS / decoder exception may escape.
"""

from __future__ import annotations

import io
import random
import struct
import time
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from gradcam import limits
from gradcam.errors import ImageError
from gradcam.images import ACCEPTED_FORMATS, DecodedImage, as_rgb_uint8, decode_image, load_image
from tests.helpers.images import encode, raw_png

ACCEPTED_WORDS = "JPEG, PNG, WebP, BMP, TIFF or GIF"


# ----------------------------------------------------------------------------------------------
# Generators and assertions
# ----------------------------------------------------------------------------------------------


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def refused(source, *fragments: str, name: str | None = None) -> str:
    """Assert that decoding ``source`` raises ImageError with a one-line message containing every
    fragment, and return the message."""
    with pytest.raises(ImageError) as info:
        decode_image(source, name=name)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def check_pixels(pixels: np.ndarray, height: int, width: int) -> None:
    assert isinstance(pixels, np.ndarray)
    assert pixels.dtype == np.uint8
    assert pixels.shape == (height, width, 3)
    assert pixels.flags["C_CONTIGUOUS"]


# ----------------------------------------------------------------------------------------------
# Not an image at all
# ----------------------------------------------------------------------------------------------


def test_empty_file_is_refused_with_the_accepted_formats():
    message = refused(b"", name="cat.jpg")
    assert message == f"cat.jpg: the file is empty (0 bytes). Upload a {ACCEPTED_WORDS} image."


def test_text_file_named_jpg_is_called_text():
    refused(
        b"Dear diary,\nthis is not a picture of a cat.\n",
        "cat.jpg: this is a text file, not an image",
        ACCEPTED_WORDS,
        name="cat.jpg",
    )


def test_html_page_named_png_is_called_html():
    page = b"\xef\xbb\xbf  <!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body>no</body></html>"
    refused(page, "dog.png: this is an HTML web page, not an image", "Save the picture itself", name="dog.png")


@pytest.mark.parametrize(
    "svg",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- drawn by hand -->\n<svg xmlns="http://www.w3.org/2000/svg"/>',
    ],
)
def test_svg_named_png_is_called_svg_and_unsupported(svg):
    refused(svg, "logo.png: this is an SVG vector drawing, which is not supported", "Export it as PNG", name="logo.png")


@pytest.mark.parametrize(
    "make, what",
    [
        (lambda: encode(Image.new("RGB", (16, 16), "red"), "ICO"), "ICO (Windows icon) files are not supported"),
        (lambda: encode(Image.new("RGB", (16, 16), "red"), "PDF"), "PDF files are not supported"),
        (lambda: encode(Image.new("RGB", (16, 16), "red"), "PPM"), "PPM/PGM/PBM (Netpbm) files are not supported"),
        (lambda: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "HEIC/HEIF (iPhone photo) files"),
        (lambda: b"\x00\xfe" + random.Random(1).randbytes(300), "this is not an image in a supported format"),
    ],
)
def test_formats_outside_the_accepted_list_are_refused_with_the_list(make, what):
    refused(make(), f"x.bin: {what}", f"accepted: {ACCEPTED_WORDS}", name="x.bin")


def test_accepted_formats_lists_the_pillow_names():
    assert set(ACCEPTED_FORMATS) == {"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"}


# ----------------------------------------------------------------------------------------------
# Damaged files
# ----------------------------------------------------------------------------------------------


def test_truncated_jpeg_is_refused_not_returned_half_grey():
    jpeg = encode(Image.fromarray(noise(120, 160)), "JPEG", quality=90)
    refused(jpeg[: len(jpeg) // 2], "photo.jpg: the JPEG file is truncated", "Re-download", name="photo.jpg")
    # The refusal must come from our decoding, not from flipping Pillow's global switch.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png_is_refused():
    png = encode(Image.fromarray(noise(60, 80)), "PNG")
    refused(png[: len(png) // 2], "a.png: the PNG file is truncated", name="a.png")


def test_damaged_jpeg_header_is_called_damaged():
    refused(
        b"\xff\xd8\xff\xe0" + b"\x13" * 200, "a.jpg: the file looks like a JPEG but its header is damaged", name="a.jpg"
    )


def _flip_crc(png: bytes, kind: bytes) -> bytes:
    at = png.index(kind)
    (length,) = struct.unpack(">I", png[at - 4 : at])
    crc_at = at + 4 + length
    return png[:crc_at] + bytes([png[crc_at] ^ 0xFF]) + png[crc_at + 1 :]


@pytest.mark.parametrize("chunk", [b"IDAT", b"IHDR"])
def test_png_with_broken_crc_is_refused(chunk):
    # Pillow itself decodes a PNG with a bad IDAT checksum without complaint; we must not.
    png = encode(Image.fromarray(noise(30, 40)), "PNG")
    refused(
        _flip_crc(png, chunk),
        f"b.png: the PNG file is corrupt (checksum mismatch in its {chunk.decode()} chunk)",
        name="b.png",
    )


def test_no_raw_exception_escapes_from_mangled_files():
    """Truncate and bit-flip files of every accepted format: each must decode or raise ImageError."""
    base = Image.fromarray(noise(24, 32, seed=3))
    samples = [encode(base, fmt) for fmt in ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")]
    rng = random.Random(7)
    outcomes = {"decoded": 0, "refused": 0}
    for data in samples:
        for _ in range(20):
            mangled = bytearray(data)
            if rng.random() < 0.5:
                mangled = mangled[: rng.randrange(1, len(mangled))]
            else:
                for _ in range(rng.randint(1, 4)):
                    mangled[rng.randrange(len(mangled))] ^= 1 << rng.randrange(8)
            try:
                check_pixels(decode_image(bytes(mangled)).pixels, 24, 32)
                outcomes["decoded"] += 1
            except ImageError as error:
                assert "\n" not in str(error) and str(error).startswith("image: ")
                outcomes["refused"] += 1
    assert outcomes["refused"] > 0  # the mangling really produced bad files


# ----------------------------------------------------------------------------------------------
# Size limits
# ----------------------------------------------------------------------------------------------


def _forbid_decoding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)


def test_decompression_bomb_is_refused_from_the_header_without_decoding(monkeypatch):
    # A real bomb: 8000 x 8000 one-bit pixels of zeros, ~10 KB on disk, 64 megapixels decoded.
    # 64 MP is over our 40 MP limit but under Pillow's own (89 MP), so only our check can stop it.
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 40_000_000)
    bomb = raw_png(8000, 8000, 1, 0, row_bytes=1000)
    assert len(bomb) < 100_000
    _forbid_decoding(monkeypatch)
    start = time.perf_counter()
    refused(
        bomb,
        "bomb.png: the image is 8000 x 8000 pixels (64.0 megapixels), over the 40.0-megapixel limit",
        "refused before decoding",
        "GRADCAM_MAX_IMAGE_PIXELS",
        name="bomb.png",
    )
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("our_limit", [40_000_000, 10**12])
def test_header_claiming_a_gigantic_size_is_refused(monkeypatch, our_limit):
    # The header lies (100000 x 100000) over a few bytes of data. That is past Pillow's own bomb
    # limit, which fires inside Image.open before our check (whatever our limit is); its
    # DecompressionBombError must still become a one-line ImageError, without decoding.
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", our_limit)
    liar = raw_png(100_000, 100_000, 8, 0, rows=b"\x00" * 11)
    _forbid_decoding(monkeypatch)
    refused(
        liar,
        "liar.png: the image is too large to decode safely",
        "decompression bomb",
        f"fewer than {min(our_limit, Image.MAX_IMAGE_PIXELS) / 1e6:.1f} megapixels",
        name="liar.png",
    )


def test_pixel_limit_is_read_at_call_time(monkeypatch):
    png = encode(Image.new("RGB", (20, 20), "red"), "PNG")
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 399)
    refused(png, "the image is 20 x 20 pixels", "over the 0.0-megapixel limit")
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 400)
    check_pixels(load_image(png), 20, 20)


def test_file_over_the_byte_limit_is_refused_before_decoding(monkeypatch, tmp_path):
    png = encode(Image.fromarray(noise(40, 40)), "PNG")  # incompressible: ~4.8 KB
    monkeypatch.setattr(limits, "MAX_IMAGE_BYTES", 2048)

    def no_open(*args, **kwargs):
        raise AssertionError("the decoder was reached")

    monkeypatch.setattr(Image, "open", no_open)
    expected = f"big.png: the file is {len(png) / 1024:.1f} KB, over the 2.0 KB limit"
    refused(png, expected, "GRADCAM_MAX_IMAGE_BYTES", name="big.png")
    path = tmp_path / "big.png"
    path.write_bytes(png)
    refused(path, expected)

    class ReadOnly:
        def __init__(self):
            self.asked = []

        def read(self, size=-1):
            self.asked.append(size)
            return png[:size] if size >= 0 else png

    stream = ReadOnly()
    refused(stream, "image: the file is 2.0 KB, over the 2.0 KB limit")
    assert stream.asked == [2049]  # never asked for the whole (possibly huge) stream


def test_one_by_one_image_works():
    decoded = decode_image(encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"))
    check_pixels(decoded.pixels, 1, 1)
    assert decoded.pixels[0, 0].tolist() == [10, 200, 30]
    assert decoded.original_size == (1, 1) and decoded.format == "PNG" and decoded.notes == ()


def test_extreme_aspect_ratio_works():
    strip = np.zeros((20, 8000, 3), np.uint8)
    strip[:, -1] = (0, 0, 255)
    decoded = decode_image(encode(Image.fromarray(strip), "PNG"))
    check_pixels(decoded.pixels, 20, 8000)
    assert decoded.original_size == (8000, 20)
    assert decoded.pixels[10, -1].tolist() == [0, 0, 255]


# ----------------------------------------------------------------------------------------------
# Bit depths, colour modes, transparency
# ----------------------------------------------------------------------------------------------


def test_16_bit_gray_png_is_scaled_not_clipped():
    values = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    png = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(png)).mode in ("I;16", "I")  # what Pillow would clip on convert("RGB")
    decoded = decode_image(png)
    check_pixels(decoded.pixels, 1, 4)
    assert decoded.pixels[0, :, 0].tolist() == [0, 1, 128, 255]
    assert (decoded.pixels == decoded.pixels[:, :, :1]).all()  # gray stays gray
    assert "16-bit PNG scaled to 8 bits" in decoded.notes


def test_16_bit_rgb_png_is_scaled():
    # Written by hand (colour type 2, 16 bits per sample, big-endian) - Pillow reads it itself.
    pixel = struct.pack(">HHH", 65535, 32768, 0) + struct.pack(">HHH", 0, 0, 65535)
    png = raw_png(2, 1, 16, 2, rows=b"\x00" + pixel)
    decoded = decode_image(png)
    check_pixels(decoded.pixels, 1, 2)
    assert decoded.pixels[0].tolist() == [[255, 128, 0], [0, 0, 255]]
    assert decoded.notes == ("16-bit PNG scaled to 8 bits",)


def test_32_bit_integer_tiff_within_16_bits_is_scaled_and_beyond_is_refused():
    within = np.array([[0, 65535]], dtype=np.int32)
    decoded = decode_image(encode(Image.fromarray(within, mode="I"), "TIFF"))
    assert decoded.pixels[0, :, 0].tolist() == [0, 255]
    assert "16-bit TIFF scaled to 8 bits" in decoded.notes
    beyond = encode(Image.fromarray(np.array([[0, 70000]], dtype=np.int32), mode="I"), "TIFF")
    refused(beyond, "d.tif: the image holds 32-bit integer pixels with values in [0, 70000]", name="d.tif")


@pytest.mark.parametrize(
    "mode, colour, words",
    [
        ("F", 0.5, "32-bit floating-point pixels"),
        ("LAB", (50, 0, 0), "the CIE L*a*b* colour space"),
    ],
)
def test_colour_modes_without_a_faithful_rgb_conversion_are_refused(mode, colour, words):
    tiff = encode(Image.new(mode, (4, 4), colour), "TIFF")
    refused(tiff, f"e.tif: the image uses {words}, which is not supported", "Save it as an 8-bit RGB", name="e.tif")


@pytest.mark.parametrize(
    "cmyk, rgb", [((0, 255, 255, 0), (255, 0, 0)), ((255, 0, 0, 0), (0, 255, 255)), ((0, 0, 0, 255), (0, 0, 0))]
)
def test_cmyk_jpeg_is_converted_to_the_right_colour(cmyk, rgb):
    decoded = decode_image(encode(Image.new("CMYK", (16, 16), cmyk), "JPEG", quality=95))
    check_pixels(decoded.pixels, 16, 16)
    assert np.abs(decoded.pixels[8, 8].astype(int) - rgb).max() <= 8, decoded.pixels[8, 8]
    assert decoded.notes == ("CMYK converted to RGB",)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_image_with_transparency_is_composited_on_white(fmt):
    palette_image = Image.new("P", (4, 2), 0)
    palette_image.putpalette([0, 0, 0, 200, 30, 40] + [0] * 762)
    palette_image.putpixel((3, 1), 1)
    decoded = decode_image(encode(palette_image, fmt, transparency=0))
    check_pixels(decoded.pixels, 2, 4)
    assert decoded.pixels[0, 0].tolist() == [255, 255, 255]  # transparent index -> white, not black
    assert decoded.pixels[1, 3].tolist() == [200, 30, 40]
    assert "transparency composited on white" in decoded.notes


def test_rgba_is_composited_on_white():
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 128], [255, 0, 0, 255], [0, 100, 0, 51]]], np.uint8)
    decoded = decode_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    # 0 * a + 255 * (1 - a): black at half alpha is mid grey; 100 green at 20% is 0.2*100 + 0.8*255.
    assert decoded.pixels[0].tolist() == [[255, 255, 255], [127, 127, 127], [255, 0, 0], [204, 224, 204]]
    assert decoded.notes == ("transparency composited on white",)


def test_opaque_rgba_gets_no_transparency_note():
    decoded = decode_image(encode(Image.new("RGBA", (3, 3), (1, 2, 3, 255)), "PNG"))
    assert decoded.pixels[1, 1].tolist() == [1, 2, 3]
    assert decoded.notes == ()


def test_gray_and_gray_alpha_become_rgb():
    gray = decode_image(encode(Image.new("L", (5, 3), 77), "PNG"))
    check_pixels(gray.pixels, 3, 5)
    assert gray.pixels[0, 0].tolist() == [77, 77, 77] and gray.notes == ()
    gray_alpha = decode_image(encode(Image.new("LA", (5, 3), (0, 0)), "PNG"))
    assert gray_alpha.pixels[2, 4].tolist() == [255, 255, 255]
    assert gray_alpha.notes == ("transparency composited on white",)
    bilevel = decode_image(encode(Image.new("1", (5, 3), 1), "BMP"))
    assert bilevel.pixels[0, 0].tolist() == [255, 255, 255] and bilevel.format == "BMP"


# ----------------------------------------------------------------------------------------------
# Several frames, orientation
# ----------------------------------------------------------------------------------------------

FRAMES = [Image.new("RGB", (8, 6), colour) for colour in ("red", "blue", "lime")]


@pytest.mark.parametrize(
    "fmt, note",
    [
        ("GIF", "animated GIF: used frame 1 of 3"),
        ("PNG", "animated PNG: used frame 1 of 3"),
        ("WEBP", "animated WEBP: used frame 1 of 3"),
        ("TIFF", "multi-page TIFF: used page 1 of 3"),
        ("MPO", "multi-picture JPEG (MPO): used image 1 of 3"),
    ],
)
def test_multi_frame_files_use_the_first_frame_and_say_so(fmt, note):
    options = {"duration": 100, "lossless": True} if fmt == "WEBP" else {"duration": 100}
    data = encode(FRAMES[0], fmt, save_all=True, append_images=FRAMES[1:], **options)
    decoded = decode_image(data)
    check_pixels(decoded.pixels, 6, 8)
    assert np.abs(decoded.pixels[3, 4].astype(int) - (255, 0, 0)).max() <= 8
    assert decoded.format == fmt
    assert decoded.notes == (note,)


def test_exif_orientation_6_gives_the_upright_image_a_viewer_sees():
    # Stored on disk: 60 wide x 30 tall, red marker in the stored top-left corner. Orientation 6
    # tells viewers to rotate it 90 degrees clockwise, which carries the top-left corner to the
    # top-right of a 30 wide x 60 tall picture.
    stored = np.full((30, 60, 3), 255, np.uint8)
    stored[:10, :10] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes()))
    check_pixels(decoded.pixels, 60, 30)
    assert decoded.original_size == (30, 60)
    top_right = decoded.pixels[:8, -8:].reshape(-1, 3).mean(axis=0)
    top_left = decoded.pixels[:8, :8].reshape(-1, 3).mean(axis=0)
    assert np.abs(top_right - (255, 0, 0)).max() < 20, top_right
    assert np.abs(top_left - (255, 255, 255)).max() < 20, top_left
    assert decoded.notes == ("EXIF orientation applied (rotated 90° clockwise)",)


def test_corrupt_exif_is_ignored_quietly():
    jpeg = encode(Image.new("RGB", (6, 4), "blue"), "JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's "Corrupt EXIF data" warning must not leak out
        decoded = decode_image(jpeg)
    check_pixels(decoded.pixels, 4, 6)
    assert decoded.notes == ()


# ----------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------

PNG_3x2 = encode(Image.new("RGB", (3, 2), (9, 8, 7)), "PNG")


def test_bytes_bytearray_and_memoryview_sources():
    for source in (PNG_3x2, bytearray(PNG_3x2), memoryview(PNG_3x2)):
        decoded = decode_image(source)
        assert isinstance(decoded, DecodedImage)
        check_pixels(decoded.pixels, 2, 3)
        assert decoded.pixels[1, 2].tolist() == [9, 8, 7]


def test_path_sources_take_their_name_from_the_file(tmp_path):
    path = tmp_path / "kitten.png"
    path.write_bytes(PNG_3x2)
    check_pixels(load_image(path), 2, 3)
    check_pixels(load_image(str(path)), 2, 3)
    (tmp_path / "empty.jpg").write_bytes(b"")
    refused(tmp_path / "empty.jpg", "empty.jpg: the file is empty (0 bytes)")
    refused(str(tmp_path / "missing.png"), "missing.png: file not found (", "Check the path")
    refused(tmp_path, f"{tmp_path.name}: this is a folder, not an image file")
    refused("bad\x00name.png", "bad name.png: the file could not be read (embedded null byte)")


def test_getvalue_only_object_like_streamlit_uploaded_file():
    class Upload:  # like streamlit's UploadedFile: .name and .getvalue(), position irrelevant
        name = "upload.png"

        def getvalue(self):
            return PNG_3x2

    check_pixels(load_image(Upload()), 2, 3)

    class EmptyUpload(Upload):
        def getvalue(self):
            return b""

    refused(EmptyUpload(), "upload.png: the file is empty (0 bytes)")


def test_read_only_object(tmp_path):
    class Stream:
        def read(self, size=-1):
            return PNG_3x2

    check_pixels(load_image(Stream()), 2, 3)
    (tmp_path / "notes.jpg").write_text("shopping: milk, eggs\n")
    with open(tmp_path / "notes.jpg", "rb") as handle:  # a real file object: named after its path
        refused(handle, "notes.jpg: this is a text file, not an image")


@pytest.mark.parametrize(
    "source, found",
    [
        (42, "found int"),
        (np.zeros((2, 2, 3), np.uint8), "in-memory ndarray. Use as_rgb_uint8()"),
        (Image.new("RGB", (2, 2)), "in-memory Image"),
    ],
)
def test_sources_that_are_not_encoded_files_are_refused(source, found):
    refused(source, "image: expected", found)


def test_text_mode_file_object_is_refused():
    refused(io.StringIO("hello"), "the file object returned text, not bytes", "binary mode")


def test_names_are_kept_on_one_line():
    refused(b"", "evil name.jpg: the file is empty", name="evil\nname.jpg")


# ----------------------------------------------------------------------------------------------
# as_rgb_uint8
# ----------------------------------------------------------------------------------------------


def test_uint8_rgb_is_returned_as_is():
    array = noise(4, 5)
    assert as_rgb_uint8(array) is array
    view = noise(4, 10)[:, ::2]  # not contiguous: a contiguous copy with the same values
    out = as_rgb_uint8(view)
    assert out.flags["C_CONTIGUOUS"] and np.array_equal(out, view)


@pytest.mark.parametrize("array", [np.full((3, 4), 17, np.uint8), np.full((3, 4, 1), 17, np.uint8)])
def test_gray_arrays_become_rgb(array):
    out = as_rgb_uint8(array)
    check_pixels(out, 3, 4)
    assert (out == 17).all()


def test_rgba_array_is_composited_on_white():
    rgba = np.array([[[0, 0, 0, 0], [0, 0, 0, 128], [10, 20, 30, 255]]], np.uint8)
    assert as_rgb_uint8(rgba).tolist() == [[[255, 255, 255], [127, 127, 127], [10, 20, 30]]]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_arrays_in_unit_range_are_scaled_and_rounded(dtype):
    array = np.array([[0.0, 0.5, 1.0, 0.2]], dtype)
    out = as_rgb_uint8(array)
    check_pixels(out, 1, 4)
    assert out[0, :, 1].tolist() == [0, 128, 255, 51]


def test_large_rgba_is_composited_block_by_block_with_the_same_result():
    rgba = np.random.default_rng(5).integers(0, 256, (700, 3000, 4), dtype=np.uint8)  # > one block
    out = as_rgb_uint8(rgba)
    alpha = rgba[:, :, 3:].astype(np.float64) / 255
    expected = np.rint(rgba[:, :, :3] * alpha + 255 * (1 - alpha))
    assert np.abs(out.astype(np.int16) - expected).max() <= 1


def test_uint16_arrays_are_scaled():
    out = as_rgb_uint8(np.array([[[0, 32768, 65535]]], np.uint16))
    assert out.tolist() == [[[0, 128, 255]]]


EXPECTED = "expected a uint8 RGB array of shape (H, W, 3)"


@pytest.mark.parametrize(
    "array, found",
    [
        (np.ones((2, 2, 3), bool), "found dtype bool. Convert the mask"),
        (np.ones((2, 2, 3), np.int64), "found dtype int64. Cast it with .astype(np.uint8)"),
        (np.ones((2, 2, 3), np.int8), "found dtype int8"),
        (np.ones((2, 2, 3), np.complex64), "found dtype complex64"),
        (np.ones((2, 2, 3), object), "found dtype object"),
        (np.full((2, 2, 3), 200.0), "found float64 values in [200, 200]. Divide by 255"),
        (np.full((2, 2, 3), -0.5, np.float32), "found float32 values in [-0.5, -0.5]"),
        (np.array([[[np.nan, 0, 0]]]), "containing NaN or infinite values"),
        (np.array([[[np.inf, 0, 0]]], np.float32), "containing NaN or infinite values"),
        (np.zeros((1, 2, 2, 3), np.uint8), "found shape (1, 2, 2, 3). Pass a single image, not a batch"),
        (np.zeros((3,), np.uint8), "found shape (3,)"),
        (np.zeros((2, 2, 2), np.uint8), "found shape (2, 2, 2)"),
        (np.zeros((3, 2, 2), np.uint8), "found shape (3, 2, 2). Put the channels last: (H, W, C)."),
        (np.zeros((0, 4, 3), np.uint8), "found an empty array of shape (0, 4, 3)"),
        ([[[0, 0, 0]]], "found list. Pass a numpy array"),
    ],
)
def test_as_rgb_uint8_refusals_say_what_was_expected_and_found(array, found):
    with pytest.raises(ImageError) as info:
        as_rgb_uint8(array, name="frame 7")
    message = str(info.value)
    assert message.startswith(f"frame 7: {EXPECTED}") and "\n" not in message, message
    assert found in message, message
