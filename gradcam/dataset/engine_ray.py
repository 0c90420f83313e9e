"""The Ray Data engine: the same batches as the local engine, as a Ray Data pipeline.

Reading and decoding run as parallel tasks; explaining runs in ``map_batches`` on an actor pool
(``concurrency`` actors), each building its Explainer once; the actors write the heatmaps and
shards themselves, and only small status rows come back to the driver. Ray Data keeps no
record of finished work, so resume comes from the run folder: the driver gives the pipeline only
the inputs that no committed shard holds.

Without ``address`` a local Ray is started with a small footprint (2 CPUs, a 128 MB object
store, no dashboard), and each actor's TensorFlow gets cores / actors intra-op threads (with
TensorFlow's default, every actor would spin a thread per core); with one, the driver joins that
cluster and TensorFlow keeps its default. Workers on other machines need
this package and its requirements installed, and SRC and RUN on a shared path.
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Callable

import numpy as np

from .errors import EngineUnavailableError
from .sources import Reader
from .work import Decoded, PlanItem, Worker, WorkOptions, decode_items

INSTALL_HINT = 'Ray is not installed: pip install "ray[data]" (or the package\'s ray extra) to use --engine ray.'
#: The local Ray's object store: decoded images pass through it between the read and explain stages.
OBJECT_STORE_BYTES = 128 * 1024 * 1024


def import_ray():
    """The ``ray`` module, with Ray Data loaded; an EngineUnavailableError that says how to install
    it when it is missing (called before a run starts, so the message comes before any work)."""
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


def limit_tensorflow_threads(threads: int | None) -> None:
    """Give this process's TensorFlow ``threads`` intra-op threads and one inter-op thread (None:
    TensorFlow's default, every core). Must run before TensorFlow executes its first op; later it
    is a no-op. Several actors on one machine, each with the default, would run cores x actors
    spinning threads on the cores there are."""
    if not threads:
        return
    from ..tensorflow_import import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised in this process: keep its pools
        pass


class _ExplainActor:
    """Ray actor: one Explainer for its whole life; explains, writes heatmaps and a shard.

    The constructor does the one-time work (TensorFlow's import, the model, tracing the compiled
    functions on a blank image) and records when it finished (``ready_at``, the node's clock), so
    the driver can tell the start-up from the steady rate."""

    def __init__(self, options: WorkOptions, threads: int | None = None):
        limit_tensorflow_threads(threads)
        self.worker = Worker(options)
        self.worker.warm_up()
        self.ready_at = time.time()

    def __call__(self, batch: dict) -> dict:
        started = time.perf_counter()
        decoded: list[Decoded] = [pickle.loads(b) for b in batch["decoded"]]
        computed = self.worker.compute(decoded)
        writing = time.perf_counter()
        rows = self.worker.commit(computed)
        done = time.perf_counter()
        return {
            "input_index": np.array([r["input_index"] for r in rows], dtype=np.int64),
            "status": np.array([r["status"] for r in rows], dtype=object),
            "ready_at": np.full(len(rows), self.ready_at),
            "busy_seconds": np.full(len(rows), done - started),
            "write_seconds": np.full(len(rows), done - writing),
        }


def _actor_pool(ray, size: int) -> dict:
    """A pool of exactly ``size`` actors: ``compute=ActorPoolStrategy`` since Ray 2.51 deprecated
    ``concurrency=``, which older Ray versions need."""
    strategy = getattr(ray.data, "ActorPoolStrategy", None)
    major, minor = (int(part) for part in ray.__version__.split(".")[:2])
    if strategy is not None and (major, minor) >= (2, 51):
        return {"compute": strategy(size=size)}
    return {"concurrency": size}


def run_ray(
    pending: list[PlanItem],
    options: WorkOptions,
    progress: Callable[[int], None],
    *,
    address: str | None = None,
    concurrency: int = 2,
) -> dict:
    """Explain ``pending`` on Ray; returns what run.json records about the cluster."""
    ray = import_ray()
    started = time.time()
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # Workers import gradcam and model_zoo from this checkout (a cluster on other machines needs
    # them installed there; see the README).
    paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(paths), "TF_CPP_MIN_LOG_LEVEL": "3"}}
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address:
                ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level=logging.WARNING)
            else:
                # "local": always a new Ray of our own, never a cluster that happens to run here.
                ray.init(
                    address="local",
                    num_cpus=max(2, concurrency),
                    object_store_memory=OBJECT_STORE_BYTES,
                    include_dashboard=False,
                    runtime_env=runtime_env,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
        except Exception as error:  # noqa: BLE001 -- a cluster that cannot be joined is one line
            raise EngineUnavailableError(
                f"Ray could not start or join the cluster at {address or 'a new local instance'} "
                f"({' '.join(str(error).split())[:300]}). Check the address (ray status) and try again."
            ) from None
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the CLI prints its own progress line
        context.verbose_stats_logs = False
        size = max(1, options.batch_size)
        # One Ray batch = one local-engine batch: blocks hold whole batches, in plan order.
        blocks = [pending[start : start + size] for start in range(0, len(pending), size)]
        dataset = ray.data.from_items(
            [{"item": pickle.dumps(i)} for i in pending], override_num_blocks=max(1, len(blocks))
        )
        # A decode task asks for a whole CPU: with a quarter, a local Ray could run up to eight at
        # once and started worker processes for them (Python and Ray's import), which on two cores
        # took the actors' time (steady 57-60 images/s against 66-89 with one CPU; see the README).
        # Writing stays in the actors: a separate write stage measured slower (36-61), the
        # heatmaps' trip through the object store costing more than the overlap saved.
        dataset = dataset.map_batches(
            _decode_batch, fn_kwargs={"options": options}, batch_size=size, num_cpus=1, batch_format="numpy"
        )
        # A local Ray has this machine's cores to share: each actor gets its part for TensorFlow.
        threads = None if address else max(1, (os.cpu_count() or 1) // max(1, concurrency))
        dataset = dataset.map_batches(
            _ExplainActor,
            fn_constructor_kwargs={"options": options, "threads": threads},
            batch_size=size,
            num_cpus=0.5,
            batch_format="numpy",
            **_actor_pool(ray, concurrency),
        )
        first_ready, busy, writing, batches = None, 0.0, 0.0, 0
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            ready = float(batch["ready_at"].min()) if len(batch["ready_at"]) else None
            first_ready = ready if first_ready is None or (ready is not None and ready < first_ready) else first_ready
            if len(batch["busy_seconds"]):
                busy += float(batch["busy_seconds"][0])
                writing += float(batch["write_seconds"][0])
            batches += 1
            progress(len(set(batch["input_index"].tolist())))
        finished = time.time()
        timing = {}
        if first_ready is not None:
            # Start-up: from this call to the first actor ready (Ray's start, the actors' TensorFlow
            # import, model load and tracing). Steady: the inputs over the time after that.
            steady = finished - max(first_ready, started)
            timing = {
                "startup_seconds": round(max(first_ready, started) - started, 3),
                "steady_seconds": round(steady, 3),
                "steady_images_per_second": round(len(pending) / steady, 3) if steady > 0 else None,
                "actor_busy_seconds": round(busy, 3),
                "actor_write_seconds": round(writing, 3),
                "batches": batches,
            }
        return {
            "address": address or "local",
            "concurrency": concurrency,
            "ray_version": ray.__version__,
            "tensorflow_threads_per_actor": threads,
            **timing,
        }
    finally:
        if started_here:
            ray.shutdown()
