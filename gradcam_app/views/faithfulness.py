"""The faithfulness panel (an expander under the explain view): deletion, insertion, average drop
and ROAD for a few methods on this image and class, against a random map, computed on demand."""

from __future__ import annotations

import numpy as np
import streamlit as st

import gradcam
from gradcam.errors import GradCamError
from gradcam.metrics import METRICS
from gradcam_app import links, loaders
from gradcam_app.state import page_state
from gradcam_app.views import ViewInput

#: Column headers for the ranking table (the data keeps the library's keys); arrows: better is.
COLUMNS = {
    "rank": st.column_config.NumberColumn("Rank", format="%d"),
    "method": st.column_config.TextColumn("Method"),
    "mean_rank": st.column_config.NumberColumn("Mean rank ↓", format="%.2f"),
    "deletion_auc": st.column_config.NumberColumn("Deletion AUC ↓", format="%.3f"),
    "insertion_auc": st.column_config.NumberColumn("Insertion AUC ↑", format="%.3f"),
    "average_drop": st.column_config.NumberColumn("Average drop (%) ↓", format="%.1f %%"),
    "road_morf": st.column_config.NumberColumn("ROAD MoRF ↓", format="%.3f"),
    "road_lerf": st.column_config.NumberColumn("ROAD LeRF ↑", format="%.3f"),
    "sparseness": st.column_config.NumberColumn("Sparseness ↑", format="%.3f"),
    "complexity": st.column_config.NumberColumn("Complexity ↓", format="%.3f"),
    "faithfulness_correlation": st.column_config.NumberColumn("Faithfulness corr. ↑", format="%.3f"),
    "irof": st.column_config.NumberColumn("IROF ↑", format="%.2f"),
    "max_sensitivity": st.column_config.NumberColumn("Max-sensitivity ↓", format="%.3f"),
    "random_logit": st.column_config.NumberColumn("Random logit ↓", format="%.3f"),
    "beats_random": st.column_config.TextColumn("Beats random"),
}

#: The metrics with Quantus 0.6's definitions the panel offers on top of the default four.
EXTRA_METRICS = ("sparseness", "complexity", "faithfulness_correlation", "irof", "max_sensitivity", "random_logit")


def faithfulness_ui(view: ViewInput, explanation) -> None:
    """The expander "How faithful is this map?": metrics on demand, curves, methods ranked."""
    state = page_state()
    loaded, item, settings = view.loaded, view.item, view.settings
    # Lazy (Streamlit's own): the panel's widgets are drawn only while it is open, so a closed one
    # costs a page nothing (a fresh page's browser work is its first heatmap's wait under load).
    panel = st.expander("How faithful is this map?", key="faithfulness_open", on_change="rerun")
    if not panel.open:
        return
    with panel:
        st.caption(
            "A heatmap is a claim about the model. Deletion removes the most important pixels first "
            "(the class probability should fall fast: lower area is better); insertion reveals them "
            "first (higher is better); average drop masks the image by the map (lower is better); "
            "ROAD removes pixels with noisy linear imputation (MoRF lower, LeRF higher). Every score "
            "is also computed for a map of random numbers. Papers: Petsiuk et al. 2018, "
            "Chattopadhyay et al. 2018, Rong et al. 2022."
        )
        fast = [key for key in gradcam.METHODS if not loaders.is_slow(key)]
        preferred = (k for k in ("gradcam", "gradcam++", "layercam") if k in fast)
        default = list(dict.fromkeys([settings.method, *preferred]))
        methods = st.multiselect(
            "Methods to rank on this image and class",
            list(gradcam.METHODS),
            default=default[:3],
            key="faithfulness_methods",
            format_func=lambda key: gradcam.METHODS[key].label,
        )
        extra = st.multiselect(
            "More metrics (Quantus 0.6's definitions)",
            EXTRA_METRICS,
            default=[],
            key="faithfulness_extra",
            format_func=lambda key: f"{METRICS[key].label} · {METRICS[key].paper}",
            help="Sparseness and complexity read the map alone; faithfulness correlation costs about 100 forward "
            "passes, IROF one per superpixel (about 80), max-sensitivity explains 20 noisy copies, random logit "
            "one more map.",
        )
        target = explained_target(explanation)
        context = (item.key, loaded.key, settings.layer, target, tuple(methods), tuple(extra))
        if st.button(
            "Compute the figures",
            key="faithfulness_go",
            disabled=not methods,
            help="About 100 to 150 forward passes per method, plus the random baseline.",
        ):
            try:
                state.faithfulness = (
                    context,
                    loaders.faithfulness_cached(
                        item.key,
                        loaded.key,
                        settings.layer,
                        target,
                        tuple(methods),
                        view.decoded.pixels,
                        loaded.explainer,
                        tuple(extra),
                    ),
                )
            except GradCamError as exc:
                st.error(str(exc))
                return
        if not state.faithfulness or state.faithfulness[0] != context:
            st.caption(f"For **{explanation.target_name}** at `{settings.layer or 'the input'}`: press the button.")
            return
        results = state.faithfulness[1]
        table = gradcam.rank_methods(results)
        for row in table:
            row["method"] = gradcam.METHODS[row["method"]].label if row["method"] in gradcam.METHODS else row["method"]
        columns = {key: config for key, config in COLUMNS.items() if table and key in table[0]}
        st.dataframe(table, hide_index=True, width="stretch", column_config=columns)
        first = next(iter(results.values()))
        charts = st.columns(2)
        for column, curve, title in (
            (charts[0], "deletion", "Deletion: most important pixels removed first"),
            (charts[1], "insertion", "Insertion: most important pixels revealed first"),
        ):
            lines = {gradcam.METHODS[key].label: r.curves[curve] for key, r in results.items()}
            if first.baseline is not None:
                lines["random map"] = first.baseline.curves[curve]
            with column:
                st.markdown(f"**{title}**")
                curve_chart(lines, f"p({explanation.target_name})")


def explained_target(explanation) -> str:
    """The target the faithfulness figures are keyed by (the report's download finds them with it).
    The explanation's target as link text: its class, or its group by members (never the group's
    most probable member alone)."""
    if explanation.target_members is not None and explanation.contrast_members is None:
        return links.encode_target(gradcam.Group(list(explanation.target_members), name=None))
    return links.encode_target(explanation.target_index)


def curve_chart(lines: dict, y_title: str) -> None:
    """Probability against the fraction of pixels, one line per method; the legend sits under the
    chart, where long names ("random map") are not clipped."""
    import altair as alt
    import pandas as pd

    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "fraction of pixels": np.round(np.asarray(x, np.float64), 3),
                    "probability": np.asarray(y, np.float64),
                    "map": name,
                }
            )
            for name, (x, y) in lines.items()
        ],
        ignore_index=True,
    )
    chart = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("fraction of pixels:Q", axis=alt.Axis(format="%")),
            y=alt.Y("probability:Q", title=y_title),
            color=alt.Color("map:N", sort=list(lines), legend=alt.Legend(orient="bottom", title=None, labelLimit=0)),
            tooltip=["map", "fraction of pixels", alt.Tooltip("probability:Q", format=".3f")],
        )
        .properties(height=260)
    )
    st.altair_chart(chart, width="stretch")
