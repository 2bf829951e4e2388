"""Builders of chapter interference_02: the promotion experiment and its randomized estimates.

Two builders, so that re-running the estimators (e.g. more re-randomizations) does not redraw
the experiment that chapter interference_03 models:

- `build_exposure`: assignment, clicks, the item-row exposure mapping and the slate table; or,
  when `interference.experiment_path` names a logged experiment, the same two tables read from
  the log (`experiment_log`), without the simulator's oracle columns;
- `build_observed_effects`: difference in means, Neyman CIs, randomization p-values, product summary.
"""

from __future__ import annotations

import pandas as pd

from recsys_causal.artifact_names import IF
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.interference.click_model import ClickModel
from recsys_causal.interference.experiment_log import (
    load_experiment_log,
    log_exposure,
    uses_log,
    without_unknown_oracle,
)
from recsys_causal.interference.exposure import component_table, run_promotion_experiment
from recsys_causal.interference.randomized import estimate_effects

EXPERIMENT_KEYS: tuple[str, ...] = (
    "promotion_probability",
    "click_intercept",
    "click_relevance",
    "click_visibility",
    "click_user_liked",
    "click_item_liked",
    "click_popularity",
    "click_focal_boost",
    "click_nonfocal_penalty",
    "click_same_cluster_penalty",
    "click_displaced_penalty",
    "click_prob_min",
    "click_prob_max",
)
#: knobs of a logged experiment (the file itself is part of the data fingerprint)
LOG_KEYS: tuple[str, ...] = ("experiment_path", "experiment_columns", "experiment_arms")
ESTIMATION_KEYS: tuple[str, ...] = ("n_randomization",)


# upstream: the slates; a log also reads the user and item features, made by the same builder
# with the same keys, so the slates' freshness key covers them
@builder(outputs=(IF.EXPOSURE, IF.COMPONENT), section="interference", keys=(*EXPERIMENT_KEYS, *LOG_KEYS), upstream=(IF.SLATES,))
def build_exposure(store: RunStore) -> dict[str, pd.DataFrame]:
    """Randomize promotion by slate and simulate clicks (or read both from the experiment log), map
    exposures, sum components per slate."""
    p = store.params.interference
    slates = store.get(IF.SLATES)
    if uses_log(p):
        exposure = logged_exposure(store)
    else:
        exposure = run_promotion_experiment(slates, ClickModel.from_params(p), p.promotion_probability, store.params.seed)
    return {IF.EXPOSURE: exposure, IF.COMPONENT: component_table(exposure)}


def logged_exposure(store: RunStore) -> pd.DataFrame:
    """The exposure table of the run's experiment log, described by the run's MovieLens tables."""
    from recsys_causal.interference.build_slates import load_interference_data

    p = store.params.interference
    ratings = load_interference_data(store).ratings
    return log_exposure(load_experiment_log(p), store.get(IF.USER_FEATURES), store.get(IF.ITEM_FEATURES), ratings, p)


@builder(outputs=(IF.OBSERVED_EFFECTS, IF.PRODUCT_SUMMARY), section="interference", keys=ESTIMATION_KEYS,
         upstream=(IF.COMPONENT,))
def build_observed_effects(store: RunStore) -> dict[str, pd.DataFrame]:
    """Randomized estimates of every component and the per-1,000-slates product summary."""
    p = store.params.interference
    res = estimate_effects(store.get(IF.COMPONENT), p.n_randomization, store.params.seed)
    if not uses_log(p):
        return {IF.OBSERVED_EFFECTS: res.effects, IF.PRODUCT_SUMMARY: res.product}
    return {IF.OBSERVED_EFFECTS: without_unknown_oracle(res.effects), IF.PRODUCT_SUMMARY: without_unknown_oracle(res.product)}
