"""Cross-fitted AIPW of the promotion's total effect, with the known randomization probability.

Promotion was randomized with a known probability π, so no propensity model is fitted. Outcome
models for promoted and unchanged slates (m1, m0) are fitted on the other folds and predict each
held-out slate; the per-slate score is

    ψ_i = m1(x_i) - m0(x_i) + A_i (Y_i - m1(x_i)) / π - (1 - A_i) (Y_i - m0(x_i)) / (1 - π),

whose mean estimates the average total effect per slate and whose spread gives the standard
error (influence function: sd(ψ) / √n). With m1 = m0 = 0 the mean is the Horvitz–Thompson
estimate mean(A Y / π - (1 - A) Y / (1 - π)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys_causal.crossfit import cross_fit_predict, stratified_folds
from recsys_causal.inference import Z95, mean_with_se
from recsys_causal.interference.features import EncodedFeatures, treatment_matrices
from recsys_causal.interference.outcome_models import (
    OutcomeModels,
    crossfit_predicted_lift,
    fit_outcome_models,
    make_regressor,
)
from recsys_causal.interference.randomized import difference_in_means
from recsys_causal.params import InterferenceParams
from recsys_causal.scores import aipw_score
from recsys_causal.seeds import stream_seed

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

#: The T-learner behind AIPW / DR is always this model kind; the policy score uses the best one.
AIPW_MODEL = "LightGBM"


def crossfit_arm_models(
    enc: EncodedFeatures, model: BaseEstimator, seed: int, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of separate outcome models (clones of `model`) for promoted (m1)
    and unchanged (m0) slates: each fold is predicted by models fitted on the other folds."""
    t = enc.treatment.to_numpy()
    # an arm's model is fitted on that arm's slates, where X and X with the flag set to the arm
    # agree, so it is fitted on the latter and predicts it once per fold
    _, M1, M0 = treatment_matrices(enc.X)
    m1, m0 = (cross_fit_predict(model, Mx, enc.y, folds, fit_mask=t == arm, seed=seed + offset).oof
              for arm, Mx, offset in ((1, M1, 100), (0, M0, 200)))
    return m1, m0


def aipw_table(
    y: np.ndarray,
    t: np.ndarray,
    m1: np.ndarray,
    m0: np.ndarray,
    propensity: float,
    oracle: np.ndarray | None = None,
    outcome_model: str = "LightGBM",
) -> pd.DataFrame:
    """Difference in means, Horvitz–Thompson and cross-fitted AIPW, with 95% normal intervals,
    beside the oracle mean lift of these slates (simulated data) and whether each interval covers it."""
    res = difference_in_means(y, t)
    dim, dim_se = float(res.estimate[0]), float(res.se[0])
    ht_scores = aipw_score(y, t, propensity, np.zeros_like(m1), np.zeros_like(m0), clip_eps=None)
    ht, ht_se = mean_with_se(ht_scores)
    aipw, aipw_se = mean_with_se(aipw_score(y, t, propensity, m1, m0, clip_eps=None))
    rows = [
        ("Randomized difference in means", dim, dim_se, "Neyman standard error"),
        ("Horvitz–Thompson (known propensity)", ht, ht_se, "sd of the scores / √n"),
        (f"Cross-fitted {outcome_model} AIPW (known propensity)", aipw, aipw_se, "sd of the scores / √n"),
    ]
    table = pd.DataFrame(
        {
            "estimator": [r[0] for r in rows],
            "estimate": [r[1] for r in rows],
            "se": [r[2] for r in rows],
            "ci_95_lower": [r[1] - Z95 * r[2] for r in rows],
            "ci_95_upper": [r[1] + Z95 * r[2] for r in rows],
            "reference": "Observed total simulated clicks",
            "se_method": [r[3] for r in rows],
        }
    )
    if oracle is not None:
        truth = float(np.mean(oracle))
        table["covers_oracle"] = (table["ci_95_lower"] <= truth) & (truth <= table["ci_95_upper"])
        oracle_row = pd.DataFrame(
            {"estimator": ["Oracle mean promotion lift"], "estimate": [truth], "se": [np.nan],
             "ci_95_lower": [np.nan], "ci_95_upper": [np.nan], "reference": ["Known simulation lift"],
             "se_method": ["exact average over these slates"], "covers_oracle": [pd.NA]}
        )
        table = pd.concat([table, oracle_row], ignore_index=True)
        table["covers_oracle"] = table["covers_oracle"].astype("boolean")
    return table


@dataclass(frozen=True)
class Nuisances:
    """Cross-fitted nuisances of the slate experiment on one set of folds."""

    folds: np.ndarray
    m1: np.ndarray  # T-learner prediction if promoted
    m0: np.ndarray  # T-learner prediction if unchanged
    policy_score: np.ndarray  # S-learner predicted lift of the selected model kind
    fitted: OutcomeModels  # the held-out comparison that selected `best`
    best: str


def crossfit_nuisances(enc: EncodedFeatures, params: InterferenceParams, seed: int) -> Nuisances:
    """Select the outcome model kind on a held-out split, then cross-fit on one set of folds the
    LightGBM T-learner (m1, m0) behind AIPW and the selected kind's S-learner policy score.

    Chapter interference_03 and the validation study both call this, so the study checks the
    chapter's own nuisances. Seeds derive from `seed` through named streams.
    """
    fitted = fit_outcome_models(enc, params, stream_seed(seed, "interference_split"))
    best = fitted.best_model
    folds = stratified_folds(enc.treatment, params.n_folds, stream_seed(seed, "interference_folds"))
    cf_seed = stream_seed(seed, "interference_crossfit")
    m1, m0 = crossfit_arm_models(enc, make_regressor(AIPW_MODEL, params, cf_seed), cf_seed, folds)
    score, _, _ = crossfit_predicted_lift(enc, make_regressor(best, params, cf_seed), cf_seed, folds)
    return Nuisances(folds, m1, m0, score, fitted, best)
