"""The command-line tool on the real offline model and the bundled samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gradcam", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    bad = out / "broken.jpg"
    bad.write_text("this is not a picture")
    result = run_cli(
        "explain",
        "sample_images/cat_and_coffee.jpg",
        str(bad),
        "sample_images/coffee.jpg",
        "--target",
        "Egyptian Mau",
        "--contrast",
        "espresso",
        "Egyptian Mau",
        "--top-k",
        "1",
        "--method",
        "gradcam",
        "--method",
        "gradcam++",
        "--out",
        str(out / "results"),
    )
    return result, out / "results"


def test_bad_image_fails_alone_and_is_reported(batch):
    result, out = batch
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {out.parent / 'broken.jpg'}: this is a text file, not an image. "
        "Upload a JPEG, PNG, WebP, BMP, TIFF or GIF image."
    ]
    records = json.loads((out / "results.json").read_text())
    failed = [r for r in records if "error" in r]
    assert len(failed) == 1 and failed[0]["image"].endswith("broken.jpg")


def test_every_image_method_and_target_is_written(batch):
    _, out = batch
    records = [r for r in json.loads((out / "results.json").read_text()) if "error" not in r]
    # 2 good images x 2 methods x (Egyptian Mau, the contrast, the top-1 class when it is new).
    coffee = [r for r in records if r["image"].endswith("/coffee.jpg")]
    cat = [r for r in records if r["image"].endswith("cat_and_coffee.jpg")]
    assert {r["method"] for r in records} == {"gradcam", "gradcam++"}
    assert len(coffee) == 6 and {r["target_name"] for r in coffee} == {"Egyptian cat", "espresso"}
    assert len(cat) == 4  # its top-1 class is Egyptian cat (asked for by its older name), already asked for
    contrast = [r for r in coffee if r["contrast_name"]][0]
    assert contrast["target_name"] == "espresso" and contrast["contrast_name"] == "Egyptian cat"
    for record in records:
        heatmap = np.load(out / record["heatmap"])
        overlay = np.asarray(Image.open(out / record["overlay"]))
        source = Image.open(ROOT / record["image"])
        assert heatmap.shape == (source.height, source.width)
        assert overlay.shape == (source.height, source.width, 3)
        assert record["model"] == "efficientnet-lite0" and record["layer"] == "head_activation"
        assert len(record["top5"]) == 5 and record["seconds"] > 0
    top = [r for r in coffee if r["target_name"] == "espresso" and not r["contrast_name"]][0]
    assert top["top5"][0]["name"] == "espresso"


def test_two_classes_of_a_composite_look_at_different_halves(batch):
    _, out = batch
    records = json.loads((out / "results.json").read_text())
    cat = next(
        r
        for r in records
        if r["image"].endswith("cat_and_coffee.jpg")
        and r["method"] == "gradcam"
        and r["target_name"] == "Egyptian cat"
        and not r["contrast_name"]
    )
    heatmap = np.load(out / cat["heatmap"])
    half = heatmap.shape[1] // 2
    assert heatmap[:, :half].mean() > 2 * heatmap[:, half:].mean()  # the cat is on the left


@pytest.mark.slow  # several CLI processes, each importing TensorFlow and building a model: > 10 s
def test_methods_and_layers_listings():
    methods = run_cli("methods")
    assert methods.returncode == 0 and "gradcam++" in methods.stdout and "arXiv:1710.11063" in methods.stdout
    layers = run_cli("layers", "--model", "efficientnet-lite0")
    assert layers.returncode == 0
    assert layers.stdout.strip().splitlines()[-1] == "head_activation   (default)"


def test_method_options_go_to_the_methods_that_have_them(tmp_path):
    listing = run_cli("methods")
    assert "--option window=... side of the covering square" in listing.stdout
    result = run_cli(
        "explain",
        "sample_images/coffee.jpg",
        "--target",
        "espresso",
        "--method",
        "occlusion",
        "--method",
        "gradcam",
        "--option",
        "window=56",
        "--option",
        "stride=28",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    occlusion, grad = json.loads((tmp_path / "results.json").read_text())
    assert occlusion["method"] == "occlusion" and grad["method"] == "gradcam"
    assert "a 56x56 square of the image's mean colour at 49 positions, 28 pixels apart" in occlusion["notes"][0]
    assert occlusion["provenance"]["explanation"]["options"] == {"aug_smooth": False, "window": 56, "stride": 28}
    assert grad["provenance"]["explanation"]["options"] == {"aug_smooth": False}
    for option, message in [
        (
            "channels=8",
            "--option channels: none of the chosen methods (occlusion) has it; "
            "their options: batch_size, stride, window.",
        ),
        ("window=big", "Option window='big' is not usable: int expected"),
        ("window", "--option takes NAME=VALUE (e.g. --option window=14); got 'window'."),
    ]:
        bad = run_cli(
            "explain",
            "sample_images/coffee.jpg",
            "--method",
            "occlusion",
            "--option",
            option,
            "--out",
            str(tmp_path / "bad"),
        )
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr
        assert not (tmp_path / "bad" / "results.json").exists()  # stopped before any image


def test_unknown_class_stops_before_any_work(tmp_path):
    result = run_cli("explain", "sample_images/coffee.jpg", "--target", "expresso", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "Unknown class 'expresso'" in result.stderr and "'espresso'" in result.stderr
    assert not (tmp_path / "results.json").exists()


def test_unknown_model_lists_the_zoo(tmp_path):
    result = run_cli("explain", "sample_images/coffee.jpg", "--model", "alexnet", "--out", str(tmp_path))
    assert result.returncode == 2 and "efficientnet-lite0" in result.stderr


def test_results_carry_the_same_provenance_record_as_the_app(batch):
    import hashlib

    from gradcam import export

    _, out = batch
    records = [r for r in json.loads((out / "results.json").read_text()) if "error" not in r]
    assert records
    for record in records:
        made = record["provenance"]
        assert made["schema"] == export.PROVENANCE_SCHEMA and made["tool"] == "Grad-CAM Explorer"
        assert made["image"]["sha256"] == hashlib.sha256((ROOT / record["image"]).read_bytes()).hexdigest()
        assert made["model"]["name"] == record["model"] and made["model"]["weights_sha256"]
        assert made["explanation"]["target_name"] == record["target_name"]
        assert made["explanation"]["method"] == record["method"] and made["explanation"]["method_label"]
        assert made["display"] == {"colormap": "jet", "alpha": 0.5, "top_fraction": 1.0}
        assert set(made) >= {"created_utc", "probabilities_top", "versions"}


def test_html_reports_and_top_percent(tmp_path):
    from html.parser import HTMLParser

    from gradcam.images import decode_image

    result = run_cli(
        "explain",
        "sample_images/coffee.jpg",
        "--html",
        "--top-percent",
        "30",
        "--colormap",
        "turbo",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    (record,) = json.loads((tmp_path / "results.json").read_text())
    page = (tmp_path / record["report"]).read_text()
    parser = HTMLParser()
    parser.feed(page)
    assert page.startswith("<!DOCTYPE html>") and "espresso" in page and "http://" not in page
    heatmap = np.load(tmp_path / record["heatmap"])
    overlay = np.asarray(Image.open(tmp_path / record["overlay"]))
    photo = decode_image(ROOT / "sample_images/coffee.jpg").pixels
    hidden = heatmap < np.quantile(heatmap, 0.7)
    assert 0.6 < hidden.mean() < 0.75
    assert np.array_equal(overlay[hidden], photo[hidden])  # the hidden part is the photo itself
    assert not np.array_equal(overlay[~hidden], photo[~hidden])
    assert record["provenance"]["display"] == {"colormap": "turbo", "alpha": 0.5, "top_fraction": 0.3}
    bad = run_cli("explain", "sample_images/coffee.jpg", "--top-percent", "0", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "--top-percent must be from 1 to 100" in bad.stderr


def test_evaluate_records_the_image_digest_weights_and_versions(tmp_path):
    import hashlib

    result = run_cli(
        "evaluate",
        "sample_images/coffee.jpg",
        "--metric",
        "deletion",
        "--steps",
        "4",
        "--no-baseline",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "metrics.json").read_text())
    digest = hashlib.sha256((ROOT / "sample_images/coffee.jpg").read_bytes()).hexdigest()
    assert record["results"][0]["image_sha256"] == digest
    assert len(record["model_weights_sha256"]) == 64 and record["versions"]["numpy"] == np.__version__


def test_class_groups_as_targets_and_the_groups_listing(tmp_path):
    out = tmp_path / "groups"
    result = run_cli(
        "explain",
        "sample_images/cat_and_coffee.jpg",
        "--target",
        "group:domestic cat",
        "--target",
        "group:alcohol-vs-group:gambling",
        "--contrast",
        "group:cup=968+969",
        "espresso",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    records = {r["provenance"]["explanation"]["label"]: r for r in json.loads((out / "results.json").read_text())}
    assert set(records) == {"domestic cat", "alcohol rather than gambling", "cup rather than espresso"}
    cat = records["domestic cat"]
    assert cat["target_members"] == [281, 282, 283, 284, 285]
    probabilities = {e["index"]: e["probability"] for e in cat["top5"]}
    assert cat["target_probability"] >= sum(probabilities.get(i, 0.0) for i in cat["target_members"]) - 1e-5
    assert cat["provenance"]["explanation"]["target_wnid"].startswith("n0")
    assert records["cup rather than espresso"]["contrast_members"] == [967]
    for record in records.values():
        assert np.load(out / record["heatmap"]).max() == pytest.approx(1.0)
    unknown = run_cli("explain", "sample_images/coffee.jpg", "--target", "group:dgo", "--out", str(tmp_path / "x"))
    assert unknown.returncode == 2 and 'Closest groups: "dog"' in unknown.stderr
    assert not (tmp_path / "x" / "results.json").exists()
    listing = run_cli("groups", "cat")
    assert listing.returncode == 0 and "group:domestic cat" in listing.stdout


def test_concepts_writes_an_overlay_with_a_legend_and_json(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_text("this is not a picture")
    result = run_cli("concepts", "sample_images/cat_and_coffee.jpg", str(bad), "--k", "3", "--out", str(tmp_path / "c"))
    assert result.returncode == 1, result.stderr  # the broken file fails alone
    records = json.loads((tmp_path / "c" / "concepts.json").read_text())
    good, failed = records
    assert "error" in failed and "not an image" in failed["error"]
    assert good["k"] == 3 and good["layer"] and len(good["concepts"]) == 3 and len(good["legend"]) == 3
    assert any(c["top"][0]["name"] == "espresso" for c in good["concepts"])  # the cup is one concept
    with Image.open(tmp_path / "c" / good["overlay"]) as picture:
        assert picture.size[0] == 640 and picture.size[1] > 320  # the photo, and the legend below it
    maps = np.load(tmp_path / "c" / good["maps"])
    assert maps.shape == (3, 320, 640) and maps.min() >= 0 and maps.max() <= 1


def test_concepts_refuses_a_bad_k_before_any_work(tmp_path):
    result = run_cli("concepts", "sample_images/coffee.jpg", "--k", "0", "--out", str(tmp_path / "c"))
    assert result.returncode == 2 and "k must be from 1 to" in result.stderr
    assert not (tmp_path / "c").exists()


def test_token_grid_option_reaches_the_explainer(tmp_path):
    # A saved vision-transformer-like model (built-in layers only): --token-grid is passed to the
    # Explainer (the layers listing says where the grid came from); a grid that fits no token layer
    # stops the command with the library's message.
    import keras

    from tests.helpers.toy_models import gap_token_model

    keras.utils.set_random_seed(6)
    model_path = tmp_path / "tokens.keras"
    gap_token_model().save(model_path)
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\nc\n")
    common = ("--model", str(model_path), "--classes", str(classes), "--preprocessing", "raw")
    inferred = run_cli("layers", *common)
    assert inferred.returncode == 0, inferred.stderr
    assert (
        "final_norm   (default)   [tokens (64, 16) reshaped to a 8x8 grid (grid from the patch embedding)]"
        in inferred.stdout
    )
    given = run_cli("layers", *common, "--token-grid", "8", "8")
    assert given.returncode == 0, given.stderr
    assert (
        "final_norm   (default)   [tokens (64, 16) reshaped to a 8x8 grid (grid from the token_grid argument)]"
        in given.stdout
    )
    wrong = run_cli("layers", *common, "--token-grid", "5", "5")
    assert wrong.returncode == 2 and "fits no token layer" in wrong.stderr, wrong.stderr
    image = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    result = run_cli("explain", str(image), *common, "--token-grid", "8", "8", "--target", "b", "--out", str(out))
    assert result.returncode == 0, result.stderr
    records = json.loads((out / "results.json").read_text())
    assert [r["layer"] for r in records] == ["final_norm"] and np.load(out / records[0]["heatmap"]).shape == (32, 32)
    wrong = run_cli("explain", str(image), *common, "--token-grid", "5", "5", "--out", str(tmp_path / "none"))
    assert wrong.returncode == 2 and "fits no token layer" in wrong.stderr, wrong.stderr
