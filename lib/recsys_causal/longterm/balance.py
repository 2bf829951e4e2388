"""Covariate balance: standardized mean differences between arms before and after weighting.

SMD = (mean_treated - mean_control) / sqrt((var_treated + var_control) / 2), with the
denominator from the unweighted arms in both columns so the two are on one scale. Day of week
enters as one indicator per day. |SMD| < 0.1 is the usual threshold for adequate balance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys_causal.longterm.panel import DAYS_OF_WEEK
from recsys_causal.longterm.propensity import PRE_TREATMENT_COVARIATES

SMD_THRESHOLD = 0.1


def balance_matrix(panel: pd.DataFrame, covariates: Sequence[str] = PRE_TREATMENT_COVARIATES) -> pd.DataFrame:
    """Numeric covariates as they are, categorical ones (day_of_week) as 0/1 indicators."""
    cols = {}
    for c in covariates:
        s = panel[c]
        if c == "day_of_week":
            for day in DAYS_OF_WEEK:
                cols[f"day_of_week={day}"] = s.astype(str).eq(day).to_numpy(dtype=float)
        else:
            cols[c] = s.to_numpy(dtype=float)
    return pd.DataFrame(cols, index=panel.index)


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    m = float(np.sum(w * x) / np.sum(w))
    return m, float(np.sum(w * (x - m) ** 2) / np.sum(w))


def standardized_mean_differences(
    panel: pd.DataFrame,
    weights: np.ndarray,
    treatment: str = "treatment",
    covariates: Sequence[str] = PRE_TREATMENT_COVARIATES,
    raw_weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per covariate: arm means and SMD unweighted and weighted.

    With `raw_weights` (the weights before truncation) a column `smd_weighted_untruncated` is added.
    """
    X = balance_matrix(panel, covariates)
    a = panel[treatment].to_numpy(dtype=int)
    w = np.asarray(weights, dtype=float)
    ones = np.ones(len(a))
    rows = []
    for c in X.columns:
        x = X[c].to_numpy()
        m1, v1 = _wmean_var(x[a == 1], ones[a == 1])
        m0, v0 = _wmean_var(x[a == 0], ones[a == 0])
        wm1, _ = _wmean_var(x[a == 1], w[a == 1])
        wm0, _ = _wmean_var(x[a == 0], w[a == 0])
        sd = np.sqrt((v1 + v0) / 2.0)
        smd = (m1 - m0) / sd if sd > 0 else 0.0
        wsmd = (wm1 - wm0) / sd if sd > 0 else 0.0
        row = {"covariate": c, "mean_treated": m1, "mean_control": m0,
               "weighted_mean_treated": wm1, "weighted_mean_control": wm0,
               "smd_unweighted": smd, "smd_weighted": wsmd}
        if raw_weights is not None:
            rw = np.asarray(raw_weights, dtype=float)
            r1, _ = _wmean_var(x[a == 1], rw[a == 1])
            r0, _ = _wmean_var(x[a == 0], rw[a == 0])
            row["smd_weighted_untruncated"] = (r1 - r0) / sd if sd > 0 else 0.0
        rows.append(row)
    out = pd.DataFrame(rows)
    out["balanced_after_weighting"] = out["smd_weighted"].abs() < SMD_THRESHOLD
    return out


def describe_balance(balance: pd.DataFrame) -> str:
    """One sentence: worst imbalance before and after weighting."""
    before = balance.loc[balance["smd_unweighted"].abs().idxmax()]
    after = balance.loc[balance["smd_weighted"].abs().idxmax()]
    n_bad_before = int((balance["smd_unweighted"].abs() >= SMD_THRESHOLD).sum())
    n_bad_after = int((balance["smd_weighted"].abs() >= SMD_THRESHOLD).sum())
    verdict = ("every covariate is within the |SMD| < 0.1 threshold after weighting"
               if n_bad_after == 0 else
               f"{n_bad_after} covariate(s) still exceed |SMD| = 0.1 after weighting, so the "
               "weights do not fully remove the recorded confounding")
    text = (
        f"Before weighting {n_bad_before} of {len(balance)} covariates have |SMD| >= 0.1 (largest: "
        f"{before['covariate']}, {before['smd_unweighted']:+.2f}); after weighting the largest is "
        f"{after['covariate']} ({after['smd_weighted']:+.2f}): {verdict}."
    )
    if "smd_weighted_untruncated" in balance.columns:
        raw = balance.loc[balance["smd_weighted_untruncated"].abs().idxmax()]
        text += (f" With the untruncated weights the largest is {raw['covariate']} "
                 f"({raw['smd_weighted_untruncated']:+.2f}): the truncation gives back part of the "
                 "balance in exchange for stabler weights.")
    return text


def describe_diagnostics(metrics: pd.DataFrame, balance: pd.DataFrame, ess: pd.DataFrame, primary: str) -> str:
    """What the chapter's diagnostics say about positivity and measured confounding, in one line."""
    m = metrics.set_index("model").loc[primary]
    e = ess.set_index("arm")
    worst = float(balance["smd_weighted"].abs().max())
    return (
        f"Positivity: {100 * m['share_extreme']:.1f}% of user-days have an extreme primary propensity. "
        f"Measured confounding: the largest weighted |SMD| is {worst:.3f} "
        f"({'below' if worst < SMD_THRESHOLD else 'above'} 0.1). Precision: the weights keep "
        f"{100 * float(e.loc['all', 'ess_share']):.0f}% of the sample as effective sample size. "
        "None of these can check unmeasured confounding or the carry-over of past treatment into "
        "today's covariates; they only show the weights do what they are meant to do with the "
        "history that was recorded."
    )
