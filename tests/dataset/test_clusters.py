"""SpRAy with the number of clusters chosen by a person (issue 21: "the eigengap plot sits beside
the choice of the number of clusters"): ``spectral_clusters(..., k=)`` on hand-made maps whose
strategies are known, and ``recluster_class`` on a real run."""

from __future__ import annotations

import numpy as np
import pytest

from gradcam.dataset.errors import ClusterError
from gradcam.dataset.report import build_report, recluster_class, spectral_clusters


def three_strategies() -> np.ndarray:
    """15 noisy 16x16 maps: 6 look top-left, 5 bottom-right, 4 at the centre (flattened, (15, 256))."""
    rng = np.random.default_rng(1)
    spots = []
    for (y, x), count in (((1, 1), 6), ((11, 11), 5), ((6, 6), 4)):
        spot = np.zeros((16, 16))
        spot[y : y + 4, x : x + 4] = 1.0
        spots += [spot + rng.uniform(0, 0.05, spot.shape) for _ in range(count)]
    return np.stack(spots).reshape(15, -1)


def test_the_eigengap_chooses_three_and_a_chosen_k_gives_k_clusters():
    vectors = three_strategies()
    labels, eigenvalues = spectral_clusters(vectors)
    assert labels.tolist() == [0] * 6 + [1] * 5 + [2] * 4  # by size, largest first
    assert int(np.argmax(np.diff(eigenvalues))) + 1 == 3
    for k in (1, 2, 3, 4, 5):
        chosen, values = spectral_clusters(vectors, k=k)
        assert len(set(chosen.tolist())) == k, k
        assert len(values) >= k + 1
    # Two clusters: no strategy is split between them (two of the three share one).
    two, _ = spectral_clusters(vectors, k=2)
    for members in (two[:6], two[6:11], two[11:]):
        assert len(set(members.tolist())) == 1
    # k = n: each map alone.
    assert sorted(spectral_clusters(vectors, k=15)[0].tolist()) == list(range(15))


@pytest.mark.parametrize("k", [0, 16, -1, 2.5, True, "3"])
def test_a_number_of_clusters_outside_one_to_n_is_refused(k):
    with pytest.raises(ClusterError, match="expected a whole number from 1 to 15"):
        spectral_clusters(three_strategies(), k=k)


def test_recluster_class_gives_the_report_by_default_and_k_clusters_when_asked(labelled_run):
    report = build_report(labelled_run, write=False)
    entry = next(c for c in report["classes"] if c["clusters"])
    automatic = recluster_class(labelled_run, entry["index"])
    assert automatic["k"] == len(entry["clusters"]) and automatic["count"] == entry["count"]
    assert [c["members"] for c in automatic["clusters"]] == [c["members"] for c in entry["clusters"]]
    assert automatic["eigenvalues"] == entry["eigenvalues"]
    members = sorted(m for c in entry["clusters"] for m in c["members"])
    for k in range(1, entry["count"] + 1):
        chosen = recluster_class(labelled_run, entry["index"], k, arrays=True)
        assert chosen["k"] == k and [c["cluster"] for c in chosen["clusters"]] == list(range(k))
        assert sorted(m for c in chosen["clusters"] for m in c["members"]) == members  # a partition of the class
        assert sum(c["size"] for c in chosen["clusters"]) == entry["count"]
        assert all(c["mean_array"].shape == tuple(report["input_size"]) for c in chosen["clusters"])
    with pytest.raises(ClusterError, match=f"from 1 to {entry['count']}"):
        recluster_class(labelled_run, entry["index"], entry["count"] + 1)


def test_recluster_class_names_the_classes_it_can_cluster(labelled_run):
    report = build_report(labelled_run, write=False)
    predicted = sorted(c["index"] for c in report["classes"])
    absent = next(i for i in range(1000) if i not in predicted)
    with pytest.raises(ClusterError, match=f"Class {absent} has 0 explained image.*least 4.*{predicted[0]}"):
        recluster_class(labelled_run, absent, 2)
