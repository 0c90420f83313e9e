"""Dataset runs (issue 12): inputs from a folder, a ZIP and a CSV list, labels, error rows, the
results' contract, and exactly-once resume after kills at several points.

The engine tests use the real offline EfficientNet-Lite0 on a handful of small images; the
kill/resume tests run the CLI in subprocesses with a small saved model, killed with SIGKILL both
from outside and by the writer's fault-injection hook (GRADCAM_DATASET_FAULT).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from gradcam.dataset import COLUMN_NAMES, ModelSpec, RunFolderError, border_share, run_dataset
from tests.helpers.dataset_runs import SOURCE_BAD, bad_file, make_sources
from tests.helpers.images import encode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("dataset-src"))


@pytest.fixture(scope="module")
def folder_run(sources, lite0, tmp_path_factory):
    model, _ = lite0
    out = tmp_path_factory.mktemp("dataset-run") / "run"
    summary = run_dataset(sources["folder"], out, spec=ModelSpec(), labels=sources["labels"], batch_size=4, model=model)
    return out, summary


def rows_of(run: Path) -> list[dict]:
    return pq.read_table(run / "results.parquet").to_pylist()


def test_every_input_has_exactly_one_row_with_the_contract_columns(folder_run):
    run, summary = folder_run
    table = pq.read_table(run / "results.parquet")
    for name in (
        "path",
        "sha256",
        "status",
        "error",
        "label_index",
        "predicted_index",
        "predicted_probability",
        "target_index",
        "target_probability",
        "method",
        "heatmap_path",
    ):
        assert name in table.column_names
    assert tuple(table.column_names) == COLUMN_NAMES
    rows = table.to_pylist()
    paths = [r["path"] for r in rows]
    expected = [
        "bomb.png",
        "coffee.jpg",
        "coffee_again.png",
        "empty.jpg",
        "badcrc.png",
        "letter.jpg",
        "nested/broken_link.jpg",
        "nested/chelsea.png",
        "nested/deeper/rotated_exif6.jpg",
        "nested/truncated.jpg",
    ]
    assert sorted(paths) == sorted(expected) and paths == sorted(paths)
    assert [r["input_index"] for r in rows] == list(range(len(rows)))
    assert (summary.inputs, summary.rows, summary.ok, summary.errors) == (10, 10, 3, 7)  # bad label: error
    info = json.loads((run / "run.json").read_text())
    assert info["counts"]["inputs"] == 10 and info["counts"]["errors"] == 7
    assert info["source"]["skipped_hidden"] == 1
    assert info["model"]["name"] == "efficientnet-lite0" and len(info["model"]["weights_sha256"]) == 64
    assert info["methods"] == ["gradcam"] and info["layer"] and info["engine"]["name"] == "local"
    assert {"tensorflow", "keras", "numpy", "pyarrow", "gradcam"} <= set(info["versions"])


def test_bad_files_become_one_line_error_rows(folder_run):
    by_path = {r["path"]: r for r in rows_of(folder_run[0])}
    for name, fragment in SOURCE_BAD.items():
        row = by_path[name if name != "truncated.jpg" else "nested/truncated.jpg"]
        assert row["status"] == "error" and fragment in row["error"] and "\n" not in row["error"]
        assert row["heatmap_path"] == "" and row["predicted_index"] is None
    broken = by_path["nested/broken_link.jpg"]
    assert broken["status"] == "error" and "not found" in broken["error"]
    unknown = by_path["coffee_again.png"]
    assert unknown["status"] == "error" and "unknown label 'unicorn'" in unknown["error"]
    assert by_path["empty.jpg"]["sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_ok_rows_labels_targets_and_heatmaps_aligned_with_the_upright_image(folder_run, lite0):
    run, _ = folder_run
    _, explainer = lite0
    by_path = {r["path"]: r for r in rows_of(run)}
    assert by_path["coffee.jpg"]["label_index"] == 967 and by_path["coffee.jpg"]["label"] == "espresso"
    assert by_path["nested/chelsea.png"]["label_index"] == 281  # WordNet id n02123045, tabby
    assert by_path["nested/deeper/rotated_exif6.jpg"]["label_index"] == 967
    for path in ("coffee.jpg", "nested/chelsea.png", "nested/deeper/rotated_exif6.jpg"):
        row = by_path[path]
        assert row["status"] == "ok" and row["error"] == "" and row["method"] == "gradcam"
        heatmap = np.load(run / row["heatmap_path"])
        assert heatmap.dtype == np.float16 and heatmap.shape == (row["height"], row["width"])
        assert 0.0 <= heatmap.min() and heatmap.max() == 1.0
        assert row["target_index"] == row["predicted_index"] == row["top5_indices"][0]  # --target top
        assert row["predicted_probability"] == pytest.approx(row["top5_probabilities"][0])
        assert heatmap[row["peak_y"], row["peak_x"]] == 1.0
        assert row["border_share"] == pytest.approx(border_share(heatmap.astype(np.float32)), abs=1e-3)
    # Upright: the EXIF-rotated photo is 480 x 320 (H x W) as a viewer sees it, espresso top right.
    rotated = by_path["nested/deeper/rotated_exif6.jpg"]
    assert (rotated["height"], rotated["width"]) == (480, 320)
    assert "EXIF orientation" in rotated["notes"]
    # The stored map is the library's own, to float16 precision.
    from gradcam.images import load_image

    pixels = load_image(Path(json.loads((run / "run.json").read_text())["source"]["path"]) / "coffee.jpg")
    expected = explainer.explain(pixels).heatmap
    assert np.abs(np.load(run / by_path["coffee.jpg"]["heatmap_path"]).astype(np.float32) - expected).max() < 2e-3


def test_a_finished_run_does_nothing_and_says_so(folder_run, sources, lite0):
    run, _ = folder_run
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    again = run_dataset(sources["folder"], run, labels=sources["labels"], batch_size=7, model=lite0[0])
    assert again.already_complete and again.computed == 0 and again.rows == 10
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before


def test_another_command_on_the_same_run_folder_is_refused(folder_run, sources, lite0):
    with pytest.raises(RunFolderError, match="holds another run .*methods"):
        run_dataset(sources["folder"], folder_run[0], labels=sources["labels"], methods=["gradcam++"], model=lite0[0])


def test_zip_and_csv_sources_and_target_label(sources, lite0, tmp_path):
    model, _ = lite0
    zipped = run_dataset(sources["zip"], tmp_path / "zip", labels=sources["labels"], target="label", model=model)
    rows = {r["path"]: r for r in rows_of(tmp_path / "zip")}
    assert "nested/chelsea.png" in rows and "nested/truncated.jpg" in rows and zipped.inputs == 9
    assert rows["nested/chelsea.png"]["target_index"] == 281  # the label, not the prediction
    assert rows["coffee.jpg"]["target_index"] == 967
    assert "no label for this path" in rows["letter.jpg"]["error"]  # --target label without a label

    listed = run_dataset(
        sources["csv"], tmp_path / "csv", labels=sources["labels"], methods=["gradcam", "eigencam"], model=model
    )
    rows = rows_of(tmp_path / "csv")
    assert listed.inputs == 4 and len(rows) == 8  # one row per input and method
    assert [(r["path"], r["method"]) for r in rows[:2]] == [
        ("photos/coffee.jpg", "gradcam"),
        ("photos/coffee.jpg", "eigencam"),
    ]
    assert rows[0]["label_index"] == 967  # labels match the path as the list spells it
    missing = [r for r in rows if r["path"] == "photos/missing.jpg"]
    assert all(r["status"] == "error" and "not found" in r["error"] for r in missing)


def test_border_share_by_hand():
    heatmap = np.zeros((10, 10), np.float32)
    heatmap[0, 0] = 1.0  # in the 1-pixel band
    heatmap[5, 5] = 3.0  # inside
    assert border_share(heatmap) == pytest.approx(0.25)
    assert border_share(np.zeros((10, 10), np.float32)) is None  # no mass: no share, not NaN
    assert border_share(np.ones((10, 10), np.float32)) == pytest.approx(0.36)


# -- kill -9 and resume through the CLI ---------------------------------------------------------


def _save_small_model(folder: Path) -> tuple[Path, Path]:
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, activation="softmax")(x)
    path = folder / "small.keras"
    keras.Model(inputs, outputs).save(path)
    classes = folder / "classes.txt"
    classes.write_text("red\ngreen\nblue\ngrey\n")
    return path, classes


def _cli(args: list[str], env_extra: dict | None = None, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "gradcam", "dataset", "run", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _finish(process) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def _committed_heatmaps(run: Path) -> dict[Path, tuple[int, int]]:
    """(inode, mtime) of every heatmap that a committed shard names: these must never change."""
    files = {}
    for shard in sorted((run / "shards").glob("shard-*.parquet")):
        for relative in pq.read_table(shard, columns=["heatmap_path"]).column(0).to_pylist():
            if relative:
                stat = (run / relative).stat()
                files[run / relative] = (stat.st_ino, stat.st_mtime_ns)
    return files


def test_kill_and_resume_at_several_points_gives_exactly_once_rows(tmp_path):
    rng = np.random.default_rng(7)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(13):
        pixels = rng.integers(0, 256, (24 + i, 40, 3), dtype=np.uint8)
        (src / ("sub" if i % 3 else "") / f"img{i:02d}.png").write_bytes(encode(Image.fromarray(pixels), "PNG"))
    (src / "sub" / "broken.jpg").write_bytes(bad_file("truncated.jpg"))
    model, classes = _save_small_model(tmp_path)
    common = [
        str(src),
        "--model",
        str(model),
        "--classes",
        str(classes),
        "--preprocessing",
        "raw",
        "--method",
        "gradcam,gradcam++",
        "--batch-size",
        "2",
    ]
    run, reference = tmp_path / "run", tmp_path / "reference"

    # The uninterrupted reference.
    code, out, err = _finish(_cli([*common, "--out", str(reference)]))
    assert code == 0, err
    assert "28 rows for 14 inputs, 26 ok, 2 errors" in out and "images/s" in err and "left" in err

    # 1. kill -9 from outside, once the first shard is committed (the writer pauses after each).
    process = _cli([*common, "--out", str(run)], {"GRADCAM_DATASET_FAULT": "pause:1.5"})
    deadline = time.monotonic() + 240
    while not list((run / "shards").glob("shard-*.parquet")) if (run / "shards").exists() else True:
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert _finish(process)[0] == -signal.SIGKILL
    kept = _committed_heatmaps(run)
    assert len(kept) == 4  # the first shard: 2 images x 2 methods

    # 2. killed after writing some heatmaps of a batch, before its shard; 3. while writing a shard
    # (its temporary file exists, the rename has not happened); 4. while writing results.parquet.
    for fault in ("heatmap:6", "shard:2", "results"):
        code, _, err = _finish(_cli([*common, "--out", str(run)], {"GRADCAM_DATASET_FAULT": fault}))
        assert code == -signal.SIGKILL, (fault, err)
        assert not (run / "run.json").exists()
        now = _committed_heatmaps(run)
        assert {p: now[p] for p in kept} == kept, f"a committed heatmap was rewritten ({fault})"
        assert len(now) >= len(kept)
        kept = now
    assert list(run.rglob("*.tmp")), "the kill during writing should have left a temporary file"

    code, out, err = _finish(_cli([*common, "--out", str(run)]))
    assert code == 0, err
    assert "continuing after 14 inputs done earlier" in out  # everything was committed before the last kill
    assert not list(run.rglob("*.tmp"))
    assert {p: _committed_heatmaps(run)[p] for p in kept} == kept

    # Exactly once, and equal to the uninterrupted run, heatmaps included.
    rows, expected = rows_of(run), rows_of(reference)
    assert [(r["input_index"], r["method"]) for r in rows] == [
        (i, m) for i in range(14) for m in ("gradcam", "gradcam++")
    ]
    assert rows == expected
    for row in rows:
        if row["heatmap_path"]:
            assert np.array_equal(np.load(run / row["heatmap_path"]), np.load(reference / row["heatmap_path"]))

    code, out, _ = _finish(_cli([*common, "--out", str(run)]))
    assert code == 0 and "already complete" in out and "nothing to do" in out


def test_engine_ray_without_ray_says_how_to_install(tmp_path, sources):
    # A Python where "import ray" fails: the message is one line with the pip command.
    script = (
        "import sys; sys.modules['ray'] = None\n"
        "from gradcam.cli import main\n"
        f"sys.exit(main(['dataset', 'run', {str(sources['folder'])!r}, '--out', {str(tmp_path / 'r')!r}, "
        "'--engine', 'ray']))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        'error: Ray is not installed: pip install "ray[data]" (or the package\'s ray extra) to use --engine ray.'
    )
    assert not (tmp_path / "r").exists()


# -- the report ----------------------------------------------------------------------------------


def test_spectral_clustering_finds_two_strategies_by_the_eigengap():
    from gradcam.dataset.report import spectral_clusters

    rng = np.random.default_rng(0)
    left, right = np.zeros((16, 16)), np.zeros((16, 16))
    left[4:8, 1:5], right[8:12, 11:15] = 1.0, 1.0
    maps = [m + rng.uniform(0, 0.05, m.shape) for m in [left] * 7 + [right] * 5]
    labels, eigenvalues = spectral_clusters(np.stack(maps).reshape(12, -1))
    assert labels.tolist() == [0] * 7 + [1] * 5  # numbered by size, largest first
    assert np.argmax(np.diff(eigenvalues)) == 1  # the largest gap follows the 2nd eigenvalue
    one, _ = spectral_clusters(np.stack([left + rng.uniform(0, 0.05, left.shape) for _ in range(8)]).reshape(8, -1))
    assert one.tolist() == [0] * 8  # one strategy: one cluster


def test_report_command_writes_json_pngs_and_html(folder_run, capsys):
    from gradcam.cli import main

    run, _ = folder_run
    assert main(["dataset", "report", str(run)]) == 0
    assert "border/fixed-spot classes: none" in capsys.readouterr().out
    report = json.loads((run / "report.json").read_text())
    assert report["counts"] == {"inputs": 10, "ok": 3, "errors": 7, "labelled": 3}
    by_label = {entry["name"]: entry for entry in report["labels"]}
    assert by_label["espresso"]["count"] == 2 and by_label["tabby"]["count"] == 1
    assert sum(c["count"] for c in report["classes"]) == 3
    for entry in report["classes"]:
        assert (run / entry["mean_map"]).exists() and entry["flags"] == []  # too few maps to judge
        image = Image.open(run / entry["mean_map"])
        assert image.size == (224, 224)  # the model's input size
    assert "<table>" in (run / "report.html").read_text()


def test_report_refuses_an_unfinished_run(tmp_path):
    from gradcam.cli import main

    assert main(["dataset", "report", str(tmp_path)]) == 2


def test_a_class_group_as_the_runs_target(tmp_path, lite0):
    model, _ = lite0
    src = tmp_path / "src"
    src.mkdir()
    (src / "cat.jpg").write_bytes((Path(__file__).resolve().parents[2] / "sample_images" / "chelsea.jpg").read_bytes())
    run_dataset(src, tmp_path / "run", model=model, target="group:domestic cat")
    (row,) = rows_of(tmp_path / "run")
    assert row["status"] == "ok" and row["target_name"] == "domestic cat"
    assert row["target_index"] in (281, 282, 283, 284, 285)  # its most probable member
    assert row["target_probability"] > row["predicted_probability"]  # the sum over the five breeds
    from gradcam.errors import TargetError

    with pytest.raises(TargetError, match='Closest groups: "dog"'):
        run_dataset(src, tmp_path / "other", model=model, target="group:dgo")
