"""The provenance JSON and the HTML report carry a map's similarity to the top class and its verdict."""

from __future__ import annotations

import json

import pytest

import gradcam
from gradcam import export
from gradcam.report import html_report


@pytest.fixture(scope="module")
def coffee_slot(lite0):
    from gradcam.images import load_image
    from gradcam_app import samples_dir

    model, explainer = lite0
    image = load_image(samples_dir() / "coffee.jpg")
    return model, image, gradcam.class_sensitivity(explainer, image, "cup", n_random=2)


def test_provenance_carries_similarity_and_verdict(coffee_slot):
    model, image, found = coffee_slot
    bundle = export.export_bundle(
        found.explanation, image=image, image_name="coffee.jpg", image_sha256="0" * 64, model=model, sensitivity=found
    )
    record = json.loads(bundle.provenance_json())
    assert record["explanation"]["similarity_to_top"] == round(found.similarity_to_top, 4)
    assert record["explanation"]["verdict"] == found.verdict == "same as top"
    assert record["class_sensitivity"]["random_classes"] == list(found.random_classes)
    assert record["class_sensitivity"]["thresholds"] == {"same_as_top": 0.8, "partly_shared": 0.5}
    page = bundle.html().decode()
    assert "About this class? cup: same as top" in page and "mostly shows where the model looks" in page


def test_without_a_measure_the_keys_say_none(coffee_slot):
    model, image, found = coffee_slot
    record = export.provenance(found.explanation, model=model, image_name="coffee.jpg", image_sha256="0" * 64)
    assert record["explanation"]["similarity_to_top"] is None and record["explanation"]["verdict"] is None
    assert record["class_sensitivity"] is None
    assert "About this class?" not in html_report(found.explanation, image=image, model=model, image_name="c.jpg")


def test_a_report_of_several_maps_gives_each_its_verdict(coffee_slot):
    model, image, found = coffee_slot
    top = found.top_explanation
    top_found = gradcam.sensitivity.compare_to_top(top, top)
    page = html_report(
        [found.explanation, top], image=image, model=model, image_name="c.jpg", sensitivities=[found, top_found]
    )
    assert "About this class? cup: same as top" in page and "About this class? espresso: top class" in page
    with pytest.raises(gradcam.errors.ExportError, match="one entry per explanation"):
        html_report([found.explanation, top], image=image, model=model, image_name="c.jpg", sensitivities=[found])
