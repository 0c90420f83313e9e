"""gradcam.work_queue with real threads: single flight, a bound on work at once with places in line,
withdrawn work dropped, a wait limit with a clear message; and the engine's own count of
computations when several threads ask one Explainer for the same map through the queue."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gradcam.work_queue import DroppedError, QueueTimeoutError, WorkQueue

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def test_identical_requests_from_many_threads_are_computed_once():
    queue = WorkQueue(workers=2)
    calls = []
    gate = threading.Event()

    def compute(progress):
        calls.append(1)
        gate.wait(5)
        return object()  # one object: every caller must get this very one

    results = [None] * 10
    tickets = [queue.submit("same view", compute) for _ in range(10)]

    def wait(i):
        results[i] = tickets[i].wait(poll=0.01)

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    gate.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1 and queue.started == 1 and queue.joined == 9
    assert all(result is results[0] for result in results) and results[0] is not None
    assert sum(ticket.shared for ticket in tickets) == 9
    # Finished work leaves the queue: a later request computes again (callers cache results).
    gate.set()
    queue.run("same view", compute, poll=0.01)
    assert len(calls) == 2


def test_at_most_workers_at_once_and_the_rest_wait_in_line_with_their_places():
    queue = WorkQueue(workers=2)
    lock, now, peak = threading.Lock(), [0], [0]
    gate = threading.Event()

    def compute(progress):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        gate.wait(5)
        with lock:
            now[0] -= 1
        return "done"

    tickets = [queue.submit(f"view {i}", compute) for i in range(6)]
    deadline = time.monotonic() + 5
    while queue.running < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [t.position() for t in tickets] == [0, 0, 1, 2, 3, 4]
    assert queue.queued == 4
    gate.set()
    assert [t.wait(poll=0.01) for t in tickets] == ["done"] * 6
    assert peak[0] == 2 and all(t.position() is None for t in tickets)


def test_work_whose_callers_went_away_is_dropped_before_it_starts():
    queue = WorkQueue(workers=1)
    gate, ran = threading.Event(), []
    busy = queue.submit("busy", lambda progress: gate.wait(5))
    deadline = time.monotonic() + 5
    while busy.position() != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    alone = queue.submit("closed page", lambda progress: ran.append("closed page"))
    shared_a = queue.submit("two pages", lambda progress: ran.append("two pages") or "map")
    shared_b = queue.submit("two pages", lambda progress: ran.append("never: joined"))
    assert alone.position() == 1 and shared_a.position() == 2

    def closed_page(ticket):  # what a page's redraw raises once its session has closed
        raise RuntimeError("session closed")

    with pytest.raises(RuntimeError):
        alone.wait(poll=0.01, on_wait=closed_page)
    shared_a.cancel()  # one of two pages left: the other still waits for it
    assert shared_b.position() == 1
    gate.set()
    assert shared_b.wait(poll=0.01) == "map"
    with pytest.raises(DroppedError):
        alone.result(timeout=1)
    assert ran == ["two pages"] and queue.dropped == 1


def test_work_waiting_past_the_limit_gets_a_clear_message():
    queue = WorkQueue(workers=1, max_wait=0.3)
    gate, ran = threading.Event(), []
    queue.submit("busy", lambda progress: gate.wait(5))
    late = queue.submit("late", lambda progress: ran.append("late"))
    seen = []
    with pytest.raises(QueueTimeoutError, match=r"server is busy.*waited \d+ s in line.*Try again"):
        late.wait(poll=0.05, on_wait=lambda ticket: seen.append(ticket.position()))
    gate.set()
    time.sleep(0.2)
    assert ran == [] and queue.timed_out == 1 and seen and set(seen) == {1}


def test_an_error_reaches_every_caller_of_that_work():
    queue = WorkQueue(workers=1)
    gate = threading.Event()

    def fails(progress):
        gate.wait(5)
        raise ValueError("bad layer")

    tickets = [queue.submit("bad", fails) for _ in range(3)]
    gate.set()
    for ticket in tickets:
        with pytest.raises(ValueError, match="bad layer"):
            ticket.wait(poll=0.01)


def test_progress_of_the_running_work_is_visible_to_its_waiters():
    queue = WorkQueue(workers=1)
    gate, reported = threading.Event(), threading.Event()

    def compute(progress):
        progress(0.5, "half way")
        reported.set()
        gate.wait(5)
        return 1

    ticket = queue.submit("slow", compute)
    reported.wait(5)
    assert ticket.progress == (0.5, "half way") and ticket.position() == 0
    gate.set()
    assert ticket.wait(poll=0.01) == 1


def test_the_engine_counts_one_computation_for_eight_threads_asking_the_same_map(lite0):
    from gradcam.images import load_image

    _, explainer = lite0
    explainer.clear_cache()
    photo = load_image(SAMPLES / "coffee.jpg")
    queue = WorkQueue(workers=2)
    before = explainer.computations
    out = [None] * 8
    barrier, lock, asked, everyone_asked = threading.Barrier(8), threading.Lock(), [0], threading.Event()

    def compute(progress):
        everyone_asked.wait(30)  # so that no page comes after the work has finished
        return explainer.explain(photo)

    def page(i):
        barrier.wait(30)
        ticket = queue.submit(("coffee.jpg", "gradcam", None), compute)
        with lock:
            asked[0] += 1
            if asked[0] == 8:
                everyone_asked.set()
        out[i] = ticket.wait(poll=0.02)

    threads = [threading.Thread(target=page, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert explainer.computations - before == 1
    assert all(result is out[0] for result in out) and out[0].target_name == "espresso"
