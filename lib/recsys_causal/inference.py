"""Inference shared by both tracks: normal intervals, score-mean SEs, cluster-robust regressions.

One normal quantile (`normal_quantile`, `Z95`) behind every interval; the mean of a score with
its SE, either for independent units (`mean_with_se`) or clustered (`influence_function_se`:
per-cluster sums of the centred scores); weighted least squares with the CR1 sandwich. The
sandwich SE treats each cluster (user) as independent and allows any correlation and
heteroskedasticity within it; it is the analytic cross-check of the user-cluster bootstrap
(`recsys_causal.bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_causal.bootstrap import cluster_codes, cluster_sums, draw_counts
from recsys_causal.seeds import stream_rng


def normal_quantile(level: float = 0.95) -> float:
    """The two-sided normal quantile z of an interval at `level` (1.96 at 0.95).

    `scipy.special.ndtri` is what `scipy.stats.norm.ppf` computes (a test checks they agree),
    without importing scipy.stats, which every kernel would otherwise pay for at start."""
    from scipy.special import ndtri

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(ndtri(0.5 + level / 2.0))


def two_sided_p_value(z: float | np.ndarray) -> float | np.ndarray:
    """P(|Z| >= |z|) for a standard normal Z: `scipy.stats.norm.sf` doubled, as `ndtr(-|z|)`."""
    from scipy.special import ndtr

    return 2.0 * ndtr(-np.abs(z))


Z95 = normal_quantile(0.95)  # the two-sided 95% normal quantile, used by every interval


def normal_interval(estimate: float | np.ndarray, se: float | np.ndarray,
                    level: float = 0.95) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(lower, upper) = estimate -+ z * se."""
    z = normal_quantile(level)
    return estimate - z * se, estimate + z * se


def sd_mcse(sd: float | np.ndarray, n_replicates: int | np.ndarray) -> float | np.ndarray:
    """Monte Carlo SE of a bootstrap SD from `n_replicates` replicates: sd / sqrt(2 (R - 1)).

    The normal-theory approximation; a bootstrap SE is itself an estimate, and two SEs are
    only told apart when they differ by more than this error allows.
    """
    n = np.maximum(np.asarray(n_replicates, dtype=float), 2.0)
    return sd / np.sqrt(2.0 * (n - 1.0))


def mean_with_se(scores: np.ndarray) -> tuple[float, float]:
    """Mean of per-unit scores of independent units and its standard error sd / sqrt(n)."""
    s = np.asarray(scores, dtype=float)
    return float(s.mean()), float(s.std(ddof=1) / np.sqrt(len(s)))


def influence_function_se(psi: np.ndarray, clusters: np.ndarray | pd.Series) -> tuple[float, float, int]:
    """Mean of the scores and its influence-function SE clustered by `clusters`.

    Var = G/(G-1) * sum_g (sum_{i in g} (psi_i - mean))^2 / n^2: per-cluster sums of the centred
    scores, so every user-day of a user counts together. Returns (estimate, se, clusters).
    """
    psi = np.asarray(psi, dtype=float)
    n = psi.shape[0]
    codes, g = cluster_codes(clusters)
    est = float(psi.mean())
    s = cluster_sums(psi - est, codes, g)[:, 0]
    var = (g / (g - 1.0)) * float(np.sum(s**2)) / n**2 if g > 1 else np.nan
    return est, float(np.sqrt(var)), g


@dataclass(frozen=True)
class RobustFit:
    """Weighted least squares with cluster-robust covariance."""

    coef: np.ndarray
    se: np.ndarray
    names: list[str]
    n_clusters: int
    level: float = 0.95

    def ci(self) -> tuple[np.ndarray, np.ndarray]:
        """Normal-approximation interval coef +- z * se (statsmodels' default for cluster SEs)."""
        z = normal_quantile(self.level)
        return self.coef - z * self.se, self.coef + z * self.se

    def frame(self) -> pd.DataFrame:
        lo, hi = self.ci()
        return pd.DataFrame({"term": self.names, "coef": self.coef, "se_cluster_robust": self.se,
                             "ci_lower": lo, "ci_upper": hi})

    def term(self, name: str) -> tuple[float, float]:
        """(coefficient, cluster-robust SE) of one term."""
        i = self.names.index(name)
        return float(self.coef[i]), float(self.se[i])


def cluster_robust_wls(
    X: np.ndarray | pd.DataFrame,
    y: np.ndarray,
    clusters: np.ndarray | pd.Series,
    weights: np.ndarray | None = None,
    names: list[str] | None = None,
    level: float = 0.95,
) -> RobustFit:
    """WLS coefficients with the CR1 cluster-robust sandwich covariance (statsmodels)."""
    import statsmodels.api as sm

    if isinstance(X, pd.DataFrame):
        names = names or [str(c) for c in X.columns]
        X = X.to_numpy(dtype=float)
    X = np.asarray(X, dtype=float)
    names = names or [f"x{i}" for i in range(X.shape[1])]
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    codes, g = cluster_codes(clusters)
    fit = sm.WLS(np.asarray(y, dtype=float), X, weights=w).fit(
        cov_type="cluster", cov_kwds={"groups": codes, "use_correction": True}
    )
    return RobustFit(np.asarray(fit.params), np.asarray(fit.bse), list(names), g, level)


def ipw_wls_influence(
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    treatment: np.ndarray,
    propensity: np.ndarray,
    design: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """WLS coefficients of y on X with inverse-probability weights, and their influence values
    (n x k) corrected for a propensity e = expit(design @ beta) fitted by logistic regression.

    The weights are c_1 / e on treated rows and c_0 / (1 - e) on control rows (stabilized or not:
    the constants do not matter). Holding them fixed overstates the variance; stacking the WLS and
    the logistic score equations (M-estimation, Lunceford & Davidian 2004) gives
    phi_i = B^-1 x_i w_i r_i + B^-1 D H^-1 s_i, with B = mean(w x x'), D = mean(x r dw/dbeta'),
    H = mean(e (1 - e) z z') and s_i = z_i (a_i - e_i). `design` is the propensity model's input
    matrix with its intercept (any basis of the same span gives the same result: pseudo-inverses).
    Cluster the influence values with `influence_function_se(coef[k] + phi[:, k], users)`.
    """
    X = np.asarray(X, dtype=float)
    Z = np.asarray(design, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(weights, dtype=float)
    a = np.asarray(treatment, dtype=float)
    e = np.asarray(propensity, dtype=float)
    n = len(y)
    B = (X * w[:, None]).T @ X / n
    B_inv = np.linalg.pinv(B)
    coef = B_inv @ ((X * w[:, None]).T @ y / n)
    r = y - X @ coef
    phi = (X * (w * r)[:, None]) @ B_inv.T
    dw = np.where(a == 1, -(1.0 - e), e) * w  # d w / d(z'beta): -w (1 - e) treated, w e control
    D = B_inv @ ((X * (r * dw)[:, None]).T @ Z / n)
    H = (Z * (e * (1.0 - e))[:, None]).T @ Z / n
    S = Z * (a - e)[:, None]
    return coef, phi + S @ (np.linalg.pinv(H) @ D.T)


def user_bootstrap_counts(clusters: np.ndarray | pd.Series, n_replicates: int, seed: int) -> np.ndarray:
    """Count matrix (replicates x users, users in order of first appearance) from the seed's
    `longterm_bootstrap` stream.

    Estimators given the same panel order and seed resample exactly the same users, so their
    bootstrap replicates are paired.
    """
    _, g = cluster_codes(clusters)
    return draw_counts(g, n_replicates, stream_rng(seed, "longterm_bootstrap"))
