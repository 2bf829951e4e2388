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

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from recsys_causal.inference import Z95
from recsys_causal.interference.features import EncodedFeatures, with_treatment
from recsys_causal.interference.outcome_models import with_seed
from recsys_causal.interference.randomized import difference_in_means
from recsys_causal.scores import aipw_score


def stratified_folds(treatment: np.ndarray | pd.Series, n_folds: int, seed: int) -> np.ndarray:
    """Fold id (0..n_folds-1) of each slate; folds are stratified by treatment."""
    t = np.asarray(treatment)
    folds = np.full(len(t), -1, dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, hold) in enumerate(skf.split(np.zeros(len(t)), t)):
        folds[hold] = k
    return folds


def crossfit_arm_models(
    enc: EncodedFeatures, model: Any, seed: int, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of separate outcome models (clones of `model`) for promoted (m1)
    and unchanged (m0) slates: each fold is predicted by models fitted on the other folds."""
    n = len(enc.X)
    m1, m0 = np.zeros(n), np.zeros(n)
    t = enc.treatment.to_numpy()
    for k in np.unique(folds):
        hold = folds == k
        for arm, out, offset in ((1, m1, 100), (0, m0, 200)):
            fit_rows = ~hold & (t == arm)
            fitted = with_seed(model, seed + offset + int(k)).fit(enc.X.loc[fit_rows], enc.y.loc[fit_rows])
            out[hold] = fitted.predict(with_treatment(enc.X.loc[hold], arm))
    return m1, m0


def aipw_scores(y: np.ndarray, t: np.ndarray, m1: np.ndarray, m0: np.ndarray, propensity: float) -> np.ndarray:
    """Per-slate AIPW scores ψ_i with the known propensity π (the shared score, not clipped)."""
    return aipw_score(y, t, propensity, m1, m0, clip_eps=None)


def horvitz_thompson(y: np.ndarray, t: np.ndarray, propensity: float) -> float:
    """Horvitz–Thompson estimate of the average effect: mean(A Y / π - (1 - A) Y / (1 - π))."""
    y, t = np.asarray(y, dtype=float), np.asarray(t, dtype=float)
    return float(np.mean(t * y / propensity - (1 - t) * y / (1 - propensity)))


def mean_with_se(scores: np.ndarray) -> tuple[float, float]:
    """Mean of per-unit scores and its standard error sd / √n."""
    s = np.asarray(scores, dtype=float)
    return float(s.mean()), float(s.std(ddof=1) / np.sqrt(len(s)))


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
    ht_scores = aipw_scores(y, t, np.zeros_like(m1), np.zeros_like(m0), propensity)
    ht, ht_se = mean_with_se(ht_scores)
    aipw, aipw_se = mean_with_se(aipw_scores(y, t, m1, m0, propensity))
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
