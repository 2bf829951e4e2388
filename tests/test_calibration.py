"""CATE calibration tests (BLP, GATES, Qini) on data-generating processes with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal import calibration as cal


def _linear(n: int, seed: int, slope: float, noise: float = 2.0, per_cluster: int = 4):
    """x ~ N(0, 1); true effect 1 + slope * x; psi = effect + noise; clusters of `per_cluster` rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    tau = 1.0 + slope * x
    psi = tau + noise * rng.normal(size=n)
    clusters = np.arange(n) // per_cluster
    return x, tau, psi, clusters


def test_cluster_se_matches_the_sandwich_of_a_mean() -> None:
    psi = np.array([1.0, 3.0, 2.0, 6.0, 4.0, 8.0])
    codes = np.array([0, 0, 1, 1, 2, 2])
    sums = np.array([(1 - 4) + (3 - 4), (2 - 4) + (6 - 4), (4 - 4) + (8 - 4)])
    expected = np.sqrt((sums**2).sum() / 36 * 3 / 2)
    assert cal.cluster_se(psi - psi.mean(), codes, 3)[0] == pytest.approx(expected)


def test_blp_slope_is_one_for_calibrated_predictions_and_the_intercept_the_ate() -> None:
    _, tau, psi, clusters = _linear(8000, 1, slope=1.0)
    ate, slope = cal.blp(psi, tau, clusters)
    assert abs(slope.estimate - 1.0) < 4 * slope.se and slope.se < 0.1
    assert abs(ate.estimate - 1.0) < 4 * ate.se
    # predictions scaled by 2 are twice too spread out: the slope halves
    _, half = cal.blp(psi, 2 * tau, clusters)
    assert half.estimate == pytest.approx(slope.estimate / 2)


def test_blp_slope_is_zero_for_a_constant_effect() -> None:
    x, _, psi, clusters = _linear(8000, 2, slope=0.0)
    _, slope = cal.blp(psi, x, clusters)  # the model predicts heterogeneity that is not there
    assert abs(slope.estimate) < 4 * slope.se
    lo, hi = slope.ci()
    assert lo < 0 < hi or abs(slope.estimate) < 4 * slope.se


def test_blp_of_a_constant_prediction_has_no_slope() -> None:
    _, _, psi, clusters = _linear(200, 3, slope=1.0)
    ate, slope = cal.blp(psi, np.full(200, 0.5), clusters)
    assert ate.estimate == pytest.approx(psi.mean()) and np.isnan(slope.estimate)


def test_cluster_robust_se_is_larger_when_rows_of_a_cluster_repeat() -> None:
    _, tau, psi, _ = _linear(400, 4, slope=1.0, per_cluster=1)
    rep = np.repeat(np.arange(400), 5)
    _, one = cal.blp(psi, tau, np.arange(400))
    _, five = cal.blp(np.repeat(psi, 5), np.repeat(tau, 5), rep)
    assert five.estimate == pytest.approx(one.estimate)
    assert five.se == pytest.approx(one.se, rel=0.01)  # duplicated rows add no information


def test_cate_groups_are_equal_sized_and_ordered() -> None:
    g = cal.cate_groups(np.array([5.0, 1.0, 3.0, 2.0, 4.0, 0.0, 7.0, 6.0]), 4)
    assert g.tolist() == [3, 1, 2, 2, 3, 1, 4, 4]


def test_gates_are_ordered_when_the_cate_is_informative() -> None:
    _, tau, psi, clusters = _linear(8000, 5, slope=1.0)
    t = cal.gates(psi, tau, clusters, oracle=tau)
    groups = t[t["group_order"] > 0].sort_values("group_order")
    assert groups["gates_estimate"].is_monotonic_increasing
    assert groups["oracle_gates"].is_monotonic_increasing
    assert groups["rows"].tolist() == [2000] * 4
    diff = t[t["group_order"].eq(0)].iloc[0]
    assert diff["gates_estimate"] == pytest.approx(groups["gates_estimate"].iloc[-1] - groups["gates_estimate"].iloc[0])
    assert diff["ci_95_lower"] > 0 and bool(t["ci_covers_oracle"].all())
    # a group's SE is the (cluster-robust) SE of its mean
    g1 = groups.iloc[0]
    assert g1["se"] == pytest.approx(psi[cal.cate_groups(tau) == 1].std() / np.sqrt(2000), rel=0.1)


def test_qini_curve_by_hand() -> None:
    psi = np.array([4.0, 0.0, 2.0, 2.0])
    tau = np.array([0.9, 0.1, 0.5, 0.3])  # ranking: rows 0, 2, 3, 1
    curve, area, _ = cal.qini_curve(psi, tau, np.arange(4), n_points=4)
    # ATE 2; gains over random after 1..4 treated: (4-2)/4, (4+2-4)/4, (8-6)/4, 0
    assert curve["units_treated"].tolist() == [0, 1, 2, 3, 4]
    assert curve["gain_over_random"].tolist() == pytest.approx([0.0, 0.5, 0.5, 0.5, 0.0])
    assert curve["cumulative_gain"].tolist() == pytest.approx([0.0, 1.0, 1.5, 2.0, 2.0])
    assert area.estimate == pytest.approx(0.25 * (0.5 + 0.5 + 0.5))


def test_qini_is_zero_mean_for_a_random_ranking_and_positive_for_an_informative_one() -> None:
    areas, ses = [], []
    for seed in range(150):
        _, tau, psi, clusters = _linear(500, 1000 + seed, slope=1.0)
        rng = np.random.default_rng(5000 + seed)
        _, area, _ = cal.qini_curve(psi, rng.normal(size=500), clusters)
        areas.append(area.estimate)
        ses.append(area.se)
    areas, ses = np.array(areas), np.array(ses)
    assert abs(areas.mean()) < 3 * areas.std(ddof=1) / np.sqrt(len(areas))
    # for a random ranking the area's variance is var(psi) / (12 n): a unit ranked at s weighs 1/2 - s
    assert np.mean(ses) == pytest.approx(np.sqrt(5.0 / (12 * 500)), rel=0.1)
    assert areas.std(ddof=1) == pytest.approx(np.mean(ses), rel=0.2)  # the SE is the spread
    _, tau, psi, clusters = _linear(4000, 7, slope=1.0)
    curve, area, oracle_area = cal.qini_curve(psi, tau, clusters, oracle=tau)
    assert area.estimate > 3 * area.se and abs(area.estimate - oracle_area) < 4 * area.se
    # the true ranking is the best ranking
    assert (curve["best_ranking_gain_over_random"] >= curve["oracle_gain_over_random"] - 1e-12).all()


def test_calibration_tables_keys_oracle_and_no_oracle() -> None:
    _, tau, psi, clusters = _linear(3000, 8, slope=0.5)
    res = cal.calibration_tables(psi, tau, clusters, oracle=tau)
    assert res.tests["key"].tolist() == list(cal.TEST_KEYS)
    slope = cal.row_of(res.tests, cal.BLP_SLOPE)
    assert slope["oracle"] == pytest.approx(1.0) and bool(slope["ci_covers_oracle"])
    assert res.tests["clusters"].iloc[0] == 750
    plain = cal.calibration_tables(psi, tau, clusters)
    assert not any("oracle" in c for c in [*plain.tests, *plain.gates, *plain.qini])
    assert not plain.tests[["estimate", "se"]].isna().any().any()
    with pytest.raises(KeyError):
        cal.row_of(res.tests, "nope")


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        cal.blp(np.ones(5), np.ones(4), np.arange(5))
    with pytest.raises(ValueError, match="two clusters"):
        cal.blp(np.arange(6.0), np.arange(6.0), np.zeros(6))
    with pytest.raises(ValueError, match="finite"):
        cal.gates(np.array([1.0, np.nan, 2, 3]), np.arange(4.0), np.arange(4))
    assert isinstance(cal.gates(np.arange(8.0), np.arange(8.0), pd.Series(np.arange(8))), pd.DataFrame)


def _tests_with_slope(est: float, se: float, oracle: bool = False) -> pd.DataFrame:
    _, tau, psi, clusters = _linear(400, 11, slope=1.0)
    t = cal.calibration_tables(psi, tau, clusters, oracle=tau if oracle else None).tests
    i = t.index[t["key"].eq(cal.BLP_SLOPE)][0]
    t.loc[i, ["estimate", "se", "ci_95_lower", "ci_95_upper"]] = [est, se, est - 1.96 * se, est + 1.96 * se]
    return t


def test_the_sentence_claims_only_what_the_slope_interval_supports() -> None:
    from recsys_causal import calibration_narration as cn

    assert "carries real signal" in cn.describe_blp(_tests_with_slope(0.8, 0.3))
    assert "consistent with calibrated predictions" in cn.describe_blp(_tests_with_slope(0.8, 0.3))
    assert "larger than the true ones" in cn.describe_blp(_tests_with_slope(0.3, 0.1))
    noise = cn.describe_blp(_tests_with_slope(0.8, 0.5))
    assert "cannot be told from no heterogeneity" in noise and "real signal" not in noise
    assert "wrong way round" in cn.describe_blp(_tests_with_slope(-0.8, 0.2))
    text = cn.describe_tests(_tests_with_slope(0.8, 0.3, oracle=True), units="slates")
    assert "treating slates in its order" in text and "true effects" in text
    assert "true effects" not in cn.describe_tests(_tests_with_slope(0.8, 0.3))


def test_the_gates_sentence_reads_the_table() -> None:
    from recsys_causal import calibration_narration as cn

    _, tau, psi, clusters = _linear(8000, 12, slope=1.0)
    res = cal.calibration_tables(psi, tau, clusters, oracle=tau)
    text = cn.describe_gates(res.gates, res.qini, unit="clicks", per="slate")
    assert "rising steadily" in text and "shows the top group gains more" in text
    assert "Treating the top 25% by prediction" in text and "best possible ranking" in text
    rng = np.random.default_rng(0)
    flat = cal.calibration_tables(rng.normal(size=400) * 5, rng.normal(size=400), np.arange(400))
    assert "includes zero, so the groups' order is not established" in cn.describe_gates(flat.gates, flat.qini)
