"""The Dataset view's flows with Streamlit's AppTest (issue 12): open a run the library made (with
labels, and one file that is not an image), its audit, filters that change the grid, the click
through to the explorer, refusal of runs outside the runs folder (``..`` and a symbolic link),
and a ZIP upload run with its refusals.

The run is real: the offline EfficientNet-Lite0, local engine, nine small files
(tests/helpers/dataset_runs.py), in a temporary runs folder named by GRADCAM_RUNS_DIR.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from gradcam import limits  # noqa: E402
from gradcam.dataset import RowFilter, filter_rows  # noqa: E402
from gradcam.dataset.browse import run_rows  # noqa: E402
from tests.helpers import dataset_runs  # noqa: E402
from tests.helpers.app import heatmap, new_app, problems  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory, lite0):
    """(runs folder holding the run "photos" and a link "escape" to a run outside it, that outside run)."""
    root = tmp_path_factory.mktemp("app-dataset")
    run = dataset_runs.make_run(root, "photos", model=lite0[0])
    outside = root / "outside" / "secret"
    shutil.copytree(run, outside)
    (run.parent / "escape").symlink_to(outside)
    return run.parent, outside


@pytest.fixture(autouse=True)
def _env(monkeypatch, runs):
    monkeypatch.setenv("GRADCAM_RUNS_DIR", str(runs[0]))
    monkeypatch.setenv("GRADCAM_ALLOW_MODEL_UPLOAD", "1")


def grid(at: AppTest) -> list[str]:
    """Captions of the grid's pictures (each names its file first)."""
    return [
        img.caption
        for image in at.get("image")
        for img in image.proto.imgs
        if img.caption.split(" · ")[0].endswith(".jpg")
    ]


def open_buttons(at: AppTest):
    return [b for b in at.button if b.key and b.key.startswith("dataset_open_")]


def test_a_run_opens_with_its_audit_and_grid(runs):
    at = new_app(view="dataset")
    at.run()
    assert problems(at) == []
    assert at.selectbox(key="dataset_run").value == "photos"
    options = at.selectbox(key="dataset_run").options
    assert options == ["photos · 9 inputs · efficientnet-lite0 · gradcam · finished"], "no link leading outside"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Inputs"] == "9" and metrics["Errors"] == "1" and metrics["Explained"] == "8"
    assert metrics["Accuracy"].endswith("%")
    assert len(at.dataframe) == 2  # by true class, by predicted class
    captions = [img.caption for image in at.get("image") for img in image.proto.imgs]
    assert any(" images" in c and "espresso" in c for c in captions), "the mean map of espresso"
    assert any(c.startswith("cluster 0 · ") for c in captions), "SpRAy clusters of the espresso class"
    assert sorted(c.split(" · ")[0] for c in grid(at)) == sorted(dataset_runs.IMAGES)
    assert len(open_buttons(at)) == 8
    assert any(e.label == "1 input(s) could not be explained" for e in at.expander)
    assert any("`notes.jpg`" in m.value and "text file" in m.value for m in at.markdown), "the error row says why"
    assert at.query_params["view"] in (["dataset"], "dataset") and at.query_params["run"] in (["photos"], "photos")


def test_filters_change_the_grid(runs):
    rows = run_rows(runs[0] / "photos")
    at = new_app(view="dataset")
    at.run()
    everything = grid(at)
    at.radio(key="dataset_outcome").set_value("incorrect").run()
    expected = [r["path"] for r in filter_rows(rows, RowFilter(method="gradcam", outcome="incorrect"))]
    assert "cat_3.jpg" in expected and [c.split(" · ")[0] for c in grid(at)] == expected
    assert all("✗ label" in c for c in grid(at))
    at.radio(key="dataset_outcome").set_value("all").run()
    espresso = next(r["predicted_index"] for r in rows if r["predicted_name"] == "espresso")
    at.selectbox(key="dataset_predicted").set_value(espresso).run()
    assert grid(at) and all(" espresso " in c for c in grid(at)) and len(grid(at)) < len(everything)
    at.selectbox(key="dataset_predicted").set_value(None).run()
    at.slider(key="dataset_confidence").set_value((0.0, 0.3)).run()
    low = [r["path"] for r in filter_rows(rows, RowFilter(method="gradcam", confidence=(0.0, 0.3)))]
    assert [c.split(" · ")[0] for c in grid(at)] == low
    at.slider(key="dataset_confidence").set_value((0.0, 1.0)).run()
    cluster = at.selectbox(key="dataset_cluster")
    assert len(cluster.options) >= 2
    cluster.set_value(cluster.options[1]).run()
    assert 0 < len(grid(at)) < len(everything)
    at.selectbox(key="dataset_cluster").set_value(None).run()
    at.selectbox(key="dataset_sort").set_value("input").run()
    at.toggle(key="dataset_descending").set_value(False).run()
    assert [c.split(" · ")[0] for c in grid(at)] == [r["path"] for r in rows if r["status"] == "ok"]
    assert problems(at) == []


def test_explain_opens_the_image_in_the_explorer_with_the_runs_model_method_and_class(runs):
    at = new_app(view="dataset")
    at.run()
    at.selectbox(key="dataset_sort").set_value("input").run()
    at.toggle(key="dataset_descending").set_value(False).run()
    first = grid(at)[0]
    path, predicted = first.split(" · ")[0], first.split(" · ")[1].rsplit(" ", 1)[0]
    open_buttons(at)[0].click().run()
    assert problems(at) == []
    assert at.radio(key="view").value == "explain"
    assert at.radio(key="source").value == "Run"
    assert heatmap(at)[0] == f"Heatmap · {predicted}"
    assert any(path in c.value and "photos" in c.value for c in at.sidebar.caption)
    params = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert params["run"] == "photos" and params["item"] == "0" and params["view"] == "explain"
    assert params["model"] == "efficientnet-lite0"
    # The link itself, opened afresh, shows the same image and class.
    again = new_app(**params)
    again.run()
    assert problems(again) == [] and heatmap(again)[0] == f"Heatmap · {predicted}"


@pytest.mark.parametrize(
    "name, fragment", [("../outside/secret", "through '..'"), ("escape", "symbolic link"), ("/etc", "absolute path")]
)
def test_a_run_outside_the_runs_folder_is_refused(runs, name, fragment):
    at = new_app(view="dataset", run=name)
    at.run()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "refused" in errors[0] and fragment in errors[0], errors
    assert at.selectbox(key="dataset_run").value == "photos", "the page stays on a run inside the folder"
    # An image link into such a run is refused as well, in the sidebar, and nothing is read.
    at = new_app(view="explain", run=name, item="0")
    at.run()
    assert [str(e.value) for e in at.exception] == []
    assert any("refused" in e.value and fragment in e.value for e in at.sidebar.error)
    assert any("could not be opened" in i.value for i in at.info)


def test_a_zip_upload_runs_with_progress_into_a_new_run_that_opens(runs, monkeypatch):
    at = new_app(view="dataset")
    at.run()
    uploader = at.file_uploader(key="dataset_zip")
    uploader.set_value(("not a zip.zip", b"plain text", "application/zip")).run()
    at.button(key="dataset_run_zip").click().run()
    assert any("not a readable ZIP" in e.value for e in at.error)
    monkeypatch.setattr(limits, "MAX_DATASET_UPLOAD_IMAGES", 3)
    at.file_uploader(key="dataset_zip").set_value(("many.zip", dataset_runs.make_zip(4), "application/zip")).run()
    at.button(key="dataset_run_zip").click().run()
    assert any("5 files, over the limit of 3" in e.value for e in at.error)
    monkeypatch.setattr(limits, "MAX_DATASET_UPLOAD_IMAGES", 200)
    at.file_uploader(key="dataset_zip").set_value(("small set.zip", dataset_runs.make_zip(3), "application/zip"))
    at.file_uploader(key="dataset_labels").set_value(("labels.csv", dataset_runs.labels_csv(), "text/csv")).run()
    at.button(key="dataset_run_zip").click().run()
    assert [str(e.value) for e in at.exception] == [] and [e.value for e in at.error] == []
    assert any("4 inputs, 3 explained, 1 errors" in s.value for s in at.success)
    name = at.selectbox(key="dataset_run").value
    assert name.startswith("small-set-") and (runs[0] / name / "source.zip").is_file()
    assert sorted(c.split(" · ")[0] for c in grid(at)) == sorted(list(dataset_runs.IMAGES)[:3])
    assert not [b for b in at.button if b.key == "dataset_finish_run"], "a finished run has nothing to finish"
    # interrupted before its shard was committed: finished from the page, with its own method and labels
    for path in [
        runs[0] / name / "run.json",
        runs[0] / name / "results.parquet",
        *(runs[0] / name / "shards").glob("shard-*.parquet"),
    ]:
        path.unlink()
    at = new_app(view="dataset", run=name)
    at.run()
    assert any("unfinished" in w.value for w in at.warning)
    at.button(key="dataset_finish_run").click().run()
    assert [str(e.value) for e in at.exception] == [] and [e.value for e in at.error] == []
    assert any("finished: 4 more images explained, 0 kept" in s.value for s in at.success)
    assert not any("unfinished" in w.value for w in at.warning)
    assert sorted(c.split(" · ")[0] for c in grid(at)) == sorted(list(dataset_runs.IMAGES)[:3])
    assert run_rows(runs[0] / name)[0]["label"] is not None, "the run's labels file is used again"
    shutil.rmtree(runs[0] / name)


def test_an_unfinished_run_shows_the_rows_committed_so_far(runs):
    half = runs[0] / "half"
    shutil.copytree(runs[0] / "photos", half)
    try:
        (half / "run.json").unlink()
        (half / "results.parquet").unlink()
        at = new_app(view="dataset", run="half")
        at.run()
        assert problems(at) == []
        assert at.selectbox(key="dataset_run").value == "half"
        assert any("unfinished" in w.value and "9 rows committed so far" in w.value for w in at.warning)
        assert len(grid(at)) == 8
        assert not [b for b in at.button if b.key == "dataset_finish_run"], "a CLI run is finished by its command"
    finally:
        shutil.rmtree(half)
