"""Shared inference helpers beside the cluster bootstrap: cluster-robust (sandwich) standard errors.

The sandwich SE treats each cluster (user) as independent and allows any correlation and
heteroskedasticity within it; it is the analytic cross-check of the user-cluster bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from recsys_causal.bootstrap import cluster_codes

Z95 = float(stats.norm.ppf(0.975))  # the two-sided 95% normal quantile, used by every interval


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
        z = stats.norm.ppf(0.5 + self.level / 2.0)
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


#: Stream offset of the user-cluster bootstrap draws of the long-term track; MSM, g-computation
#: (and any chapter that wants the same resampled users) draw their count matrix from it.
LONGTERM_BOOTSTRAP_STREAM = 1_001


def user_bootstrap_counts(clusters: np.ndarray | pd.Series, n_replicates: int, seed: int,
                          stream: int = LONGTERM_BOOTSTRAP_STREAM) -> np.ndarray:
    """Count matrix (replicates x users, users in order of first appearance) from (seed, stream).

    Estimators given the same panel order and seed resample exactly the same users, so their
    bootstrap replicates are paired.
    """
    from recsys_causal.bootstrap import draw_counts

    _, g = cluster_codes(clusters)
    return draw_counts(g, n_replicates, np.random.default_rng([int(seed), int(stream)]))
