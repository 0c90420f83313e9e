"""How much can a heatmap be trusted? Faithfulness metrics and sanity checks.

    import gradcam
    explainer = gradcam.Explainer(model)
    result = explainer.explain(image, method="gradcam++")
    figures = gradcam.evaluate(explainer, image, result)       # gradcam.metrics.Evaluation
    figures.scores["deletion_auc"], figures.curves["insertion"], figures.baseline.scores
    gradcam.metrics.rank_methods([figures_a, figures_b])       # table rows, best first

Metrics (keys of :data:`METRICS`): deletion and insertion (Petsiuk et al. 2018), average drop and
increase in confidence (Chattopadhyay et al. 2018), ROAD (Rong et al. 2022), the pointing game
(Zhang et al. 2016), the randomisation sanity check (Adebayo et al. 2018), and, with Quantus 0.6's
definitions (``docs/trust-metrics.md``), sparseness, complexity, faithfulness correlation, IROF,
max-sensitivity and random logit; each also scored for a random map. All perturbed images go
through the explainer's compiled forward pass in batches, at the model's input resolution.
"""

from .compactness import complexity, sparseness
from .evaluate import METRICS, SCORES, Evaluation, MetricInfo, evaluate, rank_methods
from .faithfulness import faithfulness_correlation, irof
from .imputation import noisy_linear_imputation
from .perturbation import ROAD_FRACTIONS, average_drop, deletion_insertion, road
from .pointing import peak_location, pointing_game
from .robustness import max_sensitivity
from .sanity import (
    RandomizationResult,
    random_heatmap,
    random_logit,
    random_other_class,
    randomization_check,
    randomized_explainer,
    rank_correlation,
)

__all__ = [
    "METRICS",
    "ROAD_FRACTIONS",
    "SCORES",
    "Evaluation",
    "MetricInfo",
    "RandomizationResult",
    "average_drop",
    "complexity",
    "deletion_insertion",
    "evaluate",
    "faithfulness_correlation",
    "irof",
    "max_sensitivity",
    "noisy_linear_imputation",
    "peak_location",
    "pointing_game",
    "random_heatmap",
    "random_logit",
    "random_other_class",
    "randomization_check",
    "randomized_explainer",
    "rank_correlation",
    "rank_methods",
    "road",
    "sparseness",
]
