"""Presentation mode: the page for a projector, stepping through a prepared sequence of views.

``?present=1`` (or the sidebar's toggle) hides the sidebar and the controls a viewer does not need,
lets the pictures use the whole width, and puts Previous / Next buttons on top, bound to the arrow
keys (Streamlit's own button shortcuts, no script of ours). A *sequence* is a list of steps; a step
is the query of a page link without the image (``view=classes&classes=285,800&contrast=1``), or
``{"show": "photo"}`` for the photo alone. The whole sequence travels in the link as one value,
``seq=`` (JSON, base64url), with ``step=`` the step shown (1-based), so one link replays it.

Without a sequence of its own, presentation mode prepares one for the image on the page: the photo,
the top class, a class the model all but rules out (its map still glows: the caveat a room needs to
hear), and the contrast between the two most probable classes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import streamlit as st

from gradcam_app import links

#: Query keys of presentation mode.
PRESENT_KEY, SEQUENCE_KEY, STEP_KEY = "present", "seq", "step"
#: Keys a step does not carry: the image belongs to the presentation, not to one step.
IMAGE_KEYS = ("sample", "run", "item", "photo", PRESENT_KEY, SEQUENCE_KEY, STEP_KEY)
#: The most steps a sequence holds, and the longest ``seq=`` value read (a URL stays well under the
#: 8 KB most servers and proxies accept).
MAX_STEPS, MAX_SEQUENCE_CHARS = 20, 4000
#: The rank of the "class the model all but rules out" in the prepared sequence (rank 100 of 1000
#: is far below any plausible class, yet its map, on its own scale, looks as confident as the top's).
LOW_RANK = 100
PHOTO = {"show": "photo"}

#: Hidden while presenting: the sidebar, Streamlit's header, and the controls only the presenter
#: needs (each widget carries its key as the class ``st-key-<key>``).
PRESENT_STYLE = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
header[data-testid="stHeader"], .gc-title, .st-key-view, .st-key-klass, .st-key-scale_to_top,
.st-key-colormap, .st-key-alpha, .st-key-top_percent, [class*="st-key-dl_"], [class*="st-key-preset_"],
.st-key-compare_classes, .st-key-compare_contrast, .st-key-compare_swap, .st-key-compare_methods,
.st-key-compare_layers, .st-key-compare_fuse, .st-key-compare_models, .st-key-shared_scale, .st-key-concepts_k,
.st-key-gc_share, .st-key-gc_presets, [data-testid="stMain"] [data-testid="stExpander"]
  {display: none !important;}
[data-testid="stMainBlockContainer"] {max-width: 100%; padding: 0.75rem 1.5rem 1rem 1.5rem;}
.st-key-gc_present_bar p {font-size: 1.25rem;}
</style>"""


def encode_sequence(steps: Sequence[Mapping[str, str]]) -> str:
    """A sequence as the one ``seq=`` value of a link (compact JSON, base64url without padding)."""
    text = json.dumps([dict(step) for step in steps], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_sequence(value: str) -> tuple[list[dict[str, str]], list[str]]:
    """The steps a ``seq=`` value holds, and one line per problem (an unreadable value gives no
    steps; steps past :data:`MAX_STEPS` are dropped)."""
    value = (value or "").strip()
    if not value:
        return [], []
    if len(value) > MAX_SEQUENCE_CHARS:
        return [], [
            f"Link parameter seq ignored: it is {len(value)} characters, at most {MAX_SEQUENCE_CHARS} are read."
        ]
    try:
        raw = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return [], ["Link parameter seq ignored: it is not a sequence this app wrote (copy the whole link again)."]
    if not isinstance(raw, list) or not all(
        isinstance(step, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in step.items())
        for step in raw
    ):
        return [], ["Link parameter seq ignored: expected a list of steps, each a set of link parameters."]
    problems = []
    if len(raw) > MAX_STEPS:
        problems.append(f"The link's sequence has {len(raw)} steps; the first {MAX_STEPS} are shown.")
    return [_step(step) for step in raw[:MAX_STEPS]], problems


def _step(query: Mapping[str, str]) -> dict[str, str]:
    if query.get("show") == "photo":
        return dict(PHOTO)
    return {key: str(value) for key, value in query.items() if key not in IMAGE_KEYS}


def step_of(query: Mapping[str, str]) -> dict[str, str]:
    """The step of the page's current link query (its image keys left out)."""
    return _step(query)


def prepared_sequence(base: Mapping[str, str], probabilities: np.ndarray) -> list[dict[str, str]]:
    """The sequence presentation mode prepares for an image: the photo, the top class, the class at
    rank :data:`LOW_RANK`, and why the top class rather than the second. ``base``: the page's
    current link query (model, method, layer and display settings are kept)."""
    order = [int(i) for i in np.argsort(-np.asarray(probabilities, dtype=np.float64), kind="stable")]
    common = {k: v for k, v in _step(base).items() if k not in ("view", "class", "classes", "contrast")}
    low = order[min(LOW_RANK, len(order)) - 1]
    steps = [dict(PHOTO), {**common, "view": "explain"}, {**common, "view": "explain", "class": str(low)}]
    if len(order) >= 2:
        steps.append({**common, "view": "classes", "classes": f"{order[0]},{order[1]}", "contrast": "1"})
    return steps


def step_title(step: Mapping[str, str], class_names: Sequence[str]) -> str:
    """A step in a few words: "The photo", "Class: tabby", "Compare classes: tabby, tiger cat"."""
    if step.get("show") == "photo":
        return "The photo"

    def name(text: str) -> str:
        try:
            target = links.decode_target(text, class_names)
        except Exception:  # a class this model does not have: the page says so when it gets there
            return text
        if target is None:
            return "the top class"
        if isinstance(target, int):
            return class_names[target]
        return links.encode_target(target, class_names)

    view = step.get("view", "explain")
    if view == "explain":
        return "Top class" if step.get("class", "top") in ("top", "") else f"Class: {name(step['class'])}"
    if view == "classes":
        picked = [name(c) for c in step.get("classes", "").split(",") if c]
        return "Compare classes" + (f": {', '.join(picked)}" if picked else "")
    return {
        "methods": "Compare methods",
        "layers": "Compare layers",
        "models": "Compare models",
        "concepts": "What parts does the model see?",
        "dataset": "Dataset",
    }.get(view, view)


def presenter_bar(steps: Sequence[Mapping[str, str]], current: int, class_names: Sequence[str], go: Callable) -> None:
    """Previous / Next (the Left / Right arrow keys), the step's title, and Exit (Escape).
    ``go(index)`` applies step ``index`` (a button callback); ``go(None)`` leaves presentation mode."""
    with st.container(key="gc_present_bar"):
        c1, c2, c3, c4 = st.columns([1, 5, 1, 1], vertical_alignment="center")
        c1.button(
            "Previous",
            key="gc_prev",
            icon=":material/arrow_back:",
            shortcut="Left",
            disabled=current <= 0,
            on_click=go,
            args=(current - 1,),
            width="stretch",
        )
        title = step_title(steps[current], class_names) if steps else "The current view"
        c2.markdown(f"**{current + 1} / {max(len(steps), 1)} · {title}**")
        c3.button(
            "Next",
            key="gc_next",
            icon=":material/arrow_forward:",
            shortcut="Right",
            disabled=current >= len(steps) - 1,
            on_click=go,
            args=(current + 1,),
            width="stretch",
        )
        c4.button("Exit", key="gc_exit", shortcut="Esc", on_click=go, args=(None,), width="stretch")


def query(present: bool, steps: Sequence[Mapping[str, str]], current: int) -> dict[str, str]:
    """The presentation's part of the page's link: ``present``, ``seq`` and ``step`` (none when off
    and no sequence is kept)."""
    params: dict[str, str] = {}
    if present:
        params[PRESENT_KEY] = "1"
    if steps:
        params[SEQUENCE_KEY] = encode_sequence(steps)
        if present:
            params[STEP_KEY] = str(current + 1)
    return params


def read(params: Mapping[str, str]) -> tuple[bool, list[dict[str, str]], int, list[str]]:
    """(present, steps, current step index, problems) from a link's query parameters."""
    present = str(params.get(PRESENT_KEY, "")).strip().lower() in ("1", "true", "yes", "on")
    steps, problems = decode_sequence(str(params.get(SEQUENCE_KEY, "")))
    text = str(params.get(STEP_KEY, "")).strip()
    current = 0
    if text:
        if text.isdigit() and 1 <= int(text) <= max(len(steps), 1):
            current = int(text) - 1
        else:
            problems.append(f"Link parameter step={text!r} ignored: expected a step from 1 to {max(len(steps), 1)}.")
    return present, steps, current, problems
