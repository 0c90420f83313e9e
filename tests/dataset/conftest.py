"""Fixtures for the dataset-exploration tests (issue 21): one real run of the offline
EfficientNet-Lite0 over small crops of the sample photos, with right, wrong and missing labels
(tests/helpers/dataset_runs.py), made once per session and shared read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.dataset_runs import make_run


@pytest.fixture(scope="session")
def labelled_run(tmp_path_factory, lite0) -> Path:
    """A finished run (8 photos, 1 text file named .jpg; 7 labels, one of them wrong)."""
    model, _ = lite0
    return make_run(tmp_path_factory.mktemp("explore"), model=model)
