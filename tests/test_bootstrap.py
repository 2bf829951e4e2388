"""The vectorized cluster bootstrap against explicit resampling on the same draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.bootstrap import (
    cluster_bootstrap_diff_in_means,
    cluster_bootstrap_mean,
    cluster_bootstrap_wls,
    cluster_codes,
    counts_from_indices,
    draw_indices,
)
from recsys_causal.inference import cluster_robust_wls, user_bootstrap_counts


def _rows_of(idx_row: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Row indices of a materialized cluster resample (every row of every drawn cluster)."""
    return np.concatenate([np.flatnonzero(codes == k) for k in idx_row])


def test_one_row_per_cluster_is_the_iid_bootstrap():
    rng = np.random.default_rng(0)
    v = rng.normal(size=50)
    idx = draw_indices(50, 200, 1)
    iid = v[idx].mean(axis=1)  # ordinary bootstrap of rows with the same draws
    res = cluster_bootstrap_mean(v, np.arange(50), counts=counts_from_indices(idx, 50))
    np.testing.assert_allclose(res.replicates[:, 0], iid, rtol=1e-12)
    assert res.estimate[0] == pytest.approx(v.mean())
    lo, hi = np.quantile(iid, [0.025, 0.975])
    assert res.ci_lower[0] == pytest.approx(lo) and res.ci_upper[0] == pytest.approx(hi)


def test_equal_cluster_sizes_weighted_path_equals_plain_path():
    rng = np.random.default_rng(1)
    g, m = 30, 4
    clusters = np.repeat(np.arange(g), m)
    v = rng.normal(size=g * m)
    idx = draw_indices(g, 100, 2)
    counts = counts_from_indices(idx, g)
    # plain path: iid bootstrap of the cluster means
    plain = v.reshape(g, m).mean(axis=1)[idx].mean(axis=1)
    ratio = cluster_bootstrap_mean(v, clusters, counts=counts)  # sum(c*S_y)/sum(c*n): a ratio
    ones = cluster_bootstrap_mean(v, clusters, counts=counts, weights=np.full(g * m, 3.0))
    np.testing.assert_allclose(ratio.replicates[:, 0], plain, rtol=1e-12)
    np.testing.assert_allclose(ones.replicates[:, 0], plain, rtol=1e-12)


def test_weighted_mean_matches_materialized_resamples():
    rng = np.random.default_rng(3)
    clusters = rng.integers(0, 12, size=80)
    v, w = rng.normal(size=80), rng.uniform(0.2, 3, size=80)
    codes, g = cluster_codes(clusters)
    idx = draw_indices(g, 5, 4)
    res = cluster_bootstrap_mean(v, clusters, weights=w, counts=counts_from_indices(idx, g))
    for r in range(5):
        rows = _rows_of(idx[r], codes)
        assert res.replicates[r, 0] == pytest.approx(np.sum(w[rows] * v[rows]) / np.sum(w[rows]))


def test_diff_in_means_and_wls_match_materialized_resamples():
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(20), rng.integers(1, 6, size=20))
    n = len(clusters)
    a = rng.integers(0, 2, size=n).astype(float)
    y = 2.0 + 1.5 * a + rng.normal(size=n)
    w = rng.uniform(0.5, 2, size=n)
    codes, g = cluster_codes(clusters)
    idx = draw_indices(g, 6, 6)
    counts = counts_from_indices(idx, g)
    dim = cluster_bootstrap_diff_in_means(y, a, clusters, weights=w, counts=counts)
    X = np.column_stack([np.ones(n), a])
    wls = cluster_bootstrap_wls(X, y, clusters, weights=w, counts=counts)
    for r in range(6):
        rows = _rows_of(idx[r], codes)
        yr, ar, wr = y[rows], a[rows], w[rows]
        if ar.min() == ar.max():
            continue
        m1 = np.sum(wr * ar * yr) / np.sum(wr * ar)
        m0 = np.sum(wr * (1 - ar) * yr) / np.sum(wr * (1 - ar))
        np.testing.assert_allclose(dim.replicates[r], [m1 - m0, m1, m0], rtol=1e-10)
        # WLS of y on (1, a) is the same weighted contrast
        assert wls.replicates[r, 1] == pytest.approx(m1 - m0, rel=1e-8)


def test_user_bootstrap_counts_are_paired_and_seeded():
    users = pd.Series([5, 5, 9, 1, 1, 1])
    c1 = user_bootstrap_counts(users, 10, 7)
    np.testing.assert_array_equal(c1, user_bootstrap_counts(users, 10, 7))
    assert c1.shape == (10, 3) and (c1.sum(axis=1) == 3).all()
    assert not np.array_equal(c1, user_bootstrap_counts(users, 10, 8))


def test_cluster_robust_se_reduces_to_hand_formula():
    # one regressor (intercept only), unit weights: CR1 variance = G/(G-1) * (n-1)/(n-1) * sum_g (sum e_g)^2 / n^2
    y = np.array([1.0, 2.0, 3.0, 10.0, 11.0, 12.0])
    cl = np.array([0, 0, 0, 1, 1, 2])
    fit = cluster_robust_wls(np.ones((6, 1)), y, cl)
    e = y - y.mean()
    sg = np.array([e[cl == k].sum() for k in range(3)])
    G, n, k = 3, 6, 1
    var = (G / (G - 1)) * ((n - 1) / (n - k)) * np.sum(sg**2) / n**2
    assert fit.coef[0] == pytest.approx(y.mean())
    assert fit.se[0] == pytest.approx(np.sqrt(var), rel=1e-10)


def test_map_replicates_keeps_order_and_does_not_depend_on_workers():
    from recsys_causal.bootstrap import map_replicates

    draws = np.random.default_rng(3).normal(size=(7, 50))

    def one(r: int) -> float:
        return float(np.sort(draws[r])[int(r) % 50] * (r + 1))

    serial = map_replicates(one, 7, n_jobs=1)
    np.testing.assert_array_equal(serial, [one(r) for r in range(7)])
    np.testing.assert_array_equal(map_replicates(one, 7, n_jobs=2), serial)
    assert map_replicates(one, 0, n_jobs=2).shape == (0,)


def test_map_replicates_runs_every_replicate_single_threaded():
    """One BLAS / OpenMP thread per replicate in the main process and in the workers: a
    multi-threaded BLAS would sum large products in another order than a worker does."""
    from recsys_causal.bootstrap import map_replicates

    def threads(_: int) -> float:
        import numpy  # noqa: F401  (its BLAS is among the pools)
        from threadpoolctl import threadpool_info

        return float(max((p["num_threads"] for p in threadpool_info()), default=1))

    assert (map_replicates(threads, 3, n_jobs=1) == 1).all()
    assert (map_replicates(threads, 3, n_jobs=2) == 1).all()
