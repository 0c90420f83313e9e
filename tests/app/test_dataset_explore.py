"""The Dataset view's explorer (issue 21) with Streamlit's AppTest: the map of a real run is
computed on demand, a box selection on it and a click on one point filter the grid below (the
selection arrives as the chart's own selection event, set in the chart's widget state as the
browser would send it), scores sort the grid, the selection downloads as CSV, duplicate pairs
show side by side, the number of SpRAy clusters chosen beside the eigengap plot reclusters a class,
and two runs compare in the "Compare runs" view (opened from the Dataset view, or by a link).

The runs are real: the offline EfficientNet-Lite0 (and Lite1 for the comparison), local engine,
nine small files (tests/helpers/dataset_runs.py), in a temporary runs folder named by GRADCAM_RUNS_DIR.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from gradcam.dataset.layout import compute_map  # noqa: E402
from tests.helpers import dataset_runs  # noqa: E402

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory, lite0):
    root = tmp_path_factory.mktemp("app-explore")
    run = dataset_runs.make_run(root, "photos", model=lite0[0])
    return run.parent


@pytest.fixture(autouse=True)
def _env(monkeypatch, runs):
    monkeypatch.setenv("GRADCAM_RUNS_DIR", str(runs))


def problems(at: AppTest) -> list[str]:
    return [str(e.value) for e in at.exception] + [str(e.value) for e in at.error]


def grid(at: AppTest) -> list[str]:
    """File names of the grid's pictures."""
    return [
        img.caption.split(" · ")[0]
        for image in at.get("image")
        for img in image.proto.imgs
        if img.caption.split(" · ")[0].endswith(".jpg") and " · near " not in img.caption
    ]


def test_a_box_and_a_click_on_the_map_filter_the_grid(runs):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["view"] = "dataset"
    at.run()
    assert problems(at) == []
    assert len(grid(at)) == 8
    at.button(key="dataset_map_compute").click().run()
    assert problems(at) == []
    assert (runs / "photos" / "map.parquet").exists()
    points = {p["path"]: p for p in compute_map(runs / "photos").to_pylist()}
    # A box around the coffee crops' points, as the chart's selection event reports it.
    coffee = [points[f"coffee_{i}.jpg"] for i in range(1, 5)]
    xs, ys = [p["embedding_x"] for p in coffee], [p["embedding_y"] for p in coffee]
    box = {"x": [min(xs) - 1e-3, max(xs) + 1e-3], "y": [min(ys) - 1e-3, max(ys) + 1e-3]}
    inside = sorted(
        path
        for path, p in points.items()
        if box["x"][0] <= p["embedding_x"] <= box["x"][1] and box["y"][0] <= p["embedding_y"] <= box["y"][1]
    )
    at.session_state["dataset_map_chart"] = {"selection": {"box": box, "pick": []}}
    at.selectbox(key="dataset_sort").set_value("input").run()
    at.toggle(key="dataset_descending").set_value(False).run()
    assert problems(at) == []
    assert grid(at) == inside and {f"coffee_{i}.jpg" for i in range(1, 5)} <= set(inside) and len(inside) < 8
    assert any(f"{len(inside)} images selected on the map" in c.value for c in at.caption)
    # A click on one point: the grid shows that image alone, and it opens in the explorer.
    rocket = points["rocket.jpg"]["input_index"]
    at.session_state["dataset_map_chart"] = {"selection": {"box": {}, "pick": [{"input_index": rocket}]}}
    at.run()
    assert grid(at) == ["rocket.jpg"]
    at.button(key="dataset_map_open").click().run()
    assert problems(at) == []
    assert at.query_params["view"] in (["explain"], "explain") and at.query_params["item"] in (
        [str(rocket)],
        str(rocket),
    )


def test_scores_sort_the_grid_and_the_selection_downloads_as_csv(runs):
    from gradcam.dataset.browse import run_rows

    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["view"] = "dataset"
    at.run()
    at.selectbox(key="dataset_sort").set_value("mistakenness").run()
    assert grid(at)[0] == "cat_3.jpg"  # labelled espresso on purpose: the label most probably wrong
    at.slider(key="dataset_mistakenness").set_value((0.5, 1.0)).run()
    assert grid(at) == ["cat_3.jpg"]
    from gradcam_app.views.dataset_explore import selection_csv

    rows = [r for r in run_rows(runs / "photos") if r["path"] == "cat_3.jpg"]
    table = list(csv.DictReader(io.StringIO(selection_csv(rows).decode())))
    assert table[0]["path"] == "cat_3.jpg" and table[0]["label"] == "espresso"
    assert float(table[0]["mistakenness"]) == pytest.approx(rows[0]["mistakenness"])
    assert any(b.label.startswith("Download these 1 as CSV") for b in at.get("download_button"))
    assert problems(at) == []


def test_duplicates_side_by_side(runs):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["view"] = "dataset"
    at.run()
    at.slider(key="dataset_dup_threshold").set_value(0.9).run()
    at.button(key="dataset_dup_find").click().run()
    assert problems(at) == []
    assert any(" pairs (" in c.value for c in at.caption)


def cluster_captions(at: AppTest) -> list[str]:
    return [img.caption for image in at.get("image") for img in image.proto.imgs if img.caption.startswith("cluster ")]


def test_the_number_of_clusters_chosen_beside_the_eigengap_plot_reclusters_the_class(runs):
    from gradcam.dataset.report import build_report

    report = build_report(runs / "photos", write=False)
    entry = next(c for c in report["classes"] if c["clusters"])
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["view"] = "dataset"
    at.run()
    assert problems(at) == []
    assert at.selectbox(key="dataset_eigengap_class").value == entry["index"]
    (k_input,) = [n for n in at.number_input if n.label == "Number of clusters"]
    auto = len(entry["clusters"])
    assert k_input.value == auto and k_input.max == min(entry["count"], 12)
    assert len(cluster_captions(at)) == auto
    wanted = 1 if auto > 1 else 2
    k_input.set_value(wanted).run()
    assert problems(at) == []
    shown = cluster_captions(at)
    assert [c.split(" · ")[0] for c in shown] == [f"cluster {i}" for i in range(wanted)]
    assert sum(int(c.split(" · ")[1].split()[0]) for c in shown) == entry["count"]  # every image in one
    assert any(f"eigengap's choice: {auto} · yours: {wanted}" in c.value for c in at.caption)
    # The grid's cluster filter offers the new clusters.
    options = at.selectbox(key="dataset_cluster").options
    assert sum(f"cluster {i} (" in o for o in options for i in range(wanted)) >= wanted
    # Back to the eigengap's choice: its clusters again.
    [n for n in at.number_input if n.label == "Number of clusters"][0].set_value(auto).run()
    assert len(cluster_captions(at)) == auto and problems(at) == []


def test_two_runs_compared_in_a_view_of_their_own(runs):
    import model_zoo
    from gradcam.dataset import run_dataset

    source = runs.parent / "src-photos" / "images"
    if not (runs / "lite1").exists():
        run_dataset(source, runs / "lite1", model=model_zoo.load_model("efficientnet-lite1"), batch_size=9)
    # From the Dataset view: its button opens the Compare runs view with the open run as run A.
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["view"] = "dataset"
    at.query_params["run"] = "photos"
    at.run()
    at.button(key="dataset_compare_runs").click().run()
    assert problems(at) == []
    assert at.radio(key="view").value == "runs"
    assert at.selectbox(key="compare_run_a").value == "photos" and at.selectbox(key="compare_run_b").value == "lite1"
    at.button(key="compare_runs_go").click().run()
    assert problems(at) == []
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Inputs in both"] == "8" and metrics["Predictions agree"].endswith("%")
    assert at.query_params["view"] in (["runs"], "runs") and at.query_params["run_b"] in (["lite1"], "lite1")
    # The most disagreeing inputs as pictures side by side: run A's overlay, then run B's.
    captions = [img.caption for image in at.main.get("image") for img in image.proto.imgs]
    assert (
        len(captions) == 2 * 8
        and all(  # the 8 inputs in both runs, each twice
            a.startswith("A · photos: ") and b.startswith("B · lite1: ") for a, b in zip(captions[::2], captions[1::2])
        )
    )
    assert any(b.label == "Download comparison.parquet" for b in at.get("download_button"))
    # A link to the comparison opens it at once (kept in run A's folder), and a run outside is refused.
    again = AppTest.from_file(APP, default_timeout=300)
    again.query_params.update({"view": "runs", "run": "photos", "run_b": "lite1"})
    again.run()
    assert problems(again) == [] and {m.label: m.value for m in again.metric} == metrics
    refused = AppTest.from_file(APP, default_timeout=300)
    refused.query_params.update({"view": "runs", "run": "photos", "run_b": "../elsewhere"})
    refused.run()
    assert any("run_b='../elsewhere' refused" in p for p in problems(refused))
