"""Inverse-probability weights: Horvitz-Thompson by hand, stabilization, truncation, ESS."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_causal.bootstrap import cluster_bootstrap_diff_in_means
from recsys_causal.longterm.weights import (
    analysis_weights,
    describe_weights,
    effective_sample_size,
    ess_by_arm,
    stabilized_weights,
    truncate_weights,
    weight_distribution,
    weighted_difference_in_means,
)
from recsys_causal.scores import aipw_score

# Six rows with known propensities.
Y = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
A = np.array([1, 1, 1, 0, 0, 0])
E = np.array([0.5, 0.25, 0.8, 0.4, 0.5, 0.2])


def test_horvitz_thompson_by_hand():
    # treated: 10/0.5 + 20/0.25 + 30/0.8 = 20 + 80 + 37.5 = 137.5
    # control: 40/0.6 + 50/0.5 + 60/0.8 = 66.666.. + 100 + 75 = 241.666..
    # HT = (137.5 - 241.666..) / 6 = -17.3611..
    # the one AIPW score with zero outcome models and no clipping is the HT estimate
    ht = aipw_score(Y, A, E, np.zeros(6), np.zeros(6), clip_eps=0.0).mean()
    assert ht == pytest.approx(-104.1666666667 / 6, abs=1e-9)


def test_hajek_ipw_by_hand_and_through_the_bootstrap_helper():
    # treated: 137.5 / (2 + 4 + 1.25) = 18.9655..; control: 241.666.. / (1.666.. + 2 + 1.25) = 49.1525..
    expected = 137.5 / 7.25 - (241.0 + 2 / 3) / (4.0 + 11 / 12)
    w = A / E + (1 - A) / (1 - E)  # unstabilized 1 / P(A=a | X)
    assert weighted_difference_in_means(Y, A, w) == pytest.approx(expected, abs=1e-9)
    boot = cluster_bootstrap_diff_in_means(Y, A, np.arange(6), weights=w, n_replicates=20, seed=0)
    assert boot.estimate[0] == pytest.approx(expected, abs=1e-9)
    # stabilizing multiplies each arm's weights by a constant: the Hajek contrast is unchanged
    assert weighted_difference_in_means(Y, A, stabilized_weights(A, E)) == pytest.approx(expected, abs=1e-9)


def test_stabilized_weights_by_hand():
    # P(A=1) = 0.5: treated 0.5 / e, control 0.5 / (1 - e)
    np.testing.assert_allclose(stabilized_weights(A, E), [1.0, 2.0, 0.625, 0.5 / 0.6, 1.0, 0.625])
    with pytest.raises(ValueError, match="strictly inside"):
        stabilized_weights(A, np.r_[E[:5], 1.0])


def test_truncation_clips_at_percentiles_only():
    w = np.arange(1.0, 101.0)
    t = truncate_weights(w, 0.01, 0.99)
    lo, hi = np.quantile(w, [0.01, 0.99])
    assert t.min() == pytest.approx(lo) and t.max() == pytest.approx(hi)
    np.testing.assert_array_equal(t[2:-2], w[2:-2])
    raw, trunc = analysis_weights(A, E, 0.0, 1.0)
    np.testing.assert_allclose(raw, trunc)  # 0th / 100th percentiles: no truncation


def test_effective_sample_size():
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.r_[np.ones(9) * 1e-9, 1.0]) == pytest.approx(1.0, abs=1e-6)
    # (1+1+2)^2 / (1+1+4) = 16 / 6
    assert effective_sample_size(np.array([1.0, 1.0, 2.0])) == pytest.approx(16 / 6)
    ess = ess_by_arm(A, stabilized_weights(A, E)).set_index("arm")
    assert ess.loc["treated", "n_rows"] == 3 and ess.loc["all", "n_rows"] == 6
    assert ess.loc["treated", "ess"] == pytest.approx(effective_sample_size(np.array([1.0, 2.0, 0.625])))


def test_weight_distribution_and_sentence():
    w = stabilized_weights(A, E)
    dist = weight_distribution(A, {"analysis_weight": w})
    t = dist.set_index("arm")
    assert t.loc["treated", "max"] == pytest.approx(2.0) and t.loc["control", "min"] == pytest.approx(0.625)
    text = describe_weights(ess_by_arm(A, w), dist)
    assert "largest weight is 2.00" in text


def test_balance_smd_by_hand_and_untruncated_column():
    import pandas as pd

    from recsys_causal.longterm.balance import standardized_mean_differences

    p = pd.DataFrame({"treatment": [1, 1, 0, 0], "x": [1.0, 3.0, 0.0, 2.0]})
    b = standardized_mean_differences(p, np.array([1.0, 3.0, 1.0, 1.0]), covariates=["x"],
                                      raw_weights=np.ones(4)).iloc[0]
    # means 2 vs 1, population variances 1 and 1 -> SMD 1; weighted treated mean (1 + 9) / 4 = 2.5
    assert b["smd_unweighted"] == pytest.approx(1.0)
    assert b["smd_weighted"] == pytest.approx(1.5)
    assert b["smd_weighted_untruncated"] == pytest.approx(1.0)
