"""Browsing runs (the Dataset view's library side, issue 12): where runs are looked up, listing
them, opening one by name without leaving the runs folder (``..``, absolute paths and symbolic
links are refused), reading a run's image back, partial runs' reports, the filtered and sorted
table, and small ZIP uploads with their limits.

The real-run tests use the offline EfficientNet-Lite0 on nine small files (tests/helpers/dataset_runs.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest

from gradcam.dataset import ModelSpec, RowFilter, RunAccessError, build_report, filter_rows, list_runs, resolve_run
from gradcam.dataset.browse import RUNS_ENV, faithfulness, read_run_image, run_info, run_rows, runs_root
from gradcam.dataset.errors import DatasetSourceError, RunFolderError
from gradcam.dataset.upload import (
    SOURCE_NAME,
    _running,
    check_zip,
    is_resumable,
    is_running,
    resume_zip_upload,
    run_zip_upload,
)
from gradcam.errors import GradCamError, ImageError
from tests.helpers import dataset_runs


@pytest.fixture(scope="module")
def made(tmp_path_factory, lite0):
    """A finished run ``runs/photos`` and, outside the runs folder, ``elsewhere/secret`` (a run too)."""
    root = tmp_path_factory.mktemp("browse")
    run = dataset_runs.make_run(root, "photos", model=lite0[0])
    secret = root / "elsewhere" / "secret"
    shutil.copytree(run, secret)
    return root, run, secret


# -- where runs live ------------------------------------------------------------------------------
def test_runs_root_env_wins_then_configured_then_runs_under_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(RUNS_ENV, raising=False)
    assert runs_root() == tmp_path / "runs"
    assert runs_root("shared/runs") == tmp_path / "shared" / "runs"
    monkeypatch.setenv(RUNS_ENV, str(tmp_path / "from-env"))
    assert runs_root("shared/runs") == tmp_path / "from-env"


def test_a_run_inside_the_root_opens_and_paths_leading_outside_are_refused(made, tmp_path):
    root, run, secret = made
    runs = run.parent
    assert resolve_run(runs, "photos") == Path(os.path.realpath(run))
    cases = {
        "../elsewhere/secret": "through '..'",
        str(secret): "absolute path",
        ".": "itself",
        "": "No run named",
        "nothing-here": "no such folder",
    }
    (runs / "escape").symlink_to(secret.parent)
    cases["escape/secret"] = "symbolic link"
    (runs / "escape_run").symlink_to(secret)
    cases["escape_run"] = "symbolic link"
    (runs / "not-a-run").mkdir()
    cases["not-a-run"] = "not a run folder"
    for name, fragment in cases.items():
        with pytest.raises(RunAccessError) as caught:
            resolve_run(runs, name)
        message = str(caught.value)
        assert fragment in message, (name, message)
        assert any(w in message.lower() for w in ("pick", "copy or move", "make runs", "move the run")), message
    (runs / "alias").symlink_to(run)  # a link that stays inside the root is fine
    assert resolve_run(runs, "alias") == Path(os.path.realpath(run))
    names = [entry.name for entry in list_runs(runs)]
    assert sorted(names) == ["alias", "photos"], "escaping links and non-runs are not listed"
    for entry in (runs / "escape", runs / "escape_run", runs / "alias", runs / "not-a-run"):
        entry.unlink() if entry.is_symlink() else entry.rmdir()


def test_list_runs_says_finished_or_not(made, tmp_path):
    _, run, _ = made
    runs = tmp_path / "runs"
    shutil.copytree(run, runs / "done")
    shutil.copytree(run, runs / "half")
    (runs / "half" / "run.json").unlink()
    (runs / "half" / "results.parquet").unlink()
    entries = {e.name: e for e in list_runs(runs)}
    assert entries["done"].complete and not entries["half"].complete
    assert entries["done"].inputs == 9 and entries["done"].methods == ("gradcam",)
    assert "unfinished" in entries["half"].label and "9 inputs" in entries["done"].label
    assert list_runs(tmp_path / "missing") == []


def test_runs_in_subfolders_are_listed_and_open_by_their_relative_name(made, tmp_path):
    _, run, _ = made
    runs = tmp_path / "runs"
    shutil.copytree(run, runs / "team" / "2026-11" / "photos")
    shutil.copytree(run, runs / "top")
    shutil.copytree(run, runs / "a" / "b" / "c" / "too-deep")  # below LIST_DEPTH: open by link only
    shutil.copytree(run, runs / "top" / "shards" / "nested")  # inside a run: not searched
    (runs / "team" / "loop").symlink_to(runs / "team")  # a link to a folder is not searched
    names = sorted(e.name for e in list_runs(runs))
    assert names == ["team/2026-11/photos", "top"], names
    assert resolve_run(runs, "team/2026-11/photos") == Path(os.path.realpath(runs / "team" / "2026-11" / "photos"))
    assert resolve_run(runs, "a/b/c/too-deep").name == "too-deep"


# -- a run's rows, images and report ------------------------------------------------------------------
def test_a_runs_image_reads_back_from_its_source_and_a_moved_source_says_so(made, tmp_path):
    root, run, _ = made
    rows = run_rows(run)
    assert len(rows) == 9 and sum(r["status"] == "error" for r in rows) == 1
    row = next(r for r in rows if r["path"] == "coffee_2.jpg")
    path, data = read_run_image(run, row["input_index"])
    assert path == "coffee_2.jpg" and hashlib.sha256(data).hexdigest() == row["sha256"]
    with pytest.raises(RunAccessError, match="has no input 99"):
        read_run_image(run, 99)
    moved = tmp_path / "moved"
    shutil.copytree(run, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["fields"]["source"] = str(tmp_path / "gone")
    (moved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ImageError, match="may have moved"):
        read_run_image(moved, row["input_index"])
    info = run_info(run)
    assert info["model"] == "efficientnet-lite0" and info["methods"] == ["gradcam"] and info["complete"]


def test_report_keeps_mean_maps_as_arrays_and_reads_a_partial_run(made, tmp_path):
    _, run, _ = made
    report = build_report(run, write=False, arrays=True)
    assert report["complete"] and report["counts"] == {"inputs": 9, "ok": 8, "errors": 1, "labelled": 7}
    espresso = next(c for c in report["classes"] if c["name"] == "espresso")
    assert espresso["count"] >= 4 and espresso["mean_array"].shape == (224, 224)
    assert espresso["clusters"] and all(c["mean_array"].shape == (224, 224) for c in espresso["clusters"])
    assert not (run / "report.json").exists()
    half = tmp_path / "half"
    shutil.copytree(run, half)
    (half / "run.json").unlink()
    (half / "results.parquet").unlink()
    with pytest.raises(RunFolderError, match="not a finished run"):
        build_report(half, write=False)
    partial = build_report(half, partial=True)  # write is ignored for a partial run
    assert not partial["complete"] and partial["counts"]["ok"] == 8 and not (half / "report.json").exists()
    assert {c["name"] for c in partial["classes"]} == {c["name"] for c in report["classes"]}
    assert partial["model"] == "efficientnet-lite0"


# -- the table ------------------------------------------------------------------------------------------
def _row(index, label, predicted, p, path=None, metrics=None, status="ok", method="gradcam"):
    insertion, deletion = metrics or (None, None)
    return {
        "input_index": index,
        "path": path or f"{index}.jpg",
        "status": status,
        "method": method,
        "label_index": label,
        "predicted_index": predicted,
        "predicted_probability": p,
        "insertion_auc": insertion,
        "deletion_auc": deletion,
    }


ROWS = [
    _row(0, 1, 1, 0.9, metrics=(0.8, 0.1)),
    _row(1, 1, 2, 0.4, metrics=(0.3, 0.2)),
    _row(2, None, 2, 0.7, metrics=(0.9, 0.0)),
    _row(3, 2, 2, 0.2),
    _row(4, 1, None, None, status="error"),
    _row(5, 1, 1, 0.95, method="saliency"),
]


def indices(rows):
    return [r["input_index"] for r in rows]


def test_filters_keep_the_right_rows():
    gc = RowFilter(method="gradcam")
    assert indices(filter_rows(ROWS, gc)) == [0, 2, 1, 3]  # by confidence, errors left out
    assert indices(filter_rows(ROWS, RowFilter())) == [5, 0, 2, 1, 3]
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", outcome="correct"))) == [0, 3]
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", outcome="incorrect"))) == [1]  # unlabelled: neither
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", true_class=1))) == [0, 1]
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", predicted_class=2))) == [2, 1, 3]
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", confidence=(0.3, 0.8)))) == [2, 1]
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", members=frozenset({"1.jpg", "3.jpg"})))) == [1, 3]


def test_sorts_by_confidence_faithfulness_or_input():
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", descending=False))) == [3, 1, 2, 0]
    # insertion - deletion: 0.9, 0.7, 0.1; the row without metrics comes last
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", sort="faithfulness"))) == [2, 0, 1, 3]
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", sort="input"))) == [3, 2, 1, 0]
    assert indices(filter_rows(ROWS, RowFilter(method="gradcam", sort="input", descending=False))) == [0, 1, 2, 3]


def test_bad_filters_say_what_is_wrong():
    no_metrics = [_row(0, 1, 1, 0.9), _row(1, 1, 1, 0.5)]
    for wanted, fragment in (
        (RowFilter(sort="faithfulness"), "without --metrics"),
        (RowFilter(confidence=(0.8, 0.2)), "low <= high"),
        (RowFilter(outcome="maybe"), "Unknown outcome"),
        (RowFilter(sort="size"), "Unknown sort"),
    ):
        with pytest.raises(GradCamError, match=fragment):
            filter_rows(no_metrics, wanted)


# -- ZIP uploads ----------------------------------------------------------------------------------------
def _zip(names: int) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number in range(names):
            archive.writestr(f"{number}.jpg", b"x")
    return buffer.getvalue()


def test_zip_limits_are_stated_in_the_refusals():
    assert check_zip(_zip(3), max_images=3) == 3
    cases = (
        (lambda: check_zip(_zip(4), "a.zip", max_images=3), "4 files, over the limit of 3"),
        (lambda: check_zip(b"x" * 2_000_000, "big.zip", max_bytes=1_000_000), "over the 1 MB limit"),
        (lambda: check_zip(b"not a zip", "photos.zip"), "not a readable ZIP"),
        (lambda: check_zip(_zip(0), "empty.zip"), "holds no files"),
    )
    for call, fragment in cases:
        with pytest.raises(DatasetSourceError, match=fragment) as caught:
            call()
        assert "upload" in str(caught.value).lower() or "run the whole dataset" in str(caught.value)


def test_a_zip_upload_becomes_a_new_run_under_the_root(tmp_path, lite0):
    model = lite0[0]
    name, summary = run_zip_upload(
        tmp_path / "runs",
        dataset_runs.make_zip(3),
        "my photos.zip",
        model=model,
        spec=ModelSpec(),
        method="gradcam",
        labels=dataset_runs.labels_csv(),
    )
    assert name.startswith("my-photos-") and (summary.inputs, summary.ok, summary.errors) == (4, 3, 1)
    assert [e.name for e in list_runs(tmp_path / "runs")] == [name]
    run = resolve_run(tmp_path / "runs", name)
    assert (run / SOURCE_NAME).is_file() and (run / "labels.csv").is_file()
    rows = run_rows(run)
    assert next(r for r in rows if r["path"] == "coffee_1.jpg")["label"] == "espresso"
    assert np.load(run / rows[0]["heatmap_path"]).dtype == np.float16
    with pytest.raises(DatasetSourceError, match="path,label"):
        run_zip_upload(
            tmp_path / "runs",
            dataset_runs.make_zip(2),
            "bad labels.zip",
            model=model,
            spec=ModelSpec(),
            method="gradcam",
            labels=b"file;class\nx;y\n",
        )
    assert [e.name for e in list_runs(tmp_path / "runs")] == [name]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [name], "the failed upload's folder is removed"


def test_an_interrupted_upload_run_is_finished_from_where_it_stopped(tmp_path, lite0):
    """What the Dataset view's "Finish this run" does: the same model, method and labels from the
    manifest, committed rows kept, only the missing inputs explained, results as if never stopped."""
    model, runs = lite0[0], tmp_path / "runs"
    name, _ = run_zip_upload(
        runs,
        dataset_runs.make_zip(3),
        "photos.zip",
        model=model,
        spec=ModelSpec(),
        method="gradcam++",
        labels=dataset_runs.labels_csv(),
        batch_size=2,
    )
    run = resolve_run(runs, name)
    whole = run_rows(run)
    assert not is_resumable(run), "a finished run has nothing to finish"
    # interrupted after its first shard: no results, the other shards and their heatmaps not there
    shards = sorted((run / "shards").glob("shard-*.parquet"))
    assert len(shards) == 2
    for path in (run / "run.json", run / "results.parquet", shards[1]):
        path.unlink()
    assert is_resumable(run) and not is_running(run)
    with _running(run):  # another worker holds the run: not offered, and refused
        assert is_running(run) and not is_resumable(run)
        with pytest.raises(DatasetSourceError, match="being worked on now"):
            resume_zip_upload(runs, name, model=model)
    summary = resume_zip_upload(runs, name, model=model)
    assert (summary.already_done, summary.computed) == (2, 2) and summary.ok == 3
    again = run_rows(run)
    assert [r["path"] for r in again] == [r["path"] for r in whole]
    for before, after in zip(whole, again):
        assert (after["method"], after["label"], after["target_index"], after["status"]) == (
            "gradcam++",
            before["label"],
            before["target_index"],
            before["status"],
        )
    assert not is_resumable(run)
    with pytest.raises(DatasetSourceError, match="not made from an uploaded ZIP"):
        (run / SOURCE_NAME).rename(run / "moved.zip")
        resume_zip_upload(runs, name, model=model)


def test_an_upload_run_with_a_broken_manifest_is_refused_with_what_to_do(tmp_path):
    run = tmp_path / "runs" / "broken"
    run.mkdir(parents=True)
    (run / SOURCE_NAME).write_bytes(dataset_runs.make_zip(1))
    (run / "manifest.json").write_text("{not json")
    assert is_resumable(run) and not is_running(run)
    with pytest.raises(RunFolderError, match="manifest.json cannot be read.*upload the ZIP again"):
        resume_zip_upload(tmp_path / "runs", "broken")
    (run / "manifest.json").write_text('{"fields": {"model": "{\\"weights\\": 3}"}}')
    with pytest.raises(RunFolderError, match="names no model this version can load"):
        resume_zip_upload(tmp_path / "runs", "broken")


def test_a_finished_run_opens_without_ray(made):
    """Ray made unimportable: the Dataset view's module, the run's rows, report and image still work."""
    _, run, _ = made
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "import gradcam_app.views.dataset\n"
        "from gradcam.dataset import build_report\n"
        "from gradcam.dataset.browse import read_run_image, run_rows\n"
        f"rows = run_rows({str(run)!r}); report = build_report({str(run)!r}, write=False, arrays=True)\n"
        f"read_run_image({str(run)!r}, 1)\n"
        "print(len(rows), report['counts']['ok'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["9", "8"]


def _reference(rows, wanted):
    """filter_rows written plainly, one row at a time (as it was before the columnar RowTable)."""

    def keeps(r):
        labelled = r["label_index"] is not None
        correct = labelled and r["label_index"] == r["predicted_index"]
        return (
            r["status"] == "ok"
            and (wanted.method is None or r["method"] == wanted.method)
            and not (wanted.outcome == "correct" and not correct)
            and not (wanted.outcome == "incorrect" and (not labelled or correct))
            and (wanted.true_class is None or r["label_index"] == wanted.true_class)
            and (wanted.predicted_class is None or r["predicted_index"] == wanted.predicted_class)
            and wanted.confidence[0] <= r["predicted_probability"] <= wanted.confidence[1]
            and all(
                b is None or (r.get(c) is not None and b[0] <= r[c] <= b[1])
                for c, b in (("entropy", wanted.entropy), ("mistakenness", wanted.mistakenness))
            )
            and (wanted.members is None or r["path"] in wanted.members)
        )

    kept = [r for r in rows if keeps(r)]
    if wanted.sort == "input":
        return sorted(kept, key=lambda r: r["input_index"], reverse=wanted.descending)
    score = {"confidence": lambda r: r["predicted_probability"], "faithfulness": faithfulness}.get(
        wanted.sort, lambda r: r.get(wanted.sort)
    )
    scored = [r for r in kept if score(r) is not None]
    return sorted(scored, key=lambda r: (score(r), -r["input_index"]), reverse=wanted.descending) + [
        r for r in kept if score(r) is None
    ]


def test_the_columnar_table_filters_and_sorts_as_the_plain_rule_says():
    """RowTable (what filter_rows and the Dataset view use) against the rule written row by row, on
    600 random rows with ties, missing labels and scores, two methods and repeated paths."""
    from gradcam.dataset.browse import RowTable

    rng = np.random.default_rng(7)
    rows = []
    for i in range(600):
        rows.append(
            _row(
                i % 300,
                None if rng.random() < 0.3 else int(rng.integers(0, 4)),
                int(rng.integers(0, 4)),
                float(rng.choice([0.25, 0.5, 0.75, rng.random()])),
                path=f"{i % 300}.jpg",
                metrics=None if rng.random() < 0.4 else (float(rng.random()), 0.25),
                status="error" if rng.random() < 0.05 else "ok",
                method="gradcam" if i < 300 else "saliency",
            )
        )
        rows[-1]["entropy"] = None if rng.random() < 0.2 else float(rng.choice([0.5, rng.random() * 2]))
        rows[-1]["mistakenness"] = None if rows[-1]["label_index"] is None else float(rng.random())
    table = RowTable(rows)
    members = frozenset(f"{i}.jpg" for i in range(0, 300, 3))
    checked = 0
    for sort in ("confidence", "input", "entropy", "mistakenness", "faithfulness", "margin"):
        for descending in (True, False):
            for wanted in (
                RowFilter(sort=sort, descending=descending),
                RowFilter(method="gradcam", outcome="correct", sort=sort, descending=descending),
                RowFilter(method="saliency", outcome="incorrect", true_class=2, sort=sort, descending=descending),
                RowFilter(predicted_class=1, confidence=(0.25, 0.75), sort=sort, descending=descending),
                RowFilter(entropy=(0.0, 1.0), mistakenness=(0.2, 0.9), sort=sort, descending=descending),
                RowFilter(method="gradcam", members=members, sort=sort, descending=descending),
            ):
                assert table.filter(wanted) == _reference(rows, wanted), wanted
                checked += len(table.filter(wanted))
    assert checked > 5000
