"""Promotion policies: which slates to promote, their oracle value and their off-policy estimates.

A policy d(x) ∈ {0, 1} promotes a slate's focal item or leaves the slate unchanged. Its value
relative to leaving every slate unchanged, per eligible slate, is

    V(d) = mean_i d(x_i) (Y_i(1) - Y_i(0)),

reported per 1,000 eligible slates (×1000) and, divided by the share selected, per 1,000
selected slates. On simulated data the oracle replaces Y(1) - Y(0) by each slate's expected
lift. Without an oracle, the randomized experiment (known probability π) estimates V(d):

* IPW, Hájek form: mean of d·Y over promoted slates minus mean of d·Y over unchanged slates,
  i.e. [Σ d A Y/π] / [Σ A/π] - [Σ d (1-A) Y/(1-π)] / [Σ (1-A)/(1-π)]. For "promote all"
  (d ≡ 1) it *is* the difference in means. The Horvitz–Thompson form
  mean(d A Y/π - d (1-A) Y/(1-π)) is the same number whenever exactly n·π slates were
  promoted (complete randomization), and differs by the ratio n_1 / (n π) otherwise.
* Doubly robust: mean of d·ψ with ψ the AIPW score (cross-fitted m1, m0; see `aipw.py`).

Per selected slate the IPW estimate is the difference in means among the selected slates, the
DR estimate is Σ d ψ / Σ d. A rule's gain over "promote all" is V(d) - V(1) = -mean((1 - d) ψ)
for DR: the value of *not* promoting the slates the rule leaves out. Policies that rank slates by predicted lift use out-of-fold
predictions and rank within each fold, so a slate is never scored by a model that saw it.
Intervals: percentile bootstrap over slates (each slate its own cluster, nuisance predictions
held fixed), all policies on one count matrix.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.bootstrap import bootstrap_from_sums, draw_counts
from recsys_causal.scores import aipw_score

PROMOTE_ALL = "Promote all eligible slates"
TOP_50 = "Promote top 50% by predicted net lift"
TOP_25 = "Promote top 25% by predicted net lift"
POSITIVE = "Promote only predicted-positive slates"
ORACLE_TOP_25 = "Oracle top 25% benchmark"
POLICIES: tuple[str, ...] = (PROMOTE_ALL, TOP_50, TOP_25, POSITIVE, ORACLE_TOP_25)


def top_share(score: np.ndarray, share: float, groups: np.ndarray | None = None) -> np.ndarray:
    """Select the round(share·n) highest-scoring slates (within each group when given; ties by order)."""
    score = np.asarray(score, dtype=float)
    groups = np.zeros(len(score), dtype=np.int64) if groups is None else np.asarray(groups)
    out = np.zeros(len(score), dtype=bool)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        k = int(round(share * len(idx)))
        order = idx[np.lexsort((idx, -score[idx]))]
        out[order[:k]] = True
    return out


def policy_masks(
    predicted_lift: np.ndarray, folds: np.ndarray | None = None, true_lift: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The five rules: all, top 50% / 25% by (out-of-fold) predicted lift ranked within folds,
    predicted-positive only, and (with an oracle) the top 25% by true lift."""
    pred = np.asarray(predicted_lift, dtype=float)
    masks = {
        PROMOTE_ALL: np.ones(len(pred), dtype=bool),
        TOP_50: top_share(pred, 0.50, folds),
        TOP_25: top_share(pred, 0.25, folds),
        POSITIVE: pred > 0,
    }
    if true_lift is not None:
        masks[ORACLE_TOP_25] = top_share(np.asarray(true_lift, dtype=float), 0.25)
    return masks


# ----------------------------------------------------------------------------------------------
# Point estimates (per eligible slate) — the definitions the table and the tests share
# ----------------------------------------------------------------------------------------------
def oracle_policy_value(d: np.ndarray, true_lift: np.ndarray) -> float:
    """mean_i d_i τ_i: the policy's true value per eligible slate."""
    return float(np.mean(np.asarray(d, dtype=float) * np.asarray(true_lift, dtype=float)))


def ipw_policy_value(d: np.ndarray, y: np.ndarray, t: np.ndarray) -> float:
    """Hájek IPW value per eligible slate: mean of d·Y among promoted minus among unchanged."""
    d, y, t = (np.asarray(a, dtype=float) for a in (d, y, t))
    return float((d * y)[t == 1].mean() - (d * y)[t == 0].mean())


def ht_policy_value(d: np.ndarray, y: np.ndarray, t: np.ndarray, propensity: float) -> float:
    """Horvitz–Thompson value per eligible slate: mean(d A Y / π - d (1 - A) Y / (1 - π))."""
    d, y, t = (np.asarray(a, dtype=float) for a in (d, y, t))
    return float(np.mean(d * (t * y / propensity - (1 - t) * y / (1 - propensity))))


def dr_policy_value(d: np.ndarray, y: np.ndarray, t: np.ndarray, m1: np.ndarray, m0: np.ndarray,
                    propensity: float) -> float:
    """Doubly robust value per eligible slate: mean(d ψ) with ψ the AIPW score."""
    return float(np.mean(np.asarray(d, dtype=float) * aipw_score(y, t, propensity, m1, m0, clip_eps=None)))


# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------
def _statistics(n_policies: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Map summed per-slate columns to each estimate (columns laid out as in `_per_slate`)."""
    k = n_policies

    def block(s: np.ndarray, j: int) -> np.ndarray:
        return s[:, 3 + j * k: 3 + (j + 1) * k]

    def ipw_eligible(s: np.ndarray) -> np.ndarray:
        return block(s, 0) / s[:, [1]] - block(s, 1) / s[:, [2]]

    def ipw_selected(s: np.ndarray) -> np.ndarray:
        return block(s, 0) / block(s, 2) - block(s, 1) / block(s, 3)

    def dr_eligible(s: np.ndarray) -> np.ndarray:
        return block(s, 4) / s[:, [0]]

    def dr_selected(s: np.ndarray) -> np.ndarray:
        return block(s, 4) / (block(s, 2) + block(s, 3))

    def dr_gain(s: np.ndarray) -> np.ndarray:  # the first policy is "promote all"
        b = block(s, 4)
        return (b - b[:, [0]]) / s[:, [0]]

    return {"ipw_per_1000_eligible": ipw_eligible, "ipw_per_1000_selected": ipw_selected,
            "dr_per_1000_eligible": dr_eligible, "dr_per_1000_selected": dr_selected,
            "dr_gain_vs_promote_all_per_1000_eligible": dr_gain}


def _per_slate(D: np.ndarray, y: np.ndarray, t: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Per-slate columns: 1, A, 1-A, then blocks A·d·Y, (1-A)·d·Y, A·d, (1-A)·d, d·ψ (k each)."""
    a = t[:, None]
    return np.hstack([np.ones((len(y), 1)), a, 1 - a, a * D * y[:, None], (1 - a) * D * y[:, None],
                      a * D, (1 - a) * D, D * psi[:, None]])


def policy_targeting_table(
    predicted_lift: np.ndarray,
    folds: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    m1: np.ndarray,
    m0: np.ndarray,
    propensity: float,
    true_lift: np.ndarray | None = None,
    n_bootstrap: int = 400,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per policy: selection, oracle values (when known) and IPW / DR estimates with
    95% bootstrap intervals, all per 1,000 eligible and per 1,000 selected slates."""
    y, t = np.asarray(y, dtype=float), np.asarray(t, dtype=float)
    pred = np.asarray(predicted_lift, dtype=float)
    masks = policy_masks(pred, folds, true_lift)
    names = list(masks)
    D = np.column_stack([masks[n] for n in names]).astype(float)
    psi = aipw_score(y, t, propensity, m1, m0, clip_eps=None)
    sums = _per_slate(D, y, t, psi)
    counts = draw_counts(len(y), n_bootstrap, seed)
    rows: dict[str, Any] = {
        "policy": names,
        "deployable": [n != ORACLE_TOP_25 for n in names],
        "selected_slates": D.sum(axis=0).astype(int),
        "coverage": D.mean(axis=0),
        "mean_predicted_lift_selected": [pred[m].mean() if m.any() else np.nan for m in masks.values()],
    }
    if true_lift is not None:
        tau = np.asarray(true_lift, dtype=float)
        rows["mean_oracle_lift_selected"] = [tau[m].mean() if m.any() else np.nan for m in masks.values()]
        rows["oracle_lift_per_1000_selected_slates"] = 1000 * np.asarray(rows["mean_oracle_lift_selected"])
        rows["oracle_lift_per_1000_eligible_slates"] = [1000 * oracle_policy_value(m, tau) for m in masks.values()]
        rows["oracle_gain_vs_promote_all_per_1000_eligible"] = (
            np.asarray(rows["oracle_lift_per_1000_eligible_slates"]) - 1000 * tau.mean())
    for name, stat in _statistics(len(names)).items():
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a policy selecting no slate of an arm
            res = bootstrap_from_sums(sums, lambda s, f=stat: 1000 * f(s), counts)
        rows[name] = res.estimate
        rows[f"{name}_ci_lower"] = res.ci_lower
        rows[f"{name}_ci_upper"] = res.ci_upper
    table = pd.DataFrame(rows)
    if true_lift is not None:
        for est in ("ipw", "dr"):
            lo = table[f"{est}_per_1000_eligible_ci_lower"]
            hi = table[f"{est}_per_1000_eligible_ci_upper"]
            truth = table["oracle_lift_per_1000_eligible_slates"]
            table[f"{est}_ci_covers_oracle"] = (lo <= truth) & (truth <= hi)
    return table


def plot_policy_values(policy: pd.DataFrame) -> Any:
    """Value per 1,000 eligible slates: oracle bars (simulated data) and DR / IPW estimates with CIs."""
    from recsys_causal.style import ORACLE_COLOR, PALETTE, new_figure

    order = policy.iloc[::-1].reset_index(drop=True)
    ypos = np.arange(len(order))
    fig, ax = new_figure(height=0.75 * len(order) + 1.3)
    if "oracle_lift_per_1000_eligible_slates" in order:
        vals = order["oracle_lift_per_1000_eligible_slates"]
        ax.barh(ypos, vals, height=0.55, color=[PALETTE[2] if v >= 0 else PALETTE[3] for v in vals],
                alpha=0.55, label="oracle value")
    for j, (est, label) in enumerate((("ipw", "IPW estimate"), ("dr", "DR estimate"))):
        col = f"{est}_per_1000_eligible"
        off = -0.15 + 0.3 * j
        err = np.vstack([order[col] - order[f"{col}_ci_lower"], order[f"{col}_ci_upper"] - order[col]])
        ax.errorbar(order[col], ypos + off, xerr=err, fmt="o", markersize=4, capsize=2,
                    color=PALETTE[0] if est == "dr" else PALETTE[4], label=f"{label} (95% CI)")
    ax.axvline(0, color=ORACLE_COLOR, linewidth=1)
    ax.set_yticks(ypos, order["policy"])
    ax.set_xlabel("Click lift per 1,000 eligible slates (vs leaving all unchanged)")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
