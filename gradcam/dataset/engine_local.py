"""The embedded engine: in this process, batch after batch through ``Explainer.explain_batch``."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .sources import Reader
from .work import PlanItem, Worker, WorkOptions, decode_items

if TYPE_CHECKING:
    from ..explainer import Explainer


def run_local(
    pending: list[PlanItem],
    options: WorkOptions,
    model: Any,
    progress: Callable[[int], None],
    explainer: Explainer | None = None,
) -> None:
    """Explain ``pending`` inputs ``options.batch_size`` at a time; each batch ends as one
    committed shard, so a kill loses at most the batches in flight: the one being computed and
    the one before it, whose heatmaps and shard a writer thread writes meanwhile (the fsyncs are
    waits, not work, so they overlap the model). ``progress(n)`` is told how many inputs each
    batch finished, in this thread, once the batch is committed. ``explainer``: the run's
    Explainer of ``model``, reused rather than built a second time."""
    worker = Worker(options, model, explainer)
    reader = Reader(options.source)
    size = max(1, options.batch_size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gradcam-dataset-writer") as writer:
        in_flight = None
        for start in range(0, len(pending), size):
            batch = pending[start : start + size]
            computed = worker.compute(decode_items(batch, reader))
            if in_flight is not None:
                _finish(*in_flight, progress)
            in_flight = (writer.submit(worker.commit, computed), len(batch))
        if in_flight is not None:
            _finish(*in_flight, progress)


def _finish(future, count: int, progress: Callable[[int], None]) -> None:
    future.result()  # a write that failed raises here
    progress(count)
