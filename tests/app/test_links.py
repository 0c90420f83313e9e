"""gradcam_app.links and gradcam.targets' text form: how a target and a whole view travel in a shared
link, and come back."""

from __future__ import annotations

import pytest

from gradcam import Contrast, Group
from gradcam.errors import GradCamError, LinkError, TargetError, UnknownClassError
from gradcam_app.links import View, decode_target, encode_target

NAMES = ["apple", "banana", "tea cup", "crane", "crane", "7", "Top", "a-vs-b", "x, y", "ratio: 2"]


@pytest.mark.parametrize(
    "target, text",
    [
        (None, "top"),
        (744, "744"),
        (0, "0"),
        (Contrast(285, 800), "285-vs-800"),
    ],
)
def test_targets_without_names_travel_as_indices_and_come_back(target, text):
    assert encode_target(target) == text
    assert decode_target(text) == target


def test_with_class_names_a_class_travels_by_name_when_the_name_reads_back_as_that_class():
    assert encode_target(2, NAMES) == "tea cup"
    assert encode_target(Contrast(0, 2), NAMES) == "apple-vs-tea cup"
    # Names that would come back as something else travel as indices: a duplicate ("crane" is
    # 3 and 4, as in ImageNet), a number, a reserved word, or a name holding a separator.
    for index in (3, 4, 5, 6, 7, 8, 9):
        assert encode_target(index, NAMES) == str(index)
    for target in [None, *range(len(NAMES)), Contrast(3, 4), Contrast(8, 1), Contrast(2, 7)]:
        assert decode_target(encode_target(target, NAMES), NAMES) == target


def test_old_links_with_names_still_decode():
    assert decode_target("tea cup") == "tea cup"  # no names: the explainer resolves it later
    assert decode_target("tea cup", NAMES) == 2
    assert decode_target("TEA CUP", NAMES) == 2  # a hand-typed link in another case
    assert decode_target("apple-vs-banana", NAMES) == Contrast(0, 1)
    assert decode_target("a-vs-b", NAMES) == 7  # a whole name wins over reading it as a contrast
    assert decode_target(" ", NAMES) is None and decode_target("TOP") is None


def test_unreadable_targets_say_what_was_expected():
    with pytest.raises(LinkError, match="empty class.*both sides"):
        decode_target("3-vs-")
    with pytest.raises(LinkError, match="empty group"):
        decode_target("group:")  # the group prefix is never misread as a class name
    with pytest.raises(LinkError, match="empty group member"):
        decode_target("group:drinks=440++907")
    with pytest.raises(UnknownClassError, match="Did you mean 'tea cup'"):
        decode_target("tea cop", NAMES)
    with pytest.raises(UnknownClassError, match="0 to 9"):
        decode_target("12", NAMES)
    with pytest.raises(UnknownClassError):
        encode_target(10, NAMES)
    with pytest.raises(LinkError):
        encode_target(-1)
    with pytest.raises(LinkError):
        encode_target(2.5)
    assert issubclass(LinkError, TargetError) and issubclass(LinkError, GradCamError)


def test_view_reads_every_control_and_writes_back_only_what_differs():
    params = {
        "model": "EfficientNet-Lite0",
        "sample": "coffee.jpg",
        "class": ["x", "285-vs-800"],
        "method": "GradCAM++",
        "layer": " conv ",
        "view": "classes",
        "colormap": "Turbo",
        "alpha": "0.3",
        "top": "30",
        "smooth": "1",
        "classes": "1,2,1",
        "contrast": "0",
        "methods": "gradcam,layercam",
        "layers": "a,b/c",
        "unrelated": "1",
    }
    view, problems = View.from_query(
        params,
        models=["efficientnet-lite0"],
        samples=["coffee.jpg"],
        methods=["gradcam", "gradcam++", "layercam"],
        views=["explain", "classes"],
    )
    assert problems == []
    assert view == View(
        model="efficientnet-lite0",
        sample="coffee.jpg",
        target="285-vs-800",
        method="gradcam++",
        layer="conv",
        view="classes",
        colormap="turbo",
        alpha=0.3,
        top_percent=30,
        aug_smooth=True,
        compare_classes=("1", "2"),
        compare_contrast=False,
        compare_methods=("gradcam", "layercam"),
        compare_layers=("a", "b/c"),
    )
    assert view.keep == 0.3 and view.decoded_target() == Contrast(285, 800)
    query = view.to_query()
    assert list(query) == [
        "model",
        "sample",
        "class",
        "method",
        "layer",
        "view",
        "colormap",
        "alpha",
        "top",
        "smooth",
        "classes",
        "contrast",
        "methods",
        "layers",
    ]
    assert query["alpha"] == "0.3" and query["top"] == "30" and query["smooth"] == "1" and query["classes"] == "1,2"
    again, problems = View.from_query(
        query,
        models=["efficientnet-lite0"],
        samples=["coffee.jpg"],
        methods=["gradcam", "gradcam++", "layercam"],
        views=["explain", "classes"],
    )
    assert again == view and problems == []
    assert View().to_query() == {}
    assert View(model="m").replace(colormap="jet", alpha=0.5).to_query() == {"model": "m"}


def test_bad_link_values_are_ignored_one_line_each():
    params = {
        "model": "alexnet",
        "class": "group:",
        "colormap": "rainbowish",
        "alpha": "2",
        "top": "33.5",
        "smooth": "maybe",
        "methods": "gradcam,magic",
        "classes": "1,2-vs-3,top",
        "layer": "",
    }
    view, problems = View.from_query(params, models=["efficientnet-lite0"], methods=["gradcam"])
    assert view == View(compare_methods=("gradcam",), compare_classes=("1",))
    assert len(problems) == 8 and all("\n" not in p and p.startswith("Link parameter ") for p in problems)
    text = " ".join(problems)
    for fragment in (
        "model='alexnet'",
        "class='group:'",
        "colormap='rainbowish'",
        "alpha='2'",
        "top='33.5'",
        "smooth='maybe'",
        "methods='magic'",
        "classes='2-vs-3,top'",
    ):
        assert fragment in text, fragment
    assert "expected one of efficientnet-lite0" in text and "between 0 and 1" in text


def test_export_parse_view_wrapper_keeps_its_contract():
    from gradcam_app import links as export  # parse_view moved here from gradcam.export with the links

    view, problems = export.parse_view(
        {"model": "EfficientNet-Lite0", "class": "tea cup", "colormap": "gray", "view": "layers"},
        models=["efficientnet-lite0"],
        views=["explain"],
    )
    assert view == {"model": "efficientnet-lite0", "class": "tea cup"}  # display keys are View's business
    assert problems == ["Link parameter view='layers' ignored: expected one of explain."]


def test_groups_travel_by_name_or_by_their_members_and_come_back_the_same():
    assert encode_target(Group("dog")) == "group:dog"
    assert decode_target("group:dog") == Group("dog") and decode_target("GROUP: domestic cat") == Group("domestic cat")
    drinks = Group(["banana", 0], name="fruit")
    assert encode_target(drinks, NAMES) == "group:fruit=0+1"  # members by index: no name lookup on the way back
    assert decode_target("group:fruit=0+1", NAMES) == Group([0, 1], name="fruit")
    assert decode_target("group:=3+2") == Group([3, 2])  # unnamed: the engine names it by its members
    pair = Contrast(Group("alcohol"), Group("gambling"))
    assert encode_target(pair) == "group:alcohol-vs-group:gambling" and decode_target(encode_target(pair)) == pair
    mixed = Contrast(Group([2, 3], name="cups"), 0)
    assert decode_target(encode_target(mixed, NAMES), NAMES) == Contrast(Group([2, 3], name="cups"), 0)
    with pytest.raises(LinkError, match="cannot travel"):
        encode_target(Group([1, 2], name="a+b"))
    with pytest.raises(LinkError, match="pass class_names"):
        encode_target(Group(["banana"]))
    view, problems = View.from_query({"class": "group:dog", "classes": "group:dog,group:cat=281+282,1-vs-2"})
    assert view.target == "group:dog" and view.compare_classes == ("group:dog", "group:cat=281+282")
    assert len(problems) == 1 and "1-vs-2" in problems[0]


def test_a_dataset_run_and_its_input_travel_in_a_link():
    view = View(model="efficientnet-lite0", target="espresso", view="dataset", run="photos-2024", item=0)
    query = view.to_query()
    assert query["run"] == "photos-2024" and query["item"] == "0" and list(query)[-2:] == ["run", "item"]
    again, problems = View.from_query(query, models=["efficientnet-lite0"], views=["explain", "dataset"])
    assert again == view and problems == []
    # The page resolves the run inside its runs folder; the link only refuses what cannot be a name.
    odd, problems = View.from_query({"run": "x" * 300, "item": "-1", "view": "dataset"}, views=["dataset"])
    assert odd.run is None and odd.item is None and odd.view == "dataset"
    assert len(problems) == 2 and "run's name" in problems[0] and "input's number" in problems[1]


def test_two_compared_runs_travel_in_a_link_and_old_dataset_links_read_the_same():
    view = View(view="runs", run="photos", run_b="photos-lite1")
    assert view.to_query() == {"view": "runs", "run": "photos", "run_b": "photos-lite1"}
    again, problems = View.from_query(view.to_query(), views=["dataset", "runs"])
    assert again == view and problems == []
    old, problems = View.from_query({"view": "dataset", "run": "photos"}, views=["dataset", "runs"])
    assert old == View(view="dataset", run="photos") and old.run_b is None and problems == []
    odd, problems = View.from_query({"view": "runs", "run_b": "y" * 300}, views=["runs"])
    assert odd.run_b is None and problems == [
        f"Link parameter run_b={'y' * 40!r} ignored: expected a run's name inside the runs folder (at most 200 "
        "characters)."
    ]


def test_compared_models_and_the_shared_scale_travel_and_come_back():
    models = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]
    view = View(view="models", compare_models=("efficientnet-lite0", "efficientnet-lite1"), shared_scale=True)
    query = view.to_query()
    assert query == {"view": "models", "models": "efficientnet-lite0,efficientnet-lite1", "shared": "1"}
    again, problems = View.from_query(query, models=models, views=["explain", "models"])
    assert again == view and problems == []
    # names are matched case-insensitively, repeats dropped; unknown models are named and ignored
    odd, problems = View.from_query(
        {"models": "EfficientNet-Lite1,alexnet,efficientnet-lite1", "shared": "2"}, models=models
    )
    assert odd.compare_models == ("efficientnet-lite1",) and odd.shared_scale is False
    assert problems == [
        "Link parameter models='alexnet' ignored: expected models among "
        "efficientnet-lite0, efficientnet-lite1, efficientnet-lite2.",
        "Link parameter shared='2' ignored: expected 1 or 0.",
    ]
    assert "models" not in View().to_query() and "shared" not in View().to_query()


def test_the_concepts_k_and_the_fused_layers_travel_in_a_link():
    view = View(view="concepts", concepts_k=3)
    assert view.to_query() == {"view": "concepts", "k": "3"}
    again, problems = View.from_query({"view": "concepts", "k": "3"}, views=["explain", "concepts"])
    assert again == view and problems == []
    fused = View(view="layers", compare_layers=("a", "b"), compare_fuse=True)
    assert fused.to_query() == {"view": "layers", "layers": "a,b", "fuse": "1"}
    assert View.from_query(fused.to_query())[0] == fused
    for bad in ("1", "9", "3.5", "four"):
        odd, problems = View.from_query({"k": bad, "fuse": "perhaps"})
        assert odd.concepts_k == 4 and not odd.compare_fuse
        assert problems[0].startswith("Link parameter fuse='perhaps' ignored")
        assert problems[1] == (
            f"Link parameter k={bad!r} ignored: expected a whole number of concepts from 2 to 8, such as 4."
        )
