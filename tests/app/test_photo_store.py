"""The app's photo store for links (gradcam_app.photos): content addresses, the size and age bounds,
two processes' worth of handles on one folder, a damaged entry never shown, and the switch."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from gradcam_app import photos
from gradcam_app.photos import PhotoStore


def blob(seed: int, size: int = 300_000) -> bytes:
    return os.urandom(8) + bytes([seed % 256]) * size


def test_a_photo_is_stored_by_its_sha256_and_read_back(tmp_path):
    store = PhotoStore(tmp_path)
    data = blob(1)
    sha = store.put(data, "cat.jpg")
    assert sha == hashlib.sha256(data).hexdigest()
    found = store.get(sha)
    assert found is not None and found.name == "cat.jpg" and found.data == data
    assert store.put(data, "again.jpg") == sha  # the same bytes are one photo
    assert store.get(sha.upper()).data == data
    assert store.get("0" * 64) is None
    assert store.get("../../etc/passwd") is None


def test_a_second_handle_on_the_folder_sees_the_photo(tmp_path):
    """What a replica (or a restarted server) does: open the same folder anew."""
    first = PhotoStore(tmp_path)
    sha = first.put(blob(2), "a.png")
    first.close()
    second = PhotoStore(tmp_path)
    assert second.get(sha) is not None


def test_the_size_bound_drops_the_oldest_photos(tmp_path):
    store = PhotoStore(tmp_path, megabytes=1)
    shas = [store.put(blob(i), f"{i}.jpg") for i in range(8)]  # 8 x 300 kB into 1 MiB
    assert store.volume() <= 1.3 * 2**20
    assert store.get(shas[-1]) is not None, "the newest stays"
    assert store.get(shas[0]) is None, "the oldest went first"


def test_the_age_bound_expires_a_photo(tmp_path):
    store = PhotoStore(tmp_path, days=1.0 / 86400)  # one second
    sha = store.put(blob(3), "old.jpg")
    assert store.get(sha) is not None
    time.sleep(1.3)
    assert store.get(sha) is None


def test_a_photo_larger_than_the_bound_is_refused_with_its_size(tmp_path):
    store = PhotoStore(tmp_path, max_photo_bytes=1000)
    with pytest.raises(ValueError, match="at most"):
        store.put(b"x" * 2000, "big.jpg")


def test_a_damaged_entry_is_never_shown(tmp_path):
    store = PhotoStore(tmp_path)
    data = blob(4)
    sha = store.put(data, "x.jpg")
    store._cache.set(sha, ("x.jpg", data[:-1] + b"!"))  # bytes that no longer match the id
    assert store.get(sha) is None
    assert sha not in store


def test_the_store_follows_its_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(photos.FOLDER_ENV, str(tmp_path / "shared"))
    assert photos.default_folder() == (tmp_path / "shared").resolve()
    assert photos.store() is not None
    monkeypatch.setenv(photos.SWITCH_ENV, "0")
    assert photos.store() is None
    monkeypatch.setenv(photos.DAYS_ENV, "3")
    assert "3 days" in photos.gone_message() and "upload it again" in photos.gone_message()
