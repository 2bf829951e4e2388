"""Calibration tests of a CATE model on doubly robust pseudo-outcomes (both tracks).

Given, for every unit, a cross-fitted doubly robust pseudo-outcome psi (the AIPW score, whose
conditional mean is the unit's effect) and an out-of-fold CATE prediction tau_hat, three checks
ask whether the predictions carry real information about who gains more, in the spirit of
EconML's `DRTester` (Chernozhukov, Demirer, Duflo and Fernández-Val's BLP and GATES; Radcliffe's
Qini curve, in the form of Yadlowsky et al.'s rank-weighted average treatment effect):

* **BLP** (best linear predictor): least squares of psi on [1, tau_hat - mean(tau_hat)]. The
  intercept is the average effect; the slope is the *heterogeneity coefficient*: 1 when the
  predictions are calibrated, 0 when they carry no information about the effect (or the effect
  is constant). Cluster-robust (CR1) standard errors.
* **GATES** (sorted group average treatment effects): units cut into equal-size groups by
  tau_hat (ties by order); each group's mean psi estimates its average effect. With an
  informative model the groups are ordered; the top-minus-bottom difference tests it.
* **Qini curve**: for a share u of units treated in order of tau_hat, the gain over treating a
  random share u, Q(u) = (1/n) sum_{top u} (psi_i - mean psi) = u (mean_top psi - ATE). Q(0) =
  Q(1) = 0; its area (the Qini coefficient) is zero in expectation for a random ranking.

Standard errors come from each statistic's influence function, summed per cluster (users or
slates), with the CR1 factor G / (G - 1); the ranking is held fixed. Applied to the simulator's
true effects in place of psi, the same functions give the oracle value of every statistic for
the same ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_causal.bootstrap import cluster_codes
from recsys_causal.inference import cluster_robust_wls, normal_quantile, two_sided_p_value

# `key` values of the tests table (rows are addressed by these, never by their display labels)
ATE = "ate"
BLP_SLOPE = "blp_heterogeneity"
GATES_SPREAD = "gates_top_minus_bottom"
QINI_COEFFICIENT = "qini_coefficient"
TEST_KEYS: tuple[str, ...] = (ATE, BLP_SLOPE, GATES_SPREAD, QINI_COEFFICIENT)
TEST_LABELS: dict[str, str] = {
    ATE: "Average effect (BLP intercept)",
    BLP_SLOPE: "Heterogeneity coefficient (BLP slope)",
    GATES_SPREAD: "Top minus bottom group (GATES)",
    QINI_COEFFICIENT: "Qini coefficient (area over random)",
}
N_GROUPS = 4  # GATES quartiles
N_POINTS = 20  # Qini curve evaluated at shares 0, 1/20, ..., 1
DIFFERENCE_GROUP = "top − bottom"


def _arrays(pseudo: np.ndarray, cate: np.ndarray, clusters: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    psi = np.asarray(pseudo, dtype=float)
    tau = np.asarray(cate, dtype=float)
    if psi.shape != tau.shape or psi.ndim != 1 or len(psi) != len(np.asarray(clusters)):
        raise ValueError("pseudo-outcomes, CATE predictions and clusters must be 1-d arrays of one length")
    if len(psi) < 4:
        raise ValueError("calibration tests need at least four units")
    if not (np.isfinite(psi).all() and np.isfinite(tau).all()):
        raise ValueError("pseudo-outcomes and CATE predictions must be finite")
    codes, g = cluster_codes(clusters)
    if g < 2:
        raise ValueError("calibration tests need at least two clusters")
    return psi, tau, codes, g


def cluster_se(influence: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """CR1 standard error of mean-type statistics from their per-unit influence values.

    `influence` is (n,) or (k, n) and the result (k,); the statistic is mean(influence) + constant, so its variance
    is sum over clusters of the squared cluster sums, divided by n², times G / (G - 1).
    """
    phi = np.atleast_2d(np.asarray(influence, dtype=float))
    n = phi.shape[1]
    sums = np.zeros((phi.shape[0], n_clusters))
    for j in range(phi.shape[0]):
        sums[j] = np.bincount(codes, weights=phi[j], minlength=n_clusters)
    var = (sums**2).sum(axis=1) / n**2 * n_clusters / (n_clusters - 1)
    return np.sqrt(var)


def rank_order(cate: np.ndarray) -> np.ndarray:
    """Unit indices from the highest to the lowest prediction (ties in row order)."""
    tau = np.asarray(cate, dtype=float)
    idx = np.arange(len(tau))
    return np.lexsort((idx, -tau))


def cate_groups(cate: np.ndarray, n_groups: int = N_GROUPS) -> np.ndarray:
    """Group 1..n_groups of each unit: equal-size groups from the lowest to the highest prediction."""
    tau = np.asarray(cate, dtype=float)
    if n_groups < 2 or n_groups > len(tau):
        raise ValueError(f"need 2 <= n_groups <= n units, got {n_groups} for {len(tau)} units")
    asc = np.lexsort((np.arange(len(tau)), tau))  # lowest first, ties in row order
    groups = np.empty(len(tau), dtype=np.int64)
    groups[asc] = np.arange(len(tau)) * n_groups // len(tau) + 1
    return groups


@dataclass(frozen=True)
class Estimate:
    """A statistic with its cluster-robust SE (and the normal 95% interval / p-value against 0)."""

    estimate: float
    se: float

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        z = normal_quantile(level)
        return self.estimate - z * self.se, self.estimate + z * self.se

    @property
    def p_value(self) -> float:
        if not self.se > 0:
            return float("nan")
        return float(two_sided_p_value(self.estimate / self.se))


def blp(pseudo: np.ndarray, cate: np.ndarray, clusters: np.ndarray | pd.Series) -> tuple[Estimate, Estimate]:
    """(average effect, heterogeneity coefficient): OLS of psi on [1, tau_hat - mean], CR1 SEs.

    A constant prediction has no slope: its heterogeneity coefficient is returned as NaN.
    """
    psi, tau, codes, g = _arrays(pseudo, cate, clusters)
    centred = tau - tau.mean()
    if not np.ptp(tau) > 0:
        ate_se = float(cluster_se(psi - psi.mean(), codes, g)[0])
        return Estimate(float(psi.mean()), ate_se), Estimate(float("nan"), float("nan"))
    fit = cluster_robust_wls(np.column_stack([np.ones(len(psi)), centred]), psi, codes, names=["ate", "slope"])
    return Estimate(float(fit.coef[0]), float(fit.se[0])), Estimate(float(fit.coef[1]), float(fit.se[1]))


def blp_slope_of(truth: np.ndarray, cate: np.ndarray) -> float:
    """The oracle heterogeneity coefficient: cov(true effect, tau_hat) / var(tau_hat)."""
    t, tau = np.asarray(truth, dtype=float), np.asarray(cate, dtype=float)
    var = float(np.var(tau))
    return float(np.mean((t - t.mean()) * (tau - tau.mean())) / var) if var > 0 else float("nan")


def gates(pseudo: np.ndarray, cate: np.ndarray, clusters: np.ndarray | pd.Series, n_groups: int = N_GROUPS,
          oracle: np.ndarray | None = None, level: float = 0.95) -> pd.DataFrame:
    """Sorted group average effects: per group of tau_hat, mean psi with a CR1 interval, and the
    top-minus-bottom difference as a last row (`group_order` 0); with `oracle`, each group's true
    mean effect and whether the interval covers it."""
    psi, tau, codes, g = _arrays(pseudo, cate, clusters)
    groups = cate_groups(tau, n_groups)
    n = len(psi)
    rows, phis, ests = [], [], []
    for k in range(1, n_groups + 1):
        m = groups == k
        mu = float(psi[m].mean())
        # influence of a subgroup mean: n / n_k * 1{k} (psi - mu)
        phis.append(np.where(m, psi - mu, 0.0) * n / m.sum())
        ests.append(mu)
        rows.append({"group": f"G{k}", "group_order": k, "rows": int(m.sum()),
                     "clusters": int(np.unique(codes[m]).size), "mean_predicted_cate": float(tau[m].mean()),
                     "gates_estimate": mu})
    phi = np.vstack([*phis, phis[-1] - phis[0]])
    ses = cluster_se(phi, codes, g)
    rows.append({"group": DIFFERENCE_GROUP, "group_order": 0, "rows": n, "clusters": g,
                 "mean_predicted_cate": rows[-1]["mean_predicted_cate"] - rows[0]["mean_predicted_cate"],
                 "gates_estimate": ests[-1] - ests[0]})
    out = pd.DataFrame(rows)
    z = normal_quantile(level)
    out["se"] = ses
    out["ci_95_lower"] = out["gates_estimate"] - z * out["se"]
    out["ci_95_upper"] = out["gates_estimate"] + z * out["se"]
    if oracle is not None:
        t = np.asarray(oracle, dtype=float)
        true = [float(t[groups == k].mean()) for k in range(1, n_groups + 1)]
        out["oracle_gates"] = [*true, true[-1] - true[0]]
        out["ci_covers_oracle"] = out["ci_95_lower"].le(out["oracle_gates"]) & out["ci_95_upper"].ge(out["oracle_gates"])
    return out


def qini_curve(pseudo: np.ndarray, cate: np.ndarray, clusters: np.ndarray | pd.Series, n_points: int = N_POINTS,
               oracle: np.ndarray | None = None, level: float = 0.95) -> tuple[pd.DataFrame, Estimate, float | None]:
    """The Qini curve of the tau_hat ranking on psi, its area with a CR1 SE, and the oracle area.

    The curve has one row per share treated (0, 1/n_points, ..., 1): units treated, the
    cumulative gain per unit of population (1/n) sum_top psi, its excess over a random ranking
    Q(u) with a pointwise 95% band and, with `oracle`, the same two on the true effects and the
    excess of the best possible ranking (by the true effect).
    """
    psi, tau, codes, g = _arrays(pseudo, cate, clusters)
    if n_points < 2:
        raise ValueError("the Qini curve needs at least two points")
    shares = np.linspace(0.0, 1.0, n_points + 1)
    order = rank_order(tau)
    ks, gain, q, phi = qini_influence(psi, order, shares)
    se = cluster_se(phi, codes, g)
    z = normal_quantile(level)
    curve = pd.DataFrame({"share_treated": shares, "units_treated": ks, "cumulative_gain": gain,
                          "gain_over_random": q, "se": se, "ci_95_lower": q - z * se, "ci_95_upper": q + z * se})
    w = trapezoid_weights(shares)
    area = Estimate(float(w @ q), float(cluster_se(w @ phi, codes, g)[0]))
    oracle_area = None
    if oracle is not None:
        t = np.asarray(oracle, dtype=float)
        _, tg, tq, _ = qini_influence(t, order, shares)
        _, _, bq, _ = qini_influence(t, rank_order(t), shares)
        curve["oracle_cumulative_gain"] = tg
        curve["oracle_gain_over_random"] = tq
        curve["best_ranking_gain_over_random"] = bq
        oracle_area = float(w @ tq)
    return curve, area, oracle_area


def qini_influence(values: np.ndarray, order: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per share u (ranking `order` fixed): units treated k, cumulative gain (1/n) sum_top values,
    Q(u) = (1/n) sum_i (top_i - k/n) (values_i - mean) and the influence matrix of Q (points x units)."""
    n = len(values)
    ks = np.rint(np.asarray(shares) * n).astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    top = (rank[None, :] < ks[:, None]).astype(float)
    # (top_i - k/n) sums to zero, so centring the values changes Q(u) not at all, but removes the
    # level of the values from its influence (conditional on the ranking it carries no noise)
    a = (top - (ks / n)[:, None]) * (values - values.mean())[None, :]
    q = a.mean(axis=1)
    gain = (top * values[None, :]).mean(axis=1)
    return ks, gain, q, a - q[:, None]


def trapezoid_weights(shares: np.ndarray) -> np.ndarray:
    """Weights w with w @ f = the trapezoid-rule integral of f over `shares`."""
    d = np.diff(np.asarray(shares, dtype=float))
    w = np.zeros(len(shares))
    w[:-1] += d / 2
    w[1:] += d / 2
    return w


@dataclass(frozen=True)
class Calibration:
    """The three tables of one CATE model's calibration."""

    tests: pd.DataFrame
    gates: pd.DataFrame
    qini: pd.DataFrame


def calibration_tables(pseudo: np.ndarray, cate: np.ndarray, clusters: np.ndarray | pd.Series,
                       oracle: np.ndarray | None = None, n_groups: int = N_GROUPS, n_points: int = N_POINTS,
                       level: float = 0.95) -> Calibration:
    """BLP, GATES and Qini of one model: a tests table (one row per `TEST_KEYS` key: estimate,
    CR1 SE, 95% interval, p-value against 0, and with `oracle` the true value for the same
    ranking and whether the interval covers it), the GATES table and the Qini curve."""
    psi, tau, codes, g = _arrays(pseudo, cate, clusters)
    ate, slope = blp(psi, tau, codes)
    gt = gates(psi, tau, codes, n_groups, oracle, level)
    curve, area, oracle_area = qini_curve(psi, tau, codes, n_points, oracle, level)
    spread = gt[gt["group_order"].eq(0)].iloc[0]
    ests = {ATE: ate, BLP_SLOPE: slope, GATES_SPREAD: Estimate(float(spread["gates_estimate"]), float(spread["se"])),
            QINI_COEFFICIENT: area}
    z = normal_quantile(level)
    rows = []
    for key in TEST_KEYS:
        e = ests[key]
        rows.append({"key": key, "statistic": TEST_LABELS[key], "estimate": e.estimate, "se": e.se,
                     "ci_95_lower": e.estimate - z * e.se, "ci_95_upper": e.estimate + z * e.se,
                     "p_value": e.p_value, "rows": len(psi), "clusters": g})
    tests = pd.DataFrame(rows)
    if oracle is not None:
        t = np.asarray(oracle, dtype=float)
        truth = {ATE: float(t.mean()), BLP_SLOPE: blp_slope_of(t, tau),
                 GATES_SPREAD: float(spread["oracle_gates"]), QINI_COEFFICIENT: float(oracle_area)}
        tests["oracle"] = [truth[k] for k in TEST_KEYS]
        tests["ci_covers_oracle"] = tests["ci_95_lower"].le(tests["oracle"]) & tests["ci_95_upper"].ge(tests["oracle"])
    return Calibration(tests=tests, gates=gt, qini=curve)


def row_of(tests: pd.DataFrame, key: str) -> pd.Series:
    """One row of a tests table by its `key`."""
    rows = tests[tests["key"].astype(str).eq(key)]
    if rows.empty:
        raise KeyError(f"calibration tests lack the row '{key}'")
    return rows.iloc[0]


__all__ = [
    "ATE", "BLP_SLOPE", "GATES_SPREAD", "QINI_COEFFICIENT", "TEST_KEYS", "TEST_LABELS", "N_GROUPS", "N_POINTS",
    "DIFFERENCE_GROUP", "Estimate", "Calibration", "blp", "blp_slope_of", "gates", "qini_curve", "qini_influence",
    "calibration_tables", "cate_groups", "rank_order", "cluster_se", "trapezoid_weights", "row_of",
]
