"""Randomized estimators of the promotion's direct, spillover and total effects.

Promotion is randomized by slate, so each slate is one unit with a vector of outcomes (clicks
on the focal item, on same-cluster competitors, on other competitors, on the whole slate). For
each, the difference in means between promoted and control slates is unbiased for the average
over all slates of (expected clicks if promoted - expected clicks if not): the oracle the
simulated click model provides. Inference:

- Neyman standard error sqrt(s1^2/n1 + s0^2/n0) (conservative for the finite-population
  effect) and a normal 95% interval;
- a randomization p-value for the sharp null of no effect on any slate: the assignment is
  re-drawn `n_randomization` times by complete randomization, once, as a matrix (draws x
  slates), and every outcome's null distribution is one matrix product.

The product summary rescales effects to "per 1,000 promoted slates" and adds the competitor
offset (competitor change / |focal gain|) with a delta-method interval from the Neyman
covariance of the component estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_causal.inference import normal_quantile
from recsys_causal.interference.exposure import COMPONENT_LABELS
from recsys_causal.seeds import stream_rng

PER_SLATES = 1_000

#: effect row -> (label, estimand, outcome column(s) summed, oracle column(s) summed)
EFFECT_ROWS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "direct_focal": (
        COMPONENT_LABELS["direct_focal"], "direct",
        ("simulated_clicks_direct_focal",), ("oracle_lift_direct_focal",),
    ),
    "same_cluster_competitor": (
        COMPONENT_LABELS["same_cluster_competitor"], "indirect (spillover)",
        ("simulated_clicks_same_cluster_competitor",), ("oracle_lift_same_cluster_competitor",),
    ),
    "other_competitor": (
        COMPONENT_LABELS["other_competitor"], "indirect (spillover)",
        ("simulated_clicks_other_competitor",), ("oracle_lift_other_competitor",),
    ),
    "all_competitors": (
        "All competitors", "indirect (spillover), total",
        ("simulated_clicks_same_cluster_competitor", "simulated_clicks_other_competitor"),
        ("oracle_lift_same_cluster_competitor", "oracle_lift_other_competitor"),
    ),
    "total_slate": (
        "Whole slate", "total",
        ("total_simulated_clicks",), ("total_oracle_lift",),
    ),
}

EFFECT_COLUMNS: tuple[str, ...] = (
    "component", "label", "estimand", "outcome", "promoted_mean", "control_mean", "estimate", "se",
    "ci_95_lower", "ci_95_upper", "randomization_p_value", "n_promoted", "n_control",
    "n_randomization", "oracle_value", "covers_oracle",
)
PRODUCT_COLUMNS: tuple[str, ...] = (
    "metric", "value", "ci_95_lower", "ci_95_upper", "oracle_value", "plain_language", "key",
)


# ----------------------------------------------------------------------------------------------
# Difference in means and Neyman variance
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DifferenceInMeans:
    """Difference in means of each outcome column, with Neyman SEs and normal intervals."""

    treated_mean: np.ndarray
    control_mean: np.ndarray
    estimate: np.ndarray
    se: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    covariance: np.ndarray  # Neyman covariance of the estimates (k x k)
    n_treated: int
    n_control: int


def _as_matrix(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    return y[:, None] if y.ndim == 1 else y


def neyman_covariance(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """S1/n1 + S0/n0: sample covariances (ddof=1) of the outcomes within each arm over arm size."""
    y = _as_matrix(y)
    tr = np.asarray(t).astype(bool)
    if tr.sum() < 2 or (~tr).sum() < 2:
        raise ValueError("each arm needs at least 2 units for a Neyman variance")
    s1 = np.atleast_2d(np.cov(y[tr], rowvar=False, ddof=1))
    s0 = np.atleast_2d(np.cov(y[~tr], rowvar=False, ddof=1))
    return s1 / tr.sum() + s0 / (~tr).sum()


def difference_in_means(y: np.ndarray, t: np.ndarray, level: float = 0.95) -> DifferenceInMeans:
    """Treated mean - control mean of every column of `y` (units x outcomes), Neyman inference."""
    y = _as_matrix(y)
    tr = np.asarray(t).astype(bool)
    m1, m0 = y[tr].mean(axis=0), y[~tr].mean(axis=0)
    cov = neyman_covariance(y, tr)
    se = np.sqrt(np.diag(cov))
    z = normal_quantile(level)
    est = m1 - m0
    return DifferenceInMeans(m1, m0, est, se, est - z * se, est + z * se, cov, int(tr.sum()), int((~tr).sum()))


# ----------------------------------------------------------------------------------------------
# Randomization inference
# ----------------------------------------------------------------------------------------------
def draw_rerandomizations(t: np.ndarray, n_draws: int, rng: np.random.Generator | int) -> np.ndarray:
    """Boolean matrix (draws x units): each row a random permutation of the observed assignment.

    Permuting the observed vector is complete randomization with the same number of treated
    units, the design actually used.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    base = np.broadcast_to(np.asarray(t).astype(bool), (int(n_draws), len(t)))
    return rng.permuted(base, axis=1)


def randomization_distribution(y: np.ndarray, assignments: np.ndarray, chunk: int = 2_000) -> np.ndarray:
    """Difference in means of every outcome under every re-drawn assignment: (draws x outcomes).

    Under the sharp null the outcomes are fixed, so each draw's treated sums are one row of
    A @ Y; computed in chunks of draws to bound memory.
    """
    y = _as_matrix(y)
    a = np.asarray(assignments, dtype=bool)
    n1 = a.sum(axis=1, keepdims=True).astype(np.float64)
    n0 = a.shape[1] - n1
    total = y.sum(axis=0)[None, :]
    out = np.empty((a.shape[0], y.shape[1]))
    for start in range(0, a.shape[0], chunk):
        block = a[start:start + chunk].astype(np.float64)
        s1 = block @ y
        out[start:start + chunk] = s1 / n1[start:start + chunk] - (total - s1) / n0[start:start + chunk]
    return out


def randomization_p_values(observed: np.ndarray, null_draws: np.ndarray) -> np.ndarray:
    """Two-sided p-value (1 + #{|draw| >= |observed|}) / (1 + draws), per outcome."""
    obs = np.abs(np.atleast_1d(observed))[None, :]
    exceed = (np.abs(null_draws) >= obs - 1e-12).sum(axis=0)
    return (1.0 + exceed) / (1.0 + null_draws.shape[0])


# ----------------------------------------------------------------------------------------------
# The chapter's tables
# ----------------------------------------------------------------------------------------------
def effect_outcomes(component: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-slate outcome matrix (slates x effect rows) and oracle lift matrix, in EFFECT_ROWS order."""
    y = np.column_stack([component[list(cols)].to_numpy(dtype=np.float64).sum(axis=1)
                         for _, _, cols, _ in EFFECT_ROWS.values()])
    if all(o in component.columns for _, _, _, ocols in EFFECT_ROWS.values() for o in ocols):
        oracle = np.column_stack([component[list(ocols)].to_numpy(dtype=np.float64).sum(axis=1)
                                  for _, _, _, ocols in EFFECT_ROWS.values()])
    else:
        oracle = np.full_like(y, np.nan)
    return y, oracle


@dataclass(frozen=True)
class EffectResults:
    """Everything the chapter reports about the randomized contrasts."""

    effects: pd.DataFrame  # observed_effects.csv
    product: pd.DataFrame  # product_summary.csv
    null_draws: np.ndarray  # (n_randomization x effect rows)


def estimate_effects(component: pd.DataFrame, n_randomization: int, seed: int, level: float = 0.95) -> EffectResults:
    """Difference in means, Neyman CIs and randomization p-values of every component; product summary."""
    t = component["promotion_applied"].to_numpy().astype(bool)
    y, oracle = effect_outcomes(component)
    dim = difference_in_means(y, t, level)
    draws = draw_rerandomizations(t, n_randomization, stream_rng(seed, "interference_rerandomization"))
    null = randomization_distribution(y, draws)
    pvals = randomization_p_values(dim.estimate, null)
    oracle_mean = oracle.mean(axis=0)
    rows = []
    for j, (key, (label, estimand, cols, _)) in enumerate(EFFECT_ROWS.items()):
        rows.append({
            "component": key,
            "label": label,
            "estimand": estimand,
            "outcome": " + ".join(cols),
            "promoted_mean": dim.treated_mean[j],
            "control_mean": dim.control_mean[j],
            "estimate": dim.estimate[j],
            "se": dim.se[j],
            "ci_95_lower": dim.ci_lower[j],
            "ci_95_upper": dim.ci_upper[j],
            "randomization_p_value": pvals[j],
            "n_promoted": dim.n_treated,
            "n_control": dim.n_control,
            "n_randomization": int(n_randomization),
            "oracle_value": oracle_mean[j],
            "covers_oracle": bool(dim.ci_lower[j] <= oracle_mean[j] <= dim.ci_upper[j])
            if np.isfinite(oracle_mean[j]) else pd.NA,
        })
    effects = pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))
    product = product_summary(dim, oracle_mean, level)
    return EffectResults(effects, product, null)


_PRODUCT_ROWS = (
    ("focal_gain", "direct_focal", "Focal gain per 1,000 promoted slates",
     "Additional simulated clicks on the promoted focal item."),
    ("same_cluster_change", "same_cluster_competitor", "Same-cluster competitor change per 1,000 promoted slates",
     "Change among substitute movies in the same genre cluster as the focal item."),
    ("other_change", "other_competitor", "Other competitor change per 1,000 promoted slates",
     "Change among the other non-focal movies in the slate."),
    ("total_change", "total_slate", "Total slate change per 1,000 promoted slates",
     "Net change after adding the focal and competitor changes: what the product gains or loses."),
)


def product_summary(dim: DifferenceInMeans, oracle_mean: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Effects per 1,000 promoted slates, and the competitor offset as a share of the focal gain.

    The offset is (same-cluster + other change) / |focal gain|: -1 means competitors lose
    exactly what the focal item gains, below -1 the promotion loses clicks overall. Its interval
    is the delta method on the Neyman covariance (unreliable when the focal gain's interval
    reaches zero).
    """
    keys = list(EFFECT_ROWS)
    rows = []
    for key, comp, metric, plain in _PRODUCT_ROWS:
        j = keys.index(comp)
        rows.append({
            "metric": metric,
            "value": PER_SLATES * dim.estimate[j],
            "ci_95_lower": PER_SLATES * dim.ci_lower[j],
            "ci_95_upper": PER_SLATES * dim.ci_upper[j],
            "oracle_value": PER_SLATES * oracle_mean[j],
            "plain_language": plain,
            "key": key,
        })
    f, c = keys.index("direct_focal"), keys.index("all_competitors")
    ratio, lo, hi = offset_share(dim.estimate[f], dim.estimate[c], dim.covariance[np.ix_([f, c], [f, c])], level)
    oracle_ratio = oracle_mean[c] / abs(oracle_mean[f]) if oracle_mean[f] != 0 else np.nan
    rows.append({
        "metric": "Competitor offset as share of direct gain magnitude",
        "value": ratio,
        "ci_95_lower": lo,
        "ci_95_upper": hi,
        "oracle_value": oracle_ratio,
        "plain_language": "Competitor change divided by the size of the focal gain: negative values mean "
        "competitors lost clicks; below -1 they lost more than the focal item gained.",
        "key": "competitor_offset_share",
    })
    return pd.DataFrame(rows, columns=list(PRODUCT_COLUMNS))


def offset_share(focal: float, competitors: float, cov: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """competitors / |focal| with a delta-method interval from the 2x2 covariance (focal, competitors)."""
    if focal == 0:
        return np.nan, np.nan, np.nan
    r = competitors / abs(focal)
    grad = np.array([-competitors * np.sign(focal) / focal**2, 1.0 / abs(focal)])
    se = float(np.sqrt(max(grad @ cov @ grad, 0.0)))
    z = normal_quantile(level)
    return float(r), float(r - z * se), float(r + z * se)


def naive_vs_slate(effects: pd.DataFrame) -> pd.DataFrame:
    """The naive read-out (promoted item's clicks only) beside the slate total, per 1,000 promoted slates."""
    e = effects.set_index("component")
    rows = []
    for comp, analysis in (("direct_focal", "Naive: clicks on the promoted item only"),
                           ("all_competitors", "What the naive view leaves out: the other 11 items"),
                           ("total_slate", "Slate level: clicks on the whole slate")):
        r = e.loc[comp]
        rows.append({
            "analysis": analysis,
            "per_1000_promoted_slates": PER_SLATES * r["estimate"],
            "ci_95_lower": PER_SLATES * r["ci_95_lower"],
            "ci_95_upper": PER_SLATES * r["ci_95_upper"],
            "randomization_p_value": r["randomization_p_value"],
            **({"oracle_value": PER_SLATES * r["oracle_value"]} if "oracle_value" in r else {}),
        })
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# Sentences computed from the numbers
# ----------------------------------------------------------------------------------------------
