"""One vectorized cluster bootstrap for every chapter of both tracks.

Resampling clusters (users, slates) with replacement is the same as giving each cluster a
multinomial count. We draw the count matrix C (replicates x clusters) once, reduce the data to
per-cluster sums S (clusters x statistics) once, and every replicate's sums are the rows of
C @ S: no DataFrame is concatenated per replicate. Means, ratios (weighted means, Hajek IPW),
differences and weighted least squares all follow from such sums.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BootstrapResult:
    """Point estimate(s), replicate estimates and the percentile interval."""

    estimate: np.ndarray  # shape (k,)
    replicates: np.ndarray  # shape (R, k)
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    level: float

    @property
    def se(self) -> np.ndarray:
        """Bootstrap standard error (SD of the replicates)."""
        return np.nanstd(self.replicates, axis=0, ddof=1)

    @property
    def n_replicates(self) -> int:
        return int(self.replicates.shape[0])

    def frame(self, names: list[str] | None = None) -> pd.DataFrame:
        """One row per statistic: estimate, bootstrap mean / SD, percentile CI."""
        k = self.estimate.shape[0]
        return pd.DataFrame(
            {
                "statistic": names if names is not None else list(range(k)),
                "estimate": self.estimate,
                "bootstrap_reps": self.n_replicates,
                "bootstrap_mean": np.nanmean(self.replicates, axis=0),
                "bootstrap_std": self.se,
                "ci_95_lower": self.ci_lower,
                "ci_95_upper": self.ci_upper,
            }
        )


def cluster_codes(clusters: np.ndarray | pd.Series) -> tuple[np.ndarray, int]:
    """Map cluster labels to 0..G-1 codes in order of first appearance; return codes and G."""
    codes, uniques = pd.factorize(pd.Series(np.asarray(clusters)), sort=False)
    if (codes < 0).any():
        raise ValueError("cluster labels contain missing values")
    return codes.astype(np.int64), len(uniques)


def draw_indices(n_clusters: int, n_replicates: int, seed: int | np.random.Generator) -> np.ndarray:
    """Cluster indices drawn with replacement, shape (replicates, clusters): the raw draws."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.integers(0, n_clusters, size=(n_replicates, n_clusters), dtype=np.int64)


def counts_from_indices(indices: np.ndarray, n_clusters: int) -> np.ndarray:
    """Turn drawn indices (R x G) into multinomial counts (R x G): how often each cluster is drawn."""
    r = indices.shape[0]
    offsets = (np.arange(r, dtype=np.int64) * n_clusters)[:, None]
    flat = np.bincount((indices + offsets).ravel(), minlength=r * n_clusters)
    return flat.reshape(r, n_clusters).astype(np.float64)


def draw_counts(n_clusters: int, n_replicates: int, seed: int | np.random.Generator) -> np.ndarray:
    """The count matrix C (replicates x clusters) of a cluster bootstrap, drawn once."""
    return counts_from_indices(draw_indices(n_clusters, n_replicates, seed), n_clusters)


def cluster_sums(values: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-cluster column sums of `values` (n x k or n,) -> (G x k)."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    out = np.empty((n_clusters, v.shape[1]))
    for j in range(v.shape[1]):  # bincount per column: same sums as np.add.at, far faster
        out[:, j] = np.bincount(codes, weights=v[:, j], minlength=n_clusters)
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of replicate estimates along axis 0 (NaN replicates ignored)."""
    alpha = (1.0 - level) / 2.0
    lo = np.nanquantile(replicates, alpha, axis=0)
    hi = np.nanquantile(replicates, 1.0 - alpha, axis=0)
    return np.atleast_1d(lo), np.atleast_1d(hi)


def bootstrap_from_sums(
    sums: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    counts: np.ndarray,
    level: float = 0.95,
) -> BootstrapResult:
    """General engine: `statistic` maps summed statistics (.., m) to estimates (.., k).

    `sums` is (G x m) per-cluster sums; the full-sample estimate is statistic(sums.sum(0)), each
    replicate's is statistic((C @ sums)[r]).
    """
    total = sums.sum(axis=0)
    est = np.atleast_1d(np.asarray(statistic(total[None, :]), dtype=float)[0])
    rep_sums = counts @ sums
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = np.asarray(statistic(rep_sums), dtype=float)
    if reps.ndim == 1:
        reps = reps[:, None]
    lo, hi = percentile_interval(reps, level)
    return BootstrapResult(est, reps, lo, hi, level)


def _codes_and_counts(clusters: np.ndarray | pd.Series, counts: np.ndarray | None, n_replicates: int,
                      seed: int | np.random.Generator) -> tuple[np.ndarray, int, np.ndarray]:
    """Cluster codes, cluster count and the count matrix (drawn, or the given one checked)."""
    codes, g = cluster_codes(clusters)
    if counts is None:
        counts = draw_counts(g, n_replicates, seed)
    elif counts.shape[1] != g:
        raise ValueError(f"counts has {counts.shape[1]} clusters, data has {g}")
    return codes, g, counts


def cluster_bootstrap_mean(
    values: np.ndarray,
    clusters: np.ndarray | pd.Series,
    n_replicates: int = 400,
    seed: int | np.random.Generator = 0,
    weights: np.ndarray | None = None,
    counts: np.ndarray | None = None,
    level: float = 0.95,
) -> BootstrapResult:
    """(Weighted) mean of each column of `values`, resampling whole clusters.

    With `weights`, each replicate is sum(w*v)/sum(w) over the resampled rows (a ratio
    estimator, e.g. the Hajek IPW mean). Columns may hold NaN-free masked values: pass
    values*indicator and weights*indicator to get per-segment means in one pass.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        w = np.repeat(w[:, None], v.shape[1], axis=1)
    if w.shape != v.shape:
        raise ValueError(f"weights shape {w.shape} does not match values shape {v.shape}")
    codes, g, counts = _codes_and_counts(clusters, counts, n_replicates, seed)
    k = v.shape[1]
    sums = cluster_sums(np.hstack([w * v, w]), codes, g)

    def stat(s: np.ndarray) -> np.ndarray:
        return s[:, :k] / s[:, k:]

    return bootstrap_from_sums(sums, stat, counts, level)


def cluster_bootstrap_wls(
    X: np.ndarray,
    y: np.ndarray,
    clusters: np.ndarray | pd.Series,
    weights: np.ndarray | None = None,
    n_replicates: int = 400,
    seed: int | np.random.Generator = 0,
    counts: np.ndarray | None = None,
    level: float = 0.95,
) -> BootstrapResult:
    """Weighted least-squares coefficients, cluster-bootstrapped through X'WX and X'Wy sums.

    Each cluster contributes its own X'WX (p x p) and X'Wy (p); a replicate's coefficients solve
    the count-weighted sums, so the whole bootstrap costs one matrix product and R small solves.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, p = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    codes, g, counts = _codes_and_counts(clusters, counts, n_replicates, seed)
    xw = X * w[:, None]
    xtx = (xw[:, :, None] * X[:, None, :]).reshape(n, p * p)
    xty = xw * y[:, None]
    sums = cluster_sums(np.hstack([xtx, xty]), codes, g)

    def stat(s: np.ndarray) -> np.ndarray:
        a = s[:, : p * p].reshape(-1, p, p)
        b = s[:, p * p:]
        out = np.full((s.shape[0], p), np.nan)
        ok = np.abs(np.linalg.det(a)) > 1e-12
        if ok.any():
            out[ok] = np.linalg.solve(a[ok], b[ok][..., None])[..., 0]
        return out

    return bootstrap_from_sums(sums, stat, counts, level)


def cluster_bootstrap_diff_in_means(
    values: np.ndarray,
    treatment: np.ndarray,
    clusters: np.ndarray | pd.Series,
    weights: np.ndarray | None = None,
    n_replicates: int = 400,
    seed: int | np.random.Generator = 0,
    counts: np.ndarray | None = None,
    level: float = 0.95,
) -> BootstrapResult:
    """(Weighted) difference in means between arms, resampling whole clusters.

    Statistics, in order: treated mean - control mean, treated mean, control mean; each arm's
    mean is sum(w*y)/sum(w) over the resampled rows of that arm (Hajek IPW with IP weights).
    """
    y = np.asarray(values, dtype=np.float64)
    a = np.asarray(treatment, dtype=np.float64)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    codes, g, counts = _codes_and_counts(clusters, counts, n_replicates, seed)
    w1, w0 = w * a, w * (1.0 - a)
    sums = cluster_sums(np.column_stack([w1 * y, w1, w0 * y, w0]), codes, g)

    def stat(s: np.ndarray) -> np.ndarray:
        m1 = s[:, 0] / s[:, 1]
        m0 = s[:, 2] / s[:, 3]
        return np.column_stack([m1 - m0, m1, m0])

    return bootstrap_from_sums(sums, stat, counts, level)


def map_replicates(one: Callable[[int], float], n_replicates: int, n_jobs: int = 1) -> np.ndarray:
    """`[one(r) for r in range(n_replicates)]` on `n_jobs` joblib workers (loky), in order.

    For the bootstraps that re-fit models per replicate: each replicate's draws are fixed before
    the map and every replicate runs with one BLAS / OpenMP thread (threadpoolctl), in the main
    process as in the workers, so the result does not depend on `n_jobs` to the last bit (a
    multi-threaded BLAS sums in another order once matrices are large).
    Replicates go to workers in contiguous chunks, one per worker, so `one` (and the data it
    closes over) is sent to each worker once.
    """
    if n_jobs <= 1 or n_replicates <= 1:
        return _run_chunk(one, np.arange(n_replicates))
    from joblib import Parallel, delayed

    chunks = [c for c in np.array_split(np.arange(n_replicates), min(n_jobs, n_replicates)) if len(c)]
    parts = Parallel(n_jobs=len(chunks), backend="loky")(
        delayed(_run_chunk)(one, chunk) for chunk in chunks)
    return np.concatenate(parts).astype(float)


def _run_chunk(one: Callable[[int], float], chunk: np.ndarray) -> np.ndarray:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return np.array([one(int(r)) for r in chunk], dtype=float)
