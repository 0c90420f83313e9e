"""Many callers, bounded work: identical requests computed once, a few at a time, the rest in line.

A :class:`WorkQueue` runs at most ``workers`` computations at once (default: the machine's cores)
in its own threads; the rest wait in first-come order. Requests with equal keys share one
computation while it is queued or running ("single flight"): twenty pages opening the same view
cause one map. Each caller holds a :class:`Ticket`: its place in the line
(:meth:`Ticket.position`), the running work's progress, and :meth:`Ticket.cancel` for a caller that
went away (a closed page): queued work nobody waits for any more is dropped before it starts.
Work that waited longer than ``max_wait`` seconds without starting is refused with a
:class:`QueueTimeoutError` that says so, instead of hanging.

The engine does not need it (``Explainer`` is thread-safe); a server that explains for many people
does. Python threads suffice: TensorFlow releases the interpreter lock while it computes.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from .errors import GradCamError

#: Environment variables for the defaults: at most this many computations at once, and the longest
#: a request may wait in line (seconds) before it is refused.
WORKERS_ENV = "GRADCAM_WORKERS"
MAX_WAIT_ENV = "GRADCAM_QUEUE_MAX_WAIT"
DEFAULT_MAX_WAIT = 120.0


class QueueTimeoutError(GradCamError):
    """A request waited in line longer than the queue's limit and was not started."""


class DroppedError(GradCamError):
    """The request was withdrawn (its caller went away) before it started."""


def default_workers() -> int:
    """``$GRADCAM_WORKERS``, else the number of cores this process may use."""
    value = os.environ.get(WORKERS_ENV)
    if value:
        return max(1, int(value))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def default_max_wait() -> float:
    """``$GRADCAM_QUEUE_MAX_WAIT`` seconds, else 120."""
    value = os.environ.get(MAX_WAIT_ENV)
    return float(value) if value else DEFAULT_MAX_WAIT


class _Work:
    def __init__(self, key: Hashable, compute: Callable[[Callable[[float, str], None]], Any]):
        self.key = key
        self.compute = compute
        self.future: Future = Future()
        self.tickets: set[int] = set()
        self.enqueued = time.monotonic()
        self.started: float | None = None
        self.progress: tuple[float, str] = (0.0, "")

    def report(self, fraction: float, message: str = "") -> None:
        self.progress = (float(fraction), str(message))


class Ticket:
    """One caller's claim on a piece of work (possibly shared with other callers)."""

    def __init__(self, queue: WorkQueue, work: _Work, number: int, shared: bool):
        self._queue = queue
        self._work = work
        self._number = number
        #: True when this request joined work another caller had already asked for.
        self.shared = shared

    @property
    def key(self) -> Hashable:
        """The work's key."""
        return self._work.key

    def done(self) -> bool:
        """Whether the work has finished (with a result or an error)."""
        return self._work.future.done()

    def position(self) -> int | None:
        """0 while the work runs; n >= 1 while n - 1 pieces of work are ahead of it in line;
        None once it is done."""
        return self._queue._position(self._work)

    @property
    def progress(self) -> tuple[float, str]:
        """(fraction, message) that the running computation last reported."""
        return self._work.progress

    @property
    def waited(self) -> float:
        """Seconds since the work was queued."""
        return time.monotonic() - self._work.enqueued

    def result(self, timeout: float | None = None) -> Any:
        """The work's result (its exception is raised here). ``timeout`` seconds at most (None:
        until done); a ``concurrent.futures.TimeoutError`` when it is not done by then. Raises
        :class:`QueueTimeoutError` when the work waited in line past the queue's limit."""
        self._queue._check_wait(self._work)
        try:
            return self._work.future.result(timeout)
        except CancelledError:
            raise DroppedError("This request was withdrawn before it started.") from None

    def wait(self, poll: float = 0.25, on_wait: Callable[[Ticket], None] | None = None) -> Any:
        """The result, calling ``on_wait(ticket)`` every ``poll`` seconds until it is ready (a page
        redraws its place in line there). Whatever ``on_wait`` raises (a closed page's stop)
        withdraws this ticket before it propagates."""
        try:
            while True:
                try:
                    return self.result(timeout=poll)
                except FutureTimeout:
                    if on_wait is not None:
                        on_wait(self)
        except BaseException:
            self.cancel()
            raise

    def cancel(self) -> None:
        """Withdraw this caller. Work that nobody else waits for and that has not started is dropped
        (never computed); running work finishes for the others (and for the caches)."""
        self._queue._withdraw(self._work, self._number)


class WorkQueue:
    """At most ``workers`` computations at once, single flight per key, the rest in line.

    Args:
        workers: computations run at once; default :func:`default_workers` (the cores).
        max_wait: seconds a request may wait in line (not counting its own computation) before it
            is refused with :class:`QueueTimeoutError`; default :func:`default_max_wait`.
    """

    def __init__(self, workers: int | None = None, max_wait: float | None = None):
        self.workers = int(workers) if workers is not None else default_workers()
        self.max_wait = float(max_wait) if max_wait is not None else default_max_wait()
        self._lock = threading.Condition()
        self._line: deque[_Work] = deque()
        self._by_key: dict[Hashable, _Work] = {}
        self._running: set[_Work] = set()
        self._threads: list[threading.Thread] = []
        self._numbers = itertools.count(1)
        #: Pieces of work started (the computations); shared requests count once.
        self.started = 0
        #: Requests that joined work already queued or running (single flight).
        self.joined = 0
        #: Queued pieces of work dropped because every caller went away.
        self.dropped = 0
        #: Requests refused because they waited past ``max_wait``.
        self.timed_out = 0

    def submit(self, key: Hashable, compute: Callable[[Callable[[float, str], None]], Any]) -> Ticket:
        """Ask for ``compute(progress)``'s result under ``key``: joins the work of an equal key
        already queued or running, else queues it. ``progress(fraction, message)`` is the callback
        the computation may report through (:attr:`Ticket.progress`)."""
        with self._lock:
            number = next(self._numbers)
            work = self._by_key.get(key)
            shared = work is not None
            if work is None:
                work = _Work(key, compute)
                self._by_key[key] = work
                self._line.append(work)
                self._start_threads()
                self._lock.notify()
            else:
                self.joined += 1
            work.tickets.add(number)
            return Ticket(self, work, number, shared)

    def run(self, key: Hashable, compute: Callable[[Callable[[float, str], None]], Any], **wait) -> Any:
        """``submit(key, compute).wait(**wait)``: the result, computed once for equal keys."""
        return self.submit(key, compute).wait(**wait)

    @property
    def queued(self) -> int:
        """Pieces of work waiting to start."""
        with self._lock:
            return len(self._line)

    @property
    def running(self) -> int:
        """Pieces of work running now."""
        with self._lock:
            return len(self._running)

    # -- inside --------------------------------------------------------------------------------
    def _start_threads(self) -> None:
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._serve, name=f"gradcam-work-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _position(self, work: _Work) -> int | None:
        with self._lock:
            if work.future.done():
                return None
            if work in self._running:
                return 0
            try:
                return self._line.index(work) + 1
            except ValueError:
                return 0  # taken by a worker, about to run

    def _check_wait(self, work: _Work) -> None:
        """Refuse (and drop) work that has waited in line past the limit without starting."""
        with self._lock:
            late = work.started is None and not work.future.done() and time.monotonic() - work.enqueued > self.max_wait
            if late:
                self._line.remove(work)
                self._by_key.pop(work.key, None)
                self.timed_out += 1
                waited = time.monotonic() - work.enqueued
                work.future.set_exception(
                    QueueTimeoutError(
                        f"The server is busy: this request waited {waited:.0f} s in line behind "
                        f"{self.workers} running computation(s) and was not started (the limit is "
                        f"{self.max_wait:.0f} s). Try again in a minute; views already computed still open at once."
                    )
                )

    def _withdraw(self, work: _Work, number: int) -> None:
        with self._lock:
            work.tickets.discard(number)
            if not work.tickets and work.started is None and not work.future.done():
                try:
                    self._line.remove(work)
                except ValueError:  # pragma: no cover - a worker holds it already
                    return
                self._by_key.pop(work.key, None)
                self.dropped += 1
                work.future.cancel()

    def _serve(self) -> None:
        while True:
            with self._lock:
                while not self._line:
                    self._lock.wait()
                work = self._line.popleft()
                work.started = time.monotonic()
                self._running.add(work)
                self.started += 1
            try:
                result = work.compute(work.report)
            except BaseException as error:  # handed to every caller of this key
                outcome: tuple[bool, Any] = (False, error)
            else:
                outcome = (True, result)
            with self._lock:
                self._running.discard(work)
                if self._by_key.get(work.key) is work:
                    del self._by_key[work.key]
            if outcome[0]:
                work.future.set_result(outcome[1])
            else:
                work.future.set_exception(outcome[1])
