"""The trust block under a map, and the near-zero flag before it. The words and thresholds come
from :mod:`gradcam.trust`; this module only arranges them."""

from __future__ import annotations

import streamlit as st

from gradcam import trust
from gradcam.errors import GradCamError
from gradcam_app.state import page_state
from gradcam_app.views import ViewInput

#: How many computed trust blocks a session keeps (the latest ones).
KEPT = 8
#: A mark per answer, so the four lines can be read at a glance.
MARKS = {trust.YES: "✅", trust.PARTLY: "🟡", trust.NO: "❌", trust.CANNOT_TELL: "❔"}


def near_zero_flag_ui(explanation) -> bool:
    """The near-zero warning for a class or group the model all but rules out (shown before the
    map); True when shown."""
    flag = trust.explanation_flag(explanation)
    if flag:
        st.warning(flag, icon="⚠️")
    return bool(flag)


def _context(view: ViewInput, explanation) -> tuple:
    return (
        view.item.key,
        view.loaded.key,
        explanation.method,
        explanation.layer,
        explanation.label,
        tuple(explanation.target_members or ()),
        bool(view.settings.aug_smooth),
    )


def computed_report(view: ViewInput, explanation):
    """The trust block already computed for this map in this session, or None."""
    return page_state().trust_reports.get(_context(view, explanation))


def trust_ui(view: ViewInput, explanation, key: str) -> None:
    """Under a map: the button "Can this map be trusted?" and, once pressed (with progress), the
    four answers: faithful?, about this class?, stable?, focused?"""
    state = page_state()
    context = _context(view, explanation)
    if st.button(
        "Can this map be trusted?",
        key=f"trust_go_{key}",
        help="Four questions, each with its number and the random map's figure: about 200 forward passes "
        f"and {trust.TRUST_SENSITIVITY_SAMPLES} noisy copies explained.",
    ):
        bar = st.progress(0.0, text=f"Checking the map of {explanation.label}")
        try:
            report = trust.trust_report(
                view.loaded.explainer,
                view.decoded.pixels,
                explanation,
                explain_options={"aug_smooth": True} if view.settings.aug_smooth else None,
                progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message),
            )
        except GradCamError as exc:
            st.error(str(exc))
            return
        finally:
            bar.empty()
        state.trust_reports[context] = report
        while len(state.trust_reports) > KEPT:  # the oldest first: dicts keep insertion order
            state.trust_reports.pop(next(iter(state.trust_reports)))
    report = state.trust_reports.get(context)
    if report is not None:
        trust_lines_ui(report)


def trust_lines_ui(report) -> None:
    """The flag, then one numbered line per question: answer, figure, the random figure beside
    it, and the reading."""
    st.markdown(f"**Can the map of {report.target_label} be trusted?**")
    if report.flag:
        st.warning(report.flag, icon="⚠️")
    for number, line in enumerate(report.lines, 1):
        beside = f" · *{line.random_figure}*" if line.random_figure else ""
        st.markdown(
            f"{number}. **{line.question}** {MARKS.get(line.answer, '')} **{line.answer}** · "
            f"{line.figure}{beside}  \n{line.reading}"
        )
    st.caption(
        f"{report.forward_images} images through the network, {report.explained_images} maps of noisy copies, "
        f"{report.seconds:.1f} s. How each answer is decided: docs/trust-metrics.md."
    )
