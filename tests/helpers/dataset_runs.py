"""A small real dataset run for the Dataset view's tests: nine files made from the sample photos
(four crops of coffee.jpg, three of chelsea.jpg, one rocket, and a text file named .jpg), a labels
file with right and wrong labels, explained by the offline EfficientNet-Lite0 with the local
engine; and the sources of the engines' tests (a folder, a ZIP and a CSV list with bad files)."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

from PIL import Image

from tests.helpers.bad_inputs import bad_inputs, photo
from tests.helpers.images import encode

#: file name -> (sample photo, crop from the left in pixels); every crop differs, so every map does.
IMAGES = {
    "coffee_1.jpg": ("coffee.jpg", 0),
    "coffee_2.jpg": ("coffee.jpg", 20),
    "coffee_3.jpg": ("coffee.jpg", 40),
    "coffee_4.jpg": ("coffee.jpg", 60),
    "cat_1.jpg": ("chelsea.jpg", 0),
    "cat_2.jpg": ("chelsea.jpg", 30),
    "cat_3.jpg": ("chelsea.jpg", 60),
    "rocket.jpg": ("rocket.jpg", 0),
}
BAD = "notes.jpg"
#: coffee is labelled espresso (right); cat_3 is labelled espresso on purpose (wrong).
LABELS = {
    "coffee_1.jpg": "espresso",
    "coffee_2.jpg": "espresso",
    "coffee_3.jpg": "espresso",
    "coffee_4.jpg": "espresso",
    "cat_1.jpg": "Egyptian Mau",
    "cat_2.jpg": "Egyptian Mau",
    "cat_3.jpg": "espresso",
}


def image_bytes(name: str) -> bytes:
    sample, left = IMAGES[name]
    pixels = photo(sample, (200, 150))[:, left:]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def labels_csv() -> bytes:
    return ("path,label\n" + "".join(f"{p},{label}\n" for p, label in LABELS.items())).encode()


def make_folder(root: Path) -> tuple[Path, Path]:
    """The images (and the bad file) in ``root/images``, and ``root/labels.csv``."""
    folder = root / "images"
    folder.mkdir(parents=True)
    for name in IMAGES:
        (folder / name).write_bytes(image_bytes(name))
    (folder / BAD).write_bytes(b"this is a text file, not a picture")
    labels = root / "labels.csv"
    labels.write_bytes(labels_csv())
    return folder, labels


def make_zip(count: int | None = None) -> bytes:
    """The same files as one ZIP (the first ``count`` images only, when given, plus the bad file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in list(IMAGES)[:count]:
            archive.writestr(name, image_bytes(name))
        archive.writestr(BAD, b"this is a text file, not a picture")
    return buffer.getvalue()


def make_run(root: Path, name: str = "photos", model=None, metrics: bool = False) -> Path:
    """A finished run ``root/runs/name`` of the images under ``root/src-<name>``; returns the run folder."""
    from gradcam.dataset import ModelSpec, run_dataset

    folder, labels = make_folder(root / f"src-{name}")
    out = root / "runs" / name
    run_dataset(folder, out, spec=ModelSpec(), labels=labels, batch_size=9, model=model, metrics=metrics)
    return out


#: The bad files every source carries, and a fragment of the error each must end with.
SOURCE_BAD = {
    "letter.jpg": "this is a text file",
    "truncated.jpg": "truncated",
    "empty.jpg": "the file is empty",
    "bomb.png": "megapixel limit",
    "badcrc.png": "checksum mismatch",
}


def bad_file(name: str) -> bytes:
    return next(data for n, data, _ in bad_inputs() if n == name)


def make_sources(root: Path) -> dict[str, Path]:
    """A folder (with nested folders, an EXIF-rotated photo, bad files of five kinds and a broken
    link), the same as a ZIP, a CSV list naming some of them plus a missing file, and a labels
    file with a class name, a WordNet id, an index and an unknown label."""
    folder = root / "photos"
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / "coffee.jpg").write_bytes(encode(Image.fromarray(photo("coffee.jpg", (160, 120))), "JPEG", quality=92))
    (folder / "coffee_again.png").write_bytes(encode(Image.fromarray(photo("coffee.jpg", (96, 72))), "PNG"))
    (folder / "nested" / "chelsea.png").write_bytes(encode(Image.fromarray(photo("chelsea.jpg", (150, 100))), "PNG"))
    (folder / "nested" / "deeper" / "rotated_exif6.jpg").write_bytes(bad_file("rotated_exif6.jpg"))
    for name in SOURCE_BAD:
        (folder / "nested" / name if name == "truncated.jpg" else folder / name).write_bytes(bad_file(name))
    os.symlink(folder / "gone.jpg", folder / "nested" / "broken_link.jpg")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden: skipped, and counted

    archive = root / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                zipped.write(path, path.relative_to(folder).as_posix())

    listing = root / "list.csv"
    with open(listing, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "comment"])
        for name in ("photos/coffee.jpg", "photos/nested/chelsea.png", "photos/letter.jpg", "photos/missing.jpg"):
            writer.writerow([name, "x"])

    labels = root / "labels.csv"
    labels.write_text(
        "path,label\ncoffee.jpg,espresso\nnested/chelsea.png,n02123045\n"
        "nested/deeper/rotated_exif6.jpg,967\ncoffee_again.png,unicorn\n"
        "photos/coffee.jpg,Espresso\n"
    )
    return {"folder": folder, "zip": archive, "csv": listing, "labels": labels}
