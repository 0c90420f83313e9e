"""Read images from untrusted sources into uint8 RGB arrays, or refuse them with one clear line.

Everything the app, the CLI and the library accept as "an image" passes through here:

* :func:`decode_image` / :func:`load_image` take encoded bytes (an upload, a path, a file object);
* :func:`as_rgb_uint8` takes an array a library user already has in memory.

Both return ``np.ndarray`` of dtype ``uint8``, shape ``(H, W, 3)``, RGB, C-contiguous. Every refusal
is a :class:`gradcam.errors.ImageError` whose message is a single line naming the image, what was
wrong and what to do. No Pillow / OS / decoder exception is allowed to escape.

Limits come from :mod:`gradcam.limits` and are read at call time (``limits.MAX_IMAGE_BYTES``,
``limits.MAX_IMAGE_PIXELS``), so tests and deployments can change them without re-importing.
No global Pillow state is changed: truncated files stay errors (``ImageFile.LOAD_TRUNCATED_IMAGES``
is left alone) and the pixel limit is enforced here, from the header, before any pixel is decoded.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gradcam import limits
from gradcam.errors import ImageError

__all__ = ["ACCEPTED_FORMATS", "DecodedImage", "as_rgb_uint8", "decode_image", "image_digest", "load_image"]

#: Pillow format names that are decoded. MPO is the multi-picture JPEG many phones write.
ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF")

ImageSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", Any]

_ACCEPTED_WORDS = "JPEG, PNG, WebP, BMP, TIFF or GIF"
_UPLOAD_HINT = f"Upload a {_ACCEPTED_WORDS} image."
_CONVERT_HINT = f"Convert it to PNG or JPEG and upload that (accepted: {_ACCEPTED_WORDS})."
_REDOWNLOAD_HINT = "Re-download or re-export the image and try again."

# Pillow's MPO images are opened by its JPEG plugin: "MPO" is not a key of Image.OPEN, and passing
# it to Image.open(formats=...) raises KeyError. So the decoders tried are the accepted ones minus MPO.
_PILLOW_OPENERS = tuple(f for f in ACCEPTED_FORMATS if f != "MPO")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Orientation tag value -> what exif_transpose does, in words a user recognises.
_ORIENTATION_WORDS = {
    2: "mirrored left-right",
    3: "rotated 180°",
    4: "mirrored top-bottom",
    5: "transposed",
    6: "rotated 90° clockwise",
    7: "transversed",
    8: "rotated 90° counter-clockwise",
}

# Modes Pillow can turn into RGB faithfully; anything else is refused rather than mis-coloured
# (e.g. Pillow's LAB -> RGB is a channel reinterpretation, not a colour conversion).
_RGB_MODES = {"1", "L", "P", "RGB", "RGBX", "YCbCr", "CMYK"}
_ALPHA_MODES = {"LA", "PA", "RGBA", "RGBa"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_MODE_WORDS = {
    "F": "32-bit floating-point pixels",
    "LAB": "the CIE L*a*b* colour space",
    "HSV": "the HSV colour space",
}


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An image decoded from a file, ready for the model.

    Attributes:
        pixels: ``np.ndarray`` uint8, shape ``(H, W, 3)``, RGB, C-contiguous, upright (EXIF
            orientation already applied), transparency composited on white.
        format: Pillow's format name of the file, one of :data:`ACCEPTED_FORMATS` (e.g. ``"JPEG"``).
        original_size: ``(width, height)`` of the decoded image as a viewer sees it, i.e.
            ``(pixels.shape[1], pixels.shape[0])``; nothing is resized here.
        notes: human-readable remarks on what was done to the file to get ``pixels``
            (e.g. ``"animated GIF: used frame 1 of 12"``); empty when nothing noteworthy happened.
    """

    pixels: np.ndarray
    format: str
    original_size: tuple[int, int]
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def decode_image(source: ImageSource, *, name: str | None = None) -> DecodedImage:
    """Decode an encoded image into an upright uint8 RGB array, or refuse it.

    Args:
        source: the encoded file: ``bytes`` / ``bytearray`` / ``memoryview``, a path (``str`` or
            ``os.PathLike``), or a binary file-like object with ``.getvalue()`` (e.g. Streamlit's
            ``UploadedFile``, ``io.BytesIO``) or ``.read()`` (read from its current position).
        name: how the image is called in messages; defaults to the path's (or file object's) file
            name, else ``"image"``.

    Returns:
        :class:`DecodedImage` with ``pixels`` of shape ``(H, W, 3)``, dtype uint8.

    Raises:
        ImageError: empty, too large (bytes or pixels), not an image, an unsupported format or
            colour mode, truncated or corrupt. The message is one line.
    """
    label = _clean_name(name if name is not None else _default_name(source))
    data = _read_source(source, label)
    _check_byte_size(len(data), label)
    if data.startswith(_PNG_SIGNATURE):
        # Pillow does not verify IDAT checksums, so a flipped bit would decode to wrong pixels.
        _check_png_checksums(data, label)
    try:
        with warnings.catch_warnings():
            # Local to this block: Pillow's own bomb warning becomes an error, other decoder
            # chatter (e.g. "Corrupt EXIF data") is silenced instead of reaching the app's log.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _decode(data, label)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow checks its own (global, untouched) limit inside Image.open, before our header
        # check can run: reached for sizes past Pillow's limit, which is then the binding one.
        binding = min(limits.MAX_IMAGE_PIXELS, Image.MAX_IMAGE_PIXELS or limits.MAX_IMAGE_PIXELS)
        raise ImageError(
            f"{label}: the image is too large to decode safely (Pillow refused it as a possible "
            f"decompression bomb). Resize it to fewer than {_megapixels(binding)} megapixels and try again."
        ) from None
    except MemoryError:
        raise ImageError(f"{label}: there is not enough memory to decode this image. Use a smaller image.") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure must become one clear line
        raise ImageError(
            f"{label}: the file could not be decoded as an image ({_one_line(exc)}). {_REDOWNLOAD_HINT}"
        ) from exc


def load_image(source: ImageSource, *, name: str | None = None) -> np.ndarray:
    """Decode ``source`` and return only the pixels: uint8 RGB ``(H, W, 3)``.

    Same arguments and errors as :func:`decode_image`.
    """
    return decode_image(source, name=name).pixels


def as_rgb_uint8(array: Any, *, name: str = "image") -> np.ndarray:
    """Validate an in-memory image array and coerce it to uint8 RGB ``(H, W, 3)``, C-contiguous.

    Accepted (anything else raises :class:`ImageError` saying what was expected and found):

    * uint8 ``(H, W, 3)``: returned as is (the same object when already C-contiguous);
    * ``(H, W)`` or ``(H, W, 1)`` grayscale: repeated into three channels;
    * ``(H, W, 4)`` RGBA: composited on a white background;
    * float arrays with every value in ``[0, 1]``: multiplied by 255 and rounded;
    * uint16 arrays: scaled from 0..65535 to 0..255 (65535 -> 255, 32768 -> 128).

    Refused: bool and every other dtype, any other number of dimensions or channels, zero-size
    arrays, NaN or infinite values, floats outside ``[0, 1]``.

    Args:
        array: the image array (``np.ndarray``).
        name: how the image is called in messages.

    Returns:
        ``np.ndarray`` uint8, shape ``(H, W, 3)``.
    """
    label = _clean_name(name)
    expected = "expected a uint8 RGB array of shape (H, W, 3)"
    if not isinstance(array, np.ndarray):
        raise ImageError(
            f"{label}: {expected}, found {type(array).__name__}. Pass a numpy array "
            "(e.g. np.asarray(pil_image.convert('RGB'))), or use load_image() for a file."
        )
    shape = tuple(array.shape)
    if array.ndim not in (2, 3) or (array.ndim == 3 and shape[2] not in (1, 3, 4)):
        hint = "Pass a single image, not a batch." if array.ndim == 4 else "Put the channels last: (H, W, C)."
        raise ImageError(
            f"{label}: {expected} (or (H, W) gray, (H, W, 1), (H, W, 4) RGBA), found shape {shape}. {hint}"
        )
    if array.size == 0:
        raise ImageError(f"{label}: {expected}, found an empty array of shape {shape}. Pass a non-empty image.")

    kind = array.dtype.kind
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = _scale_uint16(array)
    elif kind == "f":
        if not np.isfinite(array).all():
            raise ImageError(
                f"{label}: {expected}, found a {array.dtype} array containing NaN or infinite values. "
                "Replace them (e.g. np.nan_to_num) before passing the image."
            )
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0:
            raise ImageError(
                f"{label}: {expected} or floats in [0, 1], found {array.dtype} values in "
                f"[{low:g}, {high:g}]. Divide by 255 if they are 0-255, or cast to uint8."
            )
        pixels = np.rint(array.astype(np.float64) * 255.0).astype(np.uint8)
    else:
        hint = (
            "Convert the mask to an image first (e.g. mask.astype(np.uint8) * 255)."
            if kind == "b"
            else "Cast it with .astype(np.uint8) if the values are 0-255, or scale floats to [0, 1]."
        )
        raise ImageError(f"{label}: {expected}, found dtype {array.dtype}. {hint}")

    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif pixels.shape[2] == 4:
        pixels = _composite_on_white(pixels)
    return np.ascontiguousarray(pixels)


def image_digest(array: np.ndarray) -> str:
    """The library's one digest of an image array: 32 hex characters of SHA-256 over the pixels'
    bytes (C order), the shape and the dtype. Equal digests mean equal arrays, so caches key on it.

    SHA-256 rather than BLAKE2: it runs on the CPU's SHA extensions where present, about twice as
    fast here, and it is the digest the exports already show for files.

    Args:
        array: any ``np.ndarray`` (an image, a model input, a batch).

    Returns:
        ``str``, 32 lowercase hex characters.
    """
    data = np.ascontiguousarray(array)
    digest = hashlib.sha256(data.data.cast("B") if data.size else b"")
    digest.update(f"{data.shape}{data.dtype.str}".encode())
    return digest.hexdigest()[:32]


# --------------------------------------------------------------------------------------------------
# Reading the source
# --------------------------------------------------------------------------------------------------


def _default_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.fspath(source)) or "image"
    file_name = getattr(source, "name", None)  # UploadedFile.name, open(...).name
    if isinstance(file_name, str) and file_name:
        return os.path.basename(file_name) or "image"
    return "image"


def _clean_name(name: Any) -> str:
    # File names come from users; a newline in one must not break the one-line message.
    text = "".join(ch if ch.isprintable() else " " for ch in str(name)).strip()
    return text or "image"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _read_source(source: Any, label: str) -> bytes:
    """Return the encoded bytes of ``source``, refusing over-limit files before reading them."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        try:
            if os.path.isdir(path):
                raise ImageError(f"{label}: this is a folder, not an image file. Give the path of an image file.")
            # stat first: an oversized file is refused without reading it into memory.
            _check_byte_size(os.stat(path).st_size, label)
            with open(path, "rb") as handle:
                return handle.read(limits.MAX_IMAGE_BYTES + 1)
        except FileNotFoundError:
            raise ImageError(f"{label}: file not found ({path}). Check the path and try again.") from None
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            reason = getattr(exc, "strerror", None) or _one_line(exc)
            raise ImageError(
                f"{label}: the file could not be read ({reason}). Check the path and its permissions."
            ) from None
    if isinstance(source, (np.ndarray, Image.Image)):
        raise ImageError(
            f"{label}: expected an encoded image file (bytes, a path or a file object), found an "
            f"in-memory {type(source).__name__}. Use as_rgb_uint8() for arrays."
        )
    getvalue = getattr(source, "getvalue", None)
    read = getattr(source, "read", None)
    try:
        if callable(getvalue):
            # Streamlit's UploadedFile: getvalue() returns the whole upload whatever was read before.
            data = getvalue()
        elif callable(read):
            # Read one byte past the limit: enough to know the file is too large, no more.
            data = read(limits.MAX_IMAGE_BYTES + 1)
        else:
            raise ImageError(
                f"{label}: expected image file bytes, a path or a binary file object, found "
                f"{type(source).__name__}. Pass the file's bytes or its path."
            )
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing file object is the caller's, report it plainly
        raise ImageError(f"{label}: the file could not be read ({_one_line(exc)}). Try uploading it again.") from None
    if isinstance(data, str):
        raise ImageError(f"{label}: the file object returned text, not bytes. Open the file in binary mode ('rb').")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(
            f"{label}: the file object returned {type(data).__name__}, not bytes. Pass a binary file object."
        )
    return bytes(data)


def _check_byte_size(size: int, label: str) -> None:
    if size == 0:
        raise ImageError(f"{label}: the file is empty (0 bytes). {_UPLOAD_HINT}")
    limit = limits.MAX_IMAGE_BYTES
    if size > limit:
        raise ImageError(
            f"{label}: the file is {_size_words(size)}, over the {_size_words(limit)} limit. "
            "Use a smaller or more compressed image (the limit is GRADCAM_MAX_IMAGE_BYTES)."
        )


def _size_words(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.1f}"


# --------------------------------------------------------------------------------------------------
# Checks on the encoded bytes
# --------------------------------------------------------------------------------------------------


def _check_png_checksums(data: bytes, label: str) -> None:
    """Refuse a PNG whose chunk CRCs do not match. Incomplete trailing chunks are left to the
    decoder, which reports truncation itself."""
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunk_type = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return
        (stored,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[pos + 4 : end - 4]) != stored:
            kind = chunk_type.decode("latin-1") if chunk_type.isalpha() else repr(chunk_type)
            raise ImageError(
                f"{label}: the PNG file is corrupt (checksum mismatch in its {kind} chunk). {_REDOWNLOAD_HINT}"
            )
        if chunk_type == b"IEND":
            return
        pos = end


def _png_bit_depth(data: bytes) -> int | None:
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) > 24:
        return data[24]
    return None


def _describe_unreadable(data: bytes) -> str:
    """Explain bytes that no accepted decoder recognised: what they look like, and what to do."""
    head = data[:4096]
    damaged = _accepted_signature(head)
    if damaged:
        return f"the file looks like a {damaged} but its header is damaged, so it cannot be read. {_REDOWNLOAD_HINT}"
    text = _as_text(head)
    if text is not None:
        lowered = text.lstrip("\ufeff \t\r\n").lower()
        if lowered.startswith("<!doctype html") or lowered.startswith("<html") or "<html" in lowered[:1024]:
            return (
                "this is an HTML web page, not an image (often a saved page or a download error page). "
                f"Save the picture itself and upload it as a {_ACCEPTED_WORDS} image."
            )
        if "<svg" in lowered:
            return "this is an SVG vector drawing, which is not supported. Export it as PNG (or JPEG) and upload that."
        return f"this is a text file, not an image. {_UPLOAD_HINT}"
    other = _other_format(head)
    if other:
        return f"{other} files are not supported. {_CONVERT_HINT}"
    return f"this is not an image in a supported format. {_CONVERT_HINT}"


def _accepted_signature(head: bytes) -> str | None:
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF"
    return None  # BMP's "BM" is too short a signature to claim damage


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        # Incremental so a multi-byte character cut at 4096 bytes does not count as binary.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return text if text and printable >= 0.95 * len(text) else None


def _other_format(head: bytes) -> str | None:
    """Name well-known formats that are deliberately not decoded (their decoders stay unused)."""
    if head.startswith(b"%PDF"):
        return "PDF"
    if head.startswith((b"\x00\x00\x01\x00", b"\x00\x00\x02\x00")):
        return "ICO (Windows icon)"
    if len(head) > 2 and head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return "PPM/PGM/PBM (Netpbm)"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim", b"heis"):
            return "HEIC/HEIF (iPhone photo)"
        return "video (MP4/QuickTime)"
    if head.startswith(b"8BPS"):
        return "Photoshop (PSD)"
    if head.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")):
        return "JPEG 2000"
    if head.startswith(b"qoif"):
        return "QOI"
    if head.startswith(b"%!PS"):
        return "PostScript/EPS"
    if head.startswith(b"PK\x03\x04"):
        return "ZIP archive"
    return None


# --------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------


def _decode(data: bytes, label: str) -> DecodedImage:
    try:
        image: Image.Image = Image.open(io.BytesIO(data), formats=_PILLOW_OPENERS)
    except UnidentifiedImageError:
        raise ImageError(f"{label}: {_describe_unreadable(data)}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
        # A plugin recognised its signature, then failed inside the header.
        kind = _accepted_signature(data[:16]) or "image"
        raise ImageError(
            f"{label}: the file looks like a {kind} but its header is damaged, so it cannot be read "
            f"({_one_line(exc)}). {_REDOWNLOAD_HINT}"
        ) from None
    with image:
        fmt = image.format or "image"
        if fmt not in ACCEPTED_FORMATS:  # defensive: a plugin may report a sub-format name
            raise ImageError(f"{label}: {fmt} files are not supported. {_CONVERT_HINT}")
        width, height = image.size
        _check_pixel_count(width, height, label)  # header only: nothing decoded yet

        notes: list[str] = []
        frames = _frame_count(image)
        if frames > 1:
            if fmt == "TIFF":
                notes.append(f"multi-page TIFF: used page 1 of {frames}")
            elif fmt == "MPO":
                notes.append(f"multi-picture JPEG (MPO): used image 1 of {frames}")
            else:
                notes.append(f"animated {fmt}: used frame 1 of {frames}")
            image.seek(0)

        try:
            image.load()
        except OSError as exc:
            if "truncated" in str(exc):
                raise ImageError(
                    f"{label}: the {fmt} file is truncated (it ends before the image data does). {_REDOWNLOAD_HINT}"
                ) from None
            raise ImageError(f"{label}: the {fmt} file is corrupt ({_one_line(exc)}). {_REDOWNLOAD_HINT}") from None
        except (SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as exc:
            raise ImageError(f"{label}: the {fmt} file is corrupt ({_one_line(exc)}). {_REDOWNLOAD_HINT}") from None

        image = _apply_orientation(image, notes)
        if _png_bit_depth(data) == 16 or image.mode in _SIXTEEN_BIT_MODES:
            notes.append(f"16-bit {fmt} scaled to 8 bits")
        pixels = _to_rgb(image, label, notes)

    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    return DecodedImage(
        pixels=pixels,
        format=fmt,
        original_size=(int(pixels.shape[1]), int(pixels.shape[0])),
        notes=tuple(dict.fromkeys(notes)),
    )


def _check_pixel_count(width: int, height: int, label: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(f"{label}: the image has no pixels ({width} x {height}). {_REDOWNLOAD_HINT}")
    limit = limits.MAX_IMAGE_PIXELS
    if width * height > limit:
        raise ImageError(
            f"{label}: the image is {width} x {height} pixels ({_megapixels(width * height)} megapixels), "
            f"over the {_megapixels(limit)}-megapixel limit; it was refused before decoding. "
            "Resize it and try again (the limit is GRADCAM_MAX_IMAGE_PIXELS)."
        )


def _frame_count(image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1) or 1)
    except Exception:  # noqa: BLE001 - a broken later frame must not stop us using the first
        return 1


def _apply_orientation(image: Image.Image, notes: list[str]) -> Image.Image:
    """Return the image upright as a viewer shows it, per its EXIF orientation tag."""
    try:
        orientation = image.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - unreadable EXIF: use the pixels as stored
        return image
    if orientation not in _ORIENTATION_WORDS:
        return image
    upright = ImageOps.exif_transpose(image)  # a new image (None only with in_place=True)
    notes.append(f"EXIF orientation applied ({_ORIENTATION_WORDS[orientation]})")
    return upright


def _to_rgb(image: Image.Image, label: str, notes: list[str]) -> np.ndarray:
    """Convert a loaded Pillow image of any supported mode into uint8 (H, W, 3) RGB."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        # Pillow's convert("RGB") clips 16-bit values at 255 instead of scaling them.
        gray = _scale_uint16(np.asarray(image).astype(np.uint16, copy=False))
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "I":
        values = np.asarray(image)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            raise ImageError(
                f"{label}: the image holds 32-bit integer pixels with values in [{low}, {high}], which "
                "cannot be shown as an 8-bit image. Save it as an 8- or 16-bit image."
            )
        notes.append(f"16-bit {image.format or 'image'} scaled to 8 bits")
        gray = _scale_uint16(values.astype(np.uint16))
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_transparency = mode in _ALPHA_MODES or (mode in _RGB_MODES and "transparency" in image.info)
    if has_transparency:
        rgba = np.asarray(image.convert("RGBA"))
        if (rgba[:, :, 3] < 255).any():
            notes.append("transparency composited on white")
        return _composite_on_white(rgba)
    if mode in _RGB_MODES:
        if mode == "CMYK":
            notes.append("CMYK converted to RGB")
        # An RGB image is read as is: convert("RGB") would only copy it first.
        return np.array(image if mode == "RGB" else image.convert("RGB"))
    words = _MODE_WORDS.get(mode, f"the colour mode {mode!r}")
    raise ImageError(
        f"{label}: the image uses {words}, which is not supported. Save it as an 8-bit RGB "
        "image (JPEG or PNG) and upload that."
    )


# Rows handled per step by the integer helpers below: their uint32 temporaries would otherwise be
# 4x (or 16x) the size of a 40-megapixel image.
_BLOCK_PIXELS = 1 << 20


def _row_blocks(height: int, width: int):
    step = max(1, _BLOCK_PIXELS // max(1, width))
    return (slice(top, top + step) for top in range(0, height, step))


def _scale_uint16(values: np.ndarray) -> np.ndarray:
    """Scale uint16 values of any shape ``(H, W, ...)`` to uint8, rounding to nearest."""
    out = np.empty(values.shape, np.uint8)
    for rows in _row_blocks(values.shape[0], values.shape[1] if values.ndim > 1 else 1):
        # v * 255 / 65535 == v / 257, rounded in integers: 65535 -> 255, 32768 -> 128.
        out[rows] = (values[rows].astype(np.uint32) + 128) // 257
    return out


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Blend uint8 ``(H, W, 4)`` RGBA over white; returns uint8 ``(H, W, 3)``."""
    height, width = rgba.shape[:2]
    out = np.empty((height, width, 3), np.uint8)
    for rows in _row_blocks(height, width):
        rgb = rgba[rows, :, :3].astype(np.uint32)
        alpha = rgba[rows, :, 3:4].astype(np.uint32)
        # rgb * a + 255 * (1 - a), with a = alpha / 255, rounded to nearest.
        out[rows] = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return out
