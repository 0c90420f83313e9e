"""Duplicates and leaks (issue 21, item 4) on real photos: a folder of the sample photos with
planted copies (the same bytes, half size, JPEG recompressed, slightly cropped or shifted); every
planted pair is found and no pair of distinct photos is reported; --against finds a planted leak
between two folders. The blocked search is checked by hand on small vectors."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gradcam.dataset import run_dataset
from gradcam.dataset.duplicates import COLUMNS, DEFAULT_THRESHOLD, find_duplicates, similar_pairs

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _open(name: str) -> Image.Image:
    return Image.open(SAMPLES / name).convert("RGB")


def planted_folder(root: Path) -> tuple[Path, set]:
    """The seven sample photos plus five planted copies; returns the folder and the pairs expected."""
    folder = root / "train"
    folder.mkdir(parents=True)
    for path in sorted(SAMPLES.glob("*.jpg")):
        shutil.copy(path, folder / path.name)
    shutil.copy(SAMPLES / "coffee.jpg", folder / "z_coffee_copy.jpg")  # the same bytes
    chelsea = _open("chelsea.jpg")
    (folder / "z_chelsea_half.jpg").write_bytes(_jpeg(chelsea.resize((chelsea.width // 2, chelsea.height // 2))))
    (folder / "z_rocket_q40.jpg").write_bytes(_jpeg(_open("rocket.jpg"), quality=40))
    astronaut = _open("astronaut.jpg")
    w, h = astronaut.size
    (folder / "z_astronaut_crop90.jpg").write_bytes(_jpeg(astronaut.crop((w // 20, h // 20, w - w // 20, h - h // 20))))
    hopper = _open("grace_hopper.jpg")
    (folder / "z_hopper_shift.png").write_bytes(_png(hopper.crop((hopper.width // 10, 0, hopper.width, hopper.height))))
    expected = {
        ("coffee.jpg", "z_coffee_copy.jpg", "exact"),
        ("chelsea.jpg", "z_chelsea_half.jpg", "near"),
        ("rocket.jpg", "z_rocket_q40.jpg", "near"),
        ("astronaut.jpg", "z_astronaut_crop90.jpg", "near"),
        ("grace_hopper.jpg", "z_hopper_shift.png", "near"),
    }
    return folder, expected


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def planted_runs(tmp_path_factory, lite0):
    model, _ = lite0
    root = tmp_path_factory.mktemp("duplicates")
    folder, expected = planted_folder(root)
    run_dataset(folder, root / "run-train", model=model, batch_size=12)
    # A "test" folder: a photo the training folder lacks (Matplotlib's sample photo of a present)
    # and one leak, a recompressed, slightly cropped chelsea.jpg.
    import matplotlib

    test = root / "test"
    test.mkdir()
    present = Path(matplotlib.get_data_path()) / "sample_data" / "Minduka_Present_Blue_Pack.png"
    shutil.copy(present, test / "present.png")
    chelsea = _open("chelsea.jpg")
    (test / "leak.jpg").write_bytes(_jpeg(chelsea.crop((10, 8, chelsea.width - 10, chelsea.height)), quality=60))
    run_dataset(test, root / "run-test", model=model, batch_size=12)
    return root, expected


def test_blocked_search_by_hand():
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [2.0, 0.02], [0.0, 3.0], [0.8, 0.6]])
    # Cosines: (0,2) = 0.99995, (1,4) = 0.96, (1,3) = 0.8, (0,4) = 0.8, (2,4) = 0.806; others lower.
    for block in (1, 2, 1024):
        i, j, s = similar_pairs(vectors, threshold=0.9, block=block)
        assert list(zip(i.tolist(), j.tolist())) == [(0, 2), (1, 4)]
        assert s == pytest.approx([0.99995, 0.96], abs=1e-4)
    i, j, s = similar_pairs(vectors[:2], vectors[2:], threshold=0.79, block=1)
    assert sorted(zip(i.tolist(), j.tolist())) == [(0, 0), (0, 2), (1, 1), (1, 2)]


def test_every_planted_copy_is_found_and_no_distinct_photos(planted_runs, capsys):
    from gradcam.cli import main

    root, expected = planted_runs
    assert main(["dataset", "duplicates", str(root / "run-train")]) == 0
    assert "1 exact and 4 near pairs" in capsys.readouterr().out
    table = find_duplicates(root / "run-train")
    assert tuple(table.column_names) == COLUMNS
    found = {(r["path_a"], r["path_b"], r["kind"]) for r in table.to_pylist()}
    assert found == expected  # all five planted pairs, and not one pair of distinct photos
    assert all(r["similarity"] >= DEFAULT_THRESHOLD for r in table.to_pylist())


def test_against_finds_the_planted_leak(planted_runs):
    root, _ = planted_runs
    table = find_duplicates(root / "run-test", against=root / "run-train")
    rows = table.to_pylist()
    # The leak matches chelsea.jpg and its planted half-size copy, both in the training run; the
    # present matches nothing.
    assert [(r["path_a"], r["path_b"], r["kind"]) for r in rows] == [
        ("leak.jpg", "chelsea.jpg", "near"),
        ("leak.jpg", "z_chelsea_half.jpg", "near"),
    ]
    assert (root / "run-test" / "duplicates.parquet").exists()


def test_bad_threshold_and_other_model_are_refused(planted_runs, tmp_path):
    root, _ = planted_runs
    with pytest.raises(Exception, match=r"--threshold must be in \(0, 1\]"):
        find_duplicates(root / "run-train", threshold=1.5)
    with pytest.raises(Exception, match="not a finished run"):
        find_duplicates(tmp_path)
