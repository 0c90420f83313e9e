"""The embedded engine: in this process, batch after batch through ``Explainer.explain_batch``."""
from __future__ import annotations

from collections.abc import Callable

from .sources import Reader
from .work import PlanItem, Worker, WorkOptions, decode_items


def run_local(pending: list[PlanItem], options: WorkOptions, model, progress: Callable[[int], None],
              explainer=None) -> None:
    """Explain ``pending`` inputs ``options.batch_size`` at a time; each batch ends as one
    committed shard, so a kill loses at most the batch in flight. ``progress(n)`` is told how
    many inputs each batch finished. ``explainer``: the run's Explainer of ``model``, reused
    rather than built a second time."""
    worker = Worker(options, model, explainer)
    reader = Reader(options.source)
    size = max(1, options.batch_size)
    for start in range(0, len(pending), size):
        batch = pending[start:start + size]
        worker.process(decode_items(batch, reader))
        progress(len(batch))
