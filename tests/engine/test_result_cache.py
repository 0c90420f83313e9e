"""The on-disk result cache (gradcam.result_cache) with the real offline EfficientNet-Lite0:
a round trip equals a fresh computation; eviction at the size bound; a damaged, truncated or
unwritable entry means a recomputation, never a wrong map; two processes writing one key at once;
a new library version ignores old entries."""

from __future__ import annotations

import errno
import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from gradcam.result_cache import ResultCache, explanations_equal

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from gradcam.images import load_image

    return load_image(SAMPLES / "cat_and_coffee.jpg")


@pytest.fixture(scope="module")
def fresh(lite0, photo):
    """Fresh explanations of the photo (no result cache): the top class and "espresso"."""
    _, explainer = lite0
    explainer.clear_cache()
    return {
        None: explainer.explain(photo),
        "espresso": explainer.explain(photo, "espresso", method="gradcam++"),
    }


def cached_explainer(lite0, folder, **kwargs):
    from gradcam import Explainer

    model, _ = lite0
    return Explainer(model, cache_dir=ResultCache(folder, **kwargs))


def value_files(folder: Path) -> list[Path]:
    """diskcache keeps values over 32 KB in files of their own (an explanation of a photo is)."""
    return sorted(folder.rglob("*.val"))


def test_round_trip_equals_a_fresh_computation(lite0, photo, fresh, tmp_path):
    first = cached_explainer(lite0, tmp_path)
    computed = first.explain(photo)
    assert first.computations == 1
    assert explanations_equal(computed, fresh[None])
    # A second explainer on the same folder (a restarted process) computes nothing.
    second = cached_explainer(lite0, tmp_path)
    again = second.explain(photo)
    assert second.computations == 0
    assert explanations_equal(again, fresh[None])
    assert again.heatmap.dtype == np.float32 and again.top == fresh[None].top
    # Another target and method are other keys: computed once, then read.
    espresso = second.explain(photo, "espresso", method="gradcam++")
    assert second.computations == 1 and explanations_equal(espresso, fresh["espresso"])
    assert explanations_equal(second.explain(photo, 967, method="gradcam++"), fresh["espresso"])
    assert second.computations == 1, "a class given by index or name is one key"
    # The image's probabilities and the model's facts are there too.
    probabilities = second.result_cache.get_probabilities(second.model_id, _digest(photo))
    np.testing.assert_array_equal(probabilities, fresh[None].probabilities)
    facts = second.result_cache.get_facts(second.model_id)
    assert facts["default_layer"] == second.default_layer and len(facts["class_names"]) == 1000


def _digest(image):
    from gradcam.images import image_digest

    return image_digest(image)


def test_a_changed_image_or_option_is_not_a_hit(lite0, photo, tmp_path):
    explainer = cached_explainer(lite0, tmp_path)
    explainer.explain(photo)
    changed = photo.copy()
    changed[0, 0, 0] ^= 1
    explainer.explain(changed)
    explainer.explain(photo, aug_smooth=True)
    assert explainer.computations == 3


def test_eviction_at_the_size_bound_is_least_recently_used(lite0, photo, tmp_path):
    # Each explanation holds a float32 heatmap of the photo's size: the bound holds two and a half.
    entry = photo.shape[0] * photo.shape[1] * 4
    bound = 2.5 * entry / 2**20
    explainer = cached_explainer(lite0, tmp_path, megabytes=bound)
    cache = explainer.result_cache
    explainer.explain(photo, 0)
    explainer.explain(photo, 1)
    explainer.explain(photo, 0)  # read: 0 is now more recent than 1
    assert explainer.computations == 2
    for klass in (2, 3, 4):
        explainer.explain(photo, klass)
    assert cache.volume <= bound * 2**20, f"{cache.volume} bytes over a {bound:.1f} MiB bound"
    assert len(value_files(tmp_path)) == 2, "the two most recent explanations stay"
    computed = explainer.computations
    explainer.explain(photo, 4)  # the newest stays
    assert explainer.computations == computed
    explainer.explain(photo, 1)  # the least recently used went first
    assert explainer.computations == computed + 1


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_entry_is_computed_again_never_shown(lite0, photo, fresh, tmp_path, damage):
    explainer = cached_explainer(lite0, tmp_path)
    explainer.explain(photo)
    (path,) = value_files(tmp_path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # one flipped byte inside the heatmap
        flipped = bytearray(data)
        flipped[len(data) * 3 // 4] ^= 0xFF
        path.write_bytes(bytes(flipped))
    again = cached_explainer(lite0, tmp_path)
    result = again.explain(photo)
    assert again.computations == 1, "the damaged entry was not recomputed"
    assert again.result_cache.damaged == 1
    assert explanations_equal(result, fresh[None])
    # The recomputed entry replaced it: the next process reads it.
    third = cached_explainer(lite0, tmp_path)
    assert explanations_equal(third.explain(photo), fresh[None]) and third.computations == 0


def test_damaged_bytes_in_the_database_are_refused(lite0, photo, fresh, tmp_path):
    """A small entry lives inside SQLite: damage it there (the stored bytes with one bit changed)."""
    explainer = cached_explainer(lite0, tmp_path)
    cache = explainer.result_cache
    explainer.explain(photo)
    key = next(k for k in cache._store if ":p:" in k)
    blob = bytearray(cache._store.get(key))
    blob[-5] ^= 0x01
    cache._store.set(key, bytes(blob))
    assert cache.get_probabilities(explainer.model_id, _digest(photo)) is None
    assert cache.damaged == 1 and key not in cache._store


def test_a_full_disk_means_the_result_is_computed_and_returned(lite0, photo, fresh, tmp_path, monkeypatch):
    """The value file's write fails half way with ENOSPC (what a full disk does), then SQLite
    reports its own 'database or disk is full': the caller still gets the right map."""
    import diskcache.core

    real_write = diskcache.core.Disk._write

    def full_disk(self, full_path, iterator, mode, encoding=None):
        with open(full_path, mode) as writer:
            writer.write(b"\0" * 4096)  # part of the value reached the disk
        raise OSError(errno.ENOSPC, "No space left on device", full_path)

    monkeypatch.setattr(diskcache.core.Disk, "_write", full_disk)
    explainer = cached_explainer(lite0, tmp_path)
    result = explainer.explain(photo)
    assert explanations_equal(result, fresh[None])
    assert explainer.result_cache.write_errors >= 1
    monkeypatch.setattr(diskcache.core.Disk, "_write", real_write)

    def sqlite_full(self, key, value, expire=None, read=False, tag=None, retry=False):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(diskcache.Cache, "set", sqlite_full)
    again = cached_explainer(lite0, tmp_path)
    assert explanations_equal(again.explain(photo), fresh[None])
    assert again.computations == 1, "nothing was stored, so it was computed"
    monkeypatch.undo()
    # The half-written file is no entry: a later process computes and stores normally.
    third = cached_explainer(lite0, tmp_path)
    assert explanations_equal(third.explain(photo), fresh[None]) and third.computations == 1
    assert cached_explainer(lite0, tmp_path).explain(photo) is not None


def test_a_new_library_version_does_not_read_an_old_entry(lite0, photo, fresh, tmp_path):
    old = cached_explainer(lite0, tmp_path, version="0.0.1")
    old.explain(photo)
    new = cached_explainer(lite0, tmp_path, version="0.0.2")
    assert explanations_equal(new.explain(photo), fresh[None])
    assert new.computations == 1
    assert new.result_cache.get_facts(new.model_id) is not None  # written anew under 0.0.2
    # An entry whose key is forged to the new version but whose bytes say the old one is refused.
    key = new.result_cache.key(new.model_id, _digest(photo), "gradcam", "x", "t", {})
    old.result_cache.put_explanation(key, fresh[None])
    assert new.result_cache.get_explanation(key) is None


# -- two processes ---------------------------------------------------------------------------------
def _writer(folder: str, start, rounds: int, seed: int, out) -> None:
    """In a process of its own: write the same key ``rounds`` times with the same large value (as two
    servers that computed one map do), reading it back between writes; report what it read."""
    from gradcam.result_cache import ResultCache

    cache = ResultCache(folder)
    expected = _shared_value()
    start.wait()
    good = bad = 0
    for _ in range(rounds):
        cache.put_explanation("shared", expected)
        found = cache.get_explanation("shared")
        if found is None:
            continue  # the other process was replacing it: a miss, never a wrong map
        if explanations_equal(found, expected, ignore=()):
            good += 1
        else:
            bad += 1
    out.put((good, bad, cache.damaged, cache.write_errors))


def _shared_value():
    from gradcam.explanation import Explanation

    rng = np.random.default_rng(7)
    heatmap = rng.random((600, 800), dtype=np.float32)
    return Explanation(
        heatmap=heatmap,
        coarse=heatmap[::100, ::100].copy(),
        peak=1.0,
        probabilities=np.full(1000, 0.001, np.float32),
        target_index=3,
        target_name="three",
        target_probability=0.001,
        method="gradcam",
        layer="top_conv",
        seconds=0.5,
        model_input=np.zeros((224, 224, 3), np.uint8),
        top=((3, "three", 0.001),),
    )


def test_two_processes_writing_the_same_key_at_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    workers = [context.Process(target=_writer, args=(str(tmp_path), start, 25, seed, out)) for seed in (1, 2)]
    for worker in workers:
        worker.start()
    start.set()
    reports = [out.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert all(bad == 0 and damaged == 0 and errors == 0 for _, bad, damaged, errors in reports), reports
    assert sum(good for good, *_ in reports) >= 25, reports
    final = ResultCache(tmp_path).get_explanation("shared")
    assert final is not None and explanations_equal(final, _shared_value(), ignore=())
    assert len(value_files(tmp_path)) == 1, "replaced values leave no files behind"
