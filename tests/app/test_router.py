"""gradcam_app.router: one line per view, and every view name an old deep link carries still opens."""

from __future__ import annotations

from gradcam_app import router
from gradcam_app.links import View
from gradcam_app.state import PageState

#: The ``?view=`` values links have carried since views existed; each must keep opening its view.
OLD_LINK_VIEWS = ("explain", "classes", "methods", "layers", "models", "concepts", "dataset")


def test_every_old_view_name_still_has_its_route():
    assert [r.key for r in router.ROUTES][: len(OLD_LINK_VIEWS)] == list(OLD_LINK_VIEWS)
    assert [r.key for r in router.ROUTES][len(OLD_LINK_VIEWS) :] == ["runs"]  # Compare runs (issue 21)
    view, problems = View.from_query({"view": "Classes"}, views=list(router.BY_KEY))
    assert view.view == "classes" and problems == []


def test_each_route_draws_with_a_function_of_its_view_module():
    for route in router.ROUTES:
        assert callable(route.function()), route.key
        assert set(route.link) <= set(router.VIEW_FIELDS), route.key
    assert len(set(router.BY_KEY)) == len(router.ROUTES)
    assert [r.key for r in router.ROUTES if not r.needs_image] == ["dataset", "runs"]


def test_an_unknown_or_missing_view_falls_back_to_the_default():
    assert router.route(None).key == router.DEFAULT_VIEW == "explain"
    assert router.route("nope").key == "explain"


def test_the_compare_runs_link_keeps_run_b_and_a_dataset_link_does_not_get_one(monkeypatch):
    """The page writes a view without an image from the run open (run A); the router adds run B
    for the Compare runs view only."""
    written: dict[str, str] = {}

    class Params:
        def from_dict(self, params):
            written.clear()
            written.update(params)

    monkeypatch.setattr(router.st, "query_params", Params())
    state = PageState(compare_run_b="lite1")
    router.write_link(state, View(view="runs", run="photos"))
    assert written == {"view": "runs", "run": "photos", "run_b": "lite1"}
    router.write_link(state, View(view="dataset", run="photos"))
    assert written == {"view": "dataset", "run": "photos"}
