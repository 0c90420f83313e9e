"""The Ray engine (issue 12, item 2): the same rows and heatmaps as the local engine on a folder
(nested folders, bad files of several kinds, a labels file), a ZIP and a CSV list; and a run that
joins a real ``ray start --head`` cluster through ``--ray-address``.

Ray is optional: without it these tests are skipped, and the skip says why and how to install it.
Ray's footprint is kept small for a 2-core machine (2 CPUs, a 128 MB object store, 2 actors).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from gradcam.dataset import load_embeddings, run_dataset
from tests.helpers.dataset_runs import make_sources

try:
    import ray
    import ray.data  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    pytest.skip(
        'RAY IS NOT INSTALLED: the Ray engine tests did not run. pip install "ray[data]" '
        "(the test requirements install it).",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parents[2]
FLOATS = (
    "predicted_probability",
    "target_probability",
    "border_share",
    "insertion_auc",
    "deletion_auc",
    "entropy",
    "margin",
    "label_probability",
    "mistakenness",
)


def assert_same_runs(local: Path, other: Path) -> None:
    """Same rows (discrete columns equal; probabilities to float32 rounding, since batches may
    be cut differently) and the same heatmaps (to float16 rounding)."""
    a, b = pq.read_table(local / "results.parquet").to_pylist(), pq.read_table(other / "results.parquet").to_pylist()
    assert [(r["input_index"], r["path"], r["method"]) for r in a] == [
        (r["input_index"], r["path"], r["method"]) for r in b
    ]
    for x, y in zip(a, b):
        for column in x:
            if column in FLOATS and x[column] is not None:
                assert y[column] == pytest.approx(x[column], rel=1e-4, abs=1e-6), (x["path"], column)
            elif column == "top5_probabilities" and x[column]:
                assert y[column] == pytest.approx(x[column], rel=1e-4, abs=1e-6), x["path"]
            else:
                assert y[column] == x[column], (x["path"], column)
        if x["heatmap_path"]:
            difference = np.abs(
                np.load(local / x["heatmap_path"]).astype(np.float32)
                - np.load(other / y["heatmap_path"]).astype(np.float32)
            )
            assert difference.max() <= 2e-3, x["path"]
    # The same embeddings (issue 21), for the same inputs, to float16 rounding.
    (ia, va), (ib, vb) = load_embeddings(local), load_embeddings(other)
    assert ia.tolist() == ib.tolist() and len(ia) == len({r["input_index"] for r in a if r["status"] == "ok"})
    assert np.abs(va - vb).max() <= 2e-2 * max(1.0, float(np.abs(va).max()))


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("ray-src"))


@pytest.mark.slow
def test_ray_engine_gives_the_local_engines_rows_and_heatmaps(sources, lite0, tmp_path):
    model, _ = lite0
    cases = [
        ("folder", {"labels": sources["labels"]}),
        ("zip", {"labels": sources["labels"], "target": "label"}),
        ("csv", {"methods": ["gradcam", "eigencam"]}),
    ]
    for name, options in cases:
        run_dataset(sources[name], tmp_path / f"local-{name}", batch_size=3, model=model, **options)
    # One local Ray for the three runs (each run_dataset joins it rather than starting its own).
    from gradcam.dataset.engine_ray import OBJECT_STORE_BYTES

    ray.init(
        address="local",
        num_cpus=2,
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}},
        log_to_driver=False,
    )
    try:
        for name, options in cases:
            summary = run_dataset(
                sources[name], tmp_path / f"ray-{name}", batch_size=3, engine="ray", concurrency=2, **options
            )
            assert summary.computed == summary.inputs
            assert_same_runs(tmp_path / f"local-{name}", tmp_path / f"ray-{name}")
    finally:
        ray.shutdown()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_run_joins_a_ray_start_head_cluster(sources, lite0, tmp_path):
    port = _free_port()
    ray_bin = Path(sys.executable).with_name("ray")
    temp_dir = f"/tmp/rt{port}"  # short: Ray's socket paths must fit in 107 characters
    # RAY_AUTH_MODE said outright: with it unset, Ray 2.60's head turns token authentication on when
    # ~/.ray/auth_token exists (an earlier local Ray may have written it), while `ray status` and the
    # run's client, also unset, send no token, and the head never answers them. The cluster is this
    # test's own, on this machine, and stops with it.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_AUTH_MODE": "disabled"}
    # --block keeps the head in the foreground, in its own process group: stopping that group
    # stops this cluster and nothing else ("ray stop" would stop every Ray on the machine).
    head = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=2",
            f"--object-store-memory={128 * 1024 * 1024}",
            "--include-dashboard=false",
            f"--temp-dir={temp_dir}",
            "--block",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while (
            subprocess.run([str(ray_bin), "status", f"--address={address}"], env=env, capture_output=True).returncode
            != 0
        ):
            assert head.poll() is None, head.stdout.read()
            assert time.monotonic() < deadline, "the Ray head did not come up in 180 s"
            time.sleep(2)
        out = tmp_path / "cluster-run"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "gradcam",
                "dataset",
                "run",
                str(sources["csv"]),
                "--out",
                str(out),
                "--engine",
                "ray",
                "--ray-address",
                address,
                "--batch-size",
                "3",
                "--labels",
                str(sources["labels"]),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "4 rows for 4 inputs, 2 ok, 2 errors" in done.stdout
        import json

        engine = json.loads((out / "run.json").read_text())["engine"]
        assert engine["name"] == "ray" and engine["address"] == address
        run_dataset(sources["csv"], tmp_path / "local", labels=sources["labels"], batch_size=3, model=lite0[0])
        assert_same_runs(tmp_path / "local", out)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)
        subprocess.run(["rm", "-rf", temp_dir], check=False)
