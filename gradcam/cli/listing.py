"""``python -m gradcam methods | layers | models | groups``: what exists."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import GradCamError
from .common import add_model_arguments, fail, load_model, make_explainer


def _methods_arguments(parser) -> None:
    pass


def _methods(args) -> int:
    from .. import METHODS

    for key, method in METHODS.items():
        layer = "layer" if method.uses_layer else "pixels"
        print(f"{key:15s} {method.label:24s} [{layer}; {method.passes}]")
        print(f"{'':15s} {method.summary}")
        print(f"{'':15s} {method.paper}")
        for option in method.options:
            default = "not set" if option.default is None else option.default
            print(f"{'':15s} --option {option.name}=... {option.help} (default {default})")
    return 0


def _layers(args) -> int:

    try:
        explainer = make_explainer(load_model(args), args)
        layers = explainer.layers
        default = explainer.default_layer
        notes = explainer.layer_notes
    except GradCamError as error:
        return fail(str(error))
    for path in layers:
        note = f"   [{notes[path]}]" if path in notes else ""
        print(f"{path}{'   (default)' if path == default else ''}{note}")
    return 0


def _models(args) -> int:
    import model_zoo

    for info in model_zoo.list_models():
        size = f"{info.input_size[0]}x{info.input_size[1]}"
        print(f"{info.name:20s} {size:8s} {info.status:16s} {info.status_message}")
    return 0


def _groups_arguments(parser) -> None:
    parser.add_argument(
        "query",
        nargs="?",
        default=None,
        help="a word to look for (a group name, a lemma, a WordNet id); default: the curated concepts",
    )
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="at most N groups (default 20)")


def _groups(args) -> int:
    from model_zoo.imagenet import concept_groups, display_name, find_groups

    found = (
        [match.group for match in find_groups(args.query, limit=args.limit)]
        if args.query
        else list(concept_groups().values())[: args.limit]
    )
    if not found:
        return fail(f"No class group matches {args.query!r}; try a broader word (dog, vehicle, food).")
    for group in found:
        members = ", ".join(display_name(i) for i in group.members[:4]) + (", ..." if group.size > 4 else "")
        print(f"group:{group.name:28s} {group.size:4d} classes  {group.source:8s} {members}")
        if group.rationale:
            print(f"{'':35s} {group.rationale}")
    return 0


COMMANDS = [
    SimpleNamespace(
        NAME="methods",
        HELP="list the explanation methods with their papers",
        add_arguments=_methods_arguments,
        run=_methods,
    ),
    SimpleNamespace(
        NAME="layers",
        HELP="list a model's layers with a spatial output",
        add_arguments=add_model_arguments,
        run=_layers,
    ),
    SimpleNamespace(
        NAME="models", HELP="list the model zoo with each model's status", add_arguments=_methods_arguments, run=_models
    ),
    SimpleNamespace(
        NAME="groups",
        HELP="find ImageNet class groups (WordNet hierarchy, curated concepts) to "
        "explain as one target (--target group:NAME)",
        add_arguments=_groups_arguments,
        run=_groups,
    ),
]
