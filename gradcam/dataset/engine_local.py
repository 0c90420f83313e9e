"""The embedded engine: in this process, batch after batch through ``Explainer.explain_batch``."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .sources import Reader
from .work import PlanItem, Worker, WorkOptions, decode_items

#: While the compiled functions are traced (a second or two, once per run), the main thread reads
#: and decodes the next batches, up to this many bytes of decoded pixels.
DECODE_AHEAD_BYTES = 256 * 1024 * 1024


def run_local(pending: list[PlanItem], options: WorkOptions, model, progress: Callable[[int], None],
              explainer=None) -> None:
    """Explain ``pending`` inputs ``options.batch_size`` at a time; each batch ends as one
    committed shard, so a kill loses at most the batches in flight: the one being computed and
    the one before it, whose heatmaps and shard a writer thread writes meanwhile (the fsyncs are
    waits, not work, so they overlap the model). ``progress(n)`` is told how many inputs each
    batch finished, in this thread, once the batch is committed. ``explainer``: the run's
    Explainer of ``model``, reused rather than built a second time.

    The writer thread starts by tracing the compiled functions (:meth:`Worker.warm_up`), mostly
    Python under the GIL and TensorFlow's graph optimisation outside it, while this thread reads
    and decodes the first batches (Pillow and OpenCV release the GIL), within
    :data:`DECODE_AHEAD_BYTES`."""
    worker = Worker(options, model, explainer)
    reader = Reader(options.source)
    size = max(1, options.batch_size)
    batches = deque(pending[start:start + size] for start in range(0, len(pending), size))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradcam-dataset-writer") as writer:
        warm = writer.submit(_warm_up, worker)
        ready: deque = deque()
        held = 0
        while batches and not warm.done() and held < DECODE_AHEAD_BYTES:
            ready.append(decode_items(batches.popleft(), reader))
            held += sum(d.pixels.nbytes for d in ready[-1] if d.pixels is not None)
        warm.result()
        in_flight = None
        while ready or batches:
            decoded = ready.popleft() if ready else decode_items(batches.popleft(), reader)
            computed = worker.compute(decoded)
            if in_flight is not None:
                _finish(*in_flight, progress)
            in_flight = (writer.submit(worker.commit, computed), len(decoded))
        if in_flight is not None:
            _finish(*in_flight, progress)


def _warm_up(worker: Worker) -> None:
    try:
        worker.warm_up()
    except Exception:  # noqa: BLE001 -- a method that cannot run on this model fails each input's row instead
        pass


def _finish(future, count: int, progress: Callable[[int], None]) -> None:
    future.result()  # a write that failed raises here
    progress(count)
