"""Eight concurrent sessions over ONE shared Explainer of the real Lite0 model get exactly what a
single session gets, including two images that differ in only a few pixels (which must not share
a cache entry). The browser version of this test (8 contexts against one running app) is in
tests/e2e/test_bad_images_e2e.py."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.helpers.bad_inputs import photo


def nearly_coffee() -> np.ndarray:
    image = photo("coffee.jpg").copy()
    image[100:104, 200:204] = (255, 0, 0)  # 16 pixels of an image of ~190 000
    return image


#: (image, target, method, options): different images, classes and methods.
JOBS = [
    (lambda: photo("cat_and_coffee.jpg"), "Egyptian Mau", "gradcam", {}),
    (lambda: photo("coffee.jpg"), "espresso", "gradcam", {}),
    (nearly_coffee, "espresso", "gradcam", {}),
    (lambda: photo("rocket.jpg"), None, "gradcam++", {}),
    (lambda: photo("chelsea.jpg"), 285, "layercam", {}),
    (lambda: photo("astronaut.jpg"), None, "eigencam", {}),
    (lambda: photo("grace_hopper.jpg"), None, "saliency", {}),
    (lambda: photo("coffee_and_rocket.jpg"), "espresso", "scorecam", {"channels": 32}),
]


def run(explainer, job):
    make, target, method, options = job
    return explainer.explain(make(), target, method=method, **options)


def same(a, b):
    np.testing.assert_allclose(a.heatmap, b.heatmap, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-4, atol=1e-7)
    assert (a.target_index, a.method, a.layer) == (b.target_index, b.method, b.layer)


@pytest.mark.slow
def test_eight_threads_over_one_explainer_match_single_sessions(lite0):
    _, explainer = lite0
    explainer.clear_cache()
    sequential = [run(explainer, job) for job in JOBS]
    explainer.clear_cache()  # the threads start cold: they fill and read the cache concurrently

    results: dict[int, list] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(JOBS))

    def session(index):
        try:
            barrier.wait(timeout=60)
            results[index] = [run(explainer, JOBS[index]) for _ in range(2)]  # cold, then cached
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(JOBS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert sorted(results) == list(range(len(JOBS)))
    for index, expected in enumerate(sequential):
        for result in results[index]:
            same(result, expected)

    coffee, nearly = sequential[1], sequential[2]
    assert not np.array_equal(coffee.probabilities, nearly.probabilities)
    assert not np.array_equal(coffee.heatmap, nearly.heatmap)
    assert len(explainer.cache) <= __import__("gradcam").limits.ACTIVATION_CACHE_ENTRIES
