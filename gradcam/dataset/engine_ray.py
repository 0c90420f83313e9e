"""The Ray Data engine: the same batches as the local engine, as a Ray Data pipeline.

Reading and decoding run as parallel tasks; explaining runs in ``map_batches`` on an actor pool
(``concurrency`` actors), each building its Explainer once; the actors write the heatmaps and
shards themselves, and only small status rows come back to the driver. Ray Data keeps no
record of finished work, so resume comes from the run folder: the driver gives the pipeline only
the inputs that no committed shard holds.

Without ``address`` a local Ray is started with a small footprint (2 CPUs, a 128 MB object
store, no dashboard); with one, the driver joins that cluster. Workers on other machines need
this package and its requirements installed, and SRC and RUN on a shared path.
"""
from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable

import numpy as np

from .errors import EngineUnavailableError
from .sources import Reader
from .work import Decoded, PlanItem, Worker, WorkOptions, decode_items

INSTALL_HINT = "Ray is not installed: pip install \"ray[data]\" (or the package's ray extra) to use --engine ray."
#: The local Ray's object store: decoded images pass through it between the read and explain stages.
OBJECT_STORE_BYTES = 128 * 1024 * 1024


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401 -- the Data library is an extra of Ray
    except ImportError:
        raise EngineUnavailableError(INSTALL_HINT) from None
    return ray


def _decode_batch(batch: dict, options: WorkOptions) -> dict:
    """Ray task: read and decode a batch of plan items; pixels travel as pickled arrays."""
    items = [pickle.loads(b) for b in batch["item"]]
    decoded = decode_items(items, Reader(options.source))
    return {"decoded": np.array([pickle.dumps(d) for d in decoded], dtype=object)}


class _ExplainActor:
    """Ray actor: one Explainer for its whole life; explains, writes heatmaps and a shard."""

    def __init__(self, options: WorkOptions):
        self.worker = Worker(options)

    def __call__(self, batch: dict) -> dict:
        decoded: list[Decoded] = [pickle.loads(b) for b in batch["decoded"]]
        rows = self.worker.process(decoded)
        return {"input_index": np.array([r["input_index"] for r in rows], dtype=np.int64),
                "status": np.array([r["status"] for r in rows], dtype=object)}


def _actor_pool(ray, size: int) -> dict:
    """A pool of exactly ``size`` actors: ``compute=ActorPoolStrategy`` since Ray 2.51 deprecated
    ``concurrency=``, which older Ray versions need."""
    strategy = getattr(ray.data, "ActorPoolStrategy", None)
    major, minor = (int(part) for part in ray.__version__.split(".")[:2])
    if strategy is not None and (major, minor) >= (2, 51):
        return {"compute": strategy(size=size)}
    return {"concurrency": size}


def run_ray(pending: list[PlanItem], options: WorkOptions, progress: Callable[[int], None], *,
            address: str | None = None, concurrency: int = 2) -> dict:
    """Explain ``pending`` on Ray; returns what run.json records about the cluster."""
    ray = _ray()
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # Workers import gradcam and model_zoo from this checkout (a cluster on other machines needs
    # them installed there; see the README).
    paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths), "TF_CPP_MIN_LOG_LEVEL": "3"}}
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address:
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False,
                         logging_level=logging.WARNING)
            else:
                # "local": always a new Ray of our own, never a cluster that happens to run here.
                ray.init(address="local", num_cpus=max(2, concurrency), object_store_memory=OBJECT_STORE_BYTES,
                         include_dashboard=False, runtime_env=runtime_env, log_to_driver=False,
                         logging_level=logging.WARNING)
        except Exception as error:  # noqa: BLE001 -- a cluster that cannot be joined is one line
            raise EngineUnavailableError(
                f"Ray could not start or join the cluster at {address or 'a new local instance'} "
                f"({' '.join(str(error).split())[:300]}). Check the address (ray status) and try again.") from None
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the CLI prints its own progress line
        context.verbose_stats_logs = False
        size = max(1, options.batch_size)
        # One Ray batch = one local-engine batch: blocks hold whole batches, in plan order.
        blocks = [pending[start:start + size] for start in range(0, len(pending), size)]
        dataset = ray.data.from_items([{"item": pickle.dumps(i)} for i in pending],
                                      override_num_blocks=max(1, len(blocks)))
        dataset = dataset.map_batches(_decode_batch, fn_kwargs={"options": options}, batch_size=size,
                                      num_cpus=0.25, batch_format="numpy")
        dataset = dataset.map_batches(_ExplainActor, fn_constructor_kwargs={"options": options},
                                      batch_size=size, num_cpus=0.5, batch_format="numpy",
                                      **_actor_pool(ray, concurrency))
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            progress(len(set(batch["input_index"].tolist())))
        return {"address": address or "local", "concurrency": concurrency, "ray_version": ray.__version__}
    finally:
        if started_here:
            ray.shutdown()
