"""MSM and difference in means: known answers, coverage of a known effect, sandwich cross-check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.longterm.msm import (
    MSM_METHOD,
    NAIVE_METHOD,
    ORACLE_METHOD,
    TRUNCATED_METHOD,
    UNTRUNCATED_METHOD,
    WEIGHTED_DIM_METHOD,
    describe_truncation,
    msm_design,
    msm_estimates,
    msm_weight_columns,
    oracle_ate,
)
from recsys_causal.longterm.weights import stabilized_weights

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def make_panel(seed: int, n_users: int = 150, n_days: int = 20, tau: float = 5.0,
               confounding: float = 0.9) -> pd.DataFrame:
    """Tiny panel with the long-term schema, a constant effect `tau` and known propensities.

    Treatment depends on the recorded lag_1_high_watch_share (z) only; the outcome is linear in
    z, a Saturday bump, an unrecorded user level (independent of treatment) and noise, so z is
    the one confounder and both a correct weighting and a linear outcome model identify tau.
    """
    rng = np.random.default_rng(seed)
    n = n_users * n_days
    u = np.repeat(np.arange(1, n_users + 1), n_days)
    d = np.tile(np.arange(n_days), n_users)
    level = rng.normal(0, 1, n_users)[u - 1]
    z = rng.normal(0, 1, n)
    e = 1 / (1 + np.exp(-(-0.2 + confounding * z)))
    a = rng.binomial(1, e)
    dates = pd.Timestamp("2020-07-06") + pd.to_timedelta(d + 3, unit="D")
    dow = pd.Series(dates.day_name(), dtype="str")
    y = 100 + 12 * level + 8 * z + tau * a + 3 * (dow.to_numpy() == "Saturday") + rng.normal(0, 10, n)
    return pd.DataFrame({
        "user_id": u, "event_date": dates, "treatment": a, "outcome": y,
        "interactions": rng.poisson(20, n), "total_play_duration_sec": rng.gamma(2, 100, n),
        "avg_watch_ratio": rng.gamma(2, 0.5, n), "high_watch_share": rng.uniform(0, 1, n),
        "lag_1_active_day": 1.0, "lag_1_interactions": rng.poisson(20, n).astype(float),
        "lag_1_total_play_duration_sec": rng.gamma(2, 100, n),
        "lag_1_avg_watch_ratio": rng.gamma(2, 0.5, n), "lag_1_high_watch_share": z,
        "prior_3day_active_day": 3.0, "prior_3day_interactions": rng.poisson(60, n).astype(float),
        "prior_3day_total_play_duration_sec": rng.gamma(2, 300, n),
        "prior_3day_avg_watch_ratio": rng.gamma(2, 0.5, n),
        "prior_3day_high_watch_share": rng.uniform(0, 1, n),
        "calendar_day_index": d + 3, "panel_day_index": d, "day_of_week": dow,
        "true_propensity": e,
    })


def make_oracle(panel: pd.DataFrame, tau: float) -> pd.DataFrame:
    base = panel["outcome"] - tau * panel["treatment"]
    return pd.DataFrame({"user_id": panel["user_id"], "event_date": panel["event_date"],
                         "treatment": panel["treatment"], "y1": base + tau, "y0": base})


def with_known_weights(panel: pd.DataFrame) -> pd.DataFrame:
    return panel.assign(analysis_weight=stabilized_weights(panel["treatment"], panel["true_propensity"]))


def test_design_has_treatment_calendar_and_weekday_terms():
    X = msm_design(make_panel(0, n_users=10))
    assert list(X.columns[:3]) == ["intercept", "treatment", "calendar_day_index"]
    assert [c for c in X.columns if c.startswith("day_of_week=")] == [f"day_of_week={d}" for d in DAYS[1:]]
    assert np.linalg.matrix_rank(X.to_numpy()) == X.shape[1]


def test_unweighted_msm_without_calendar_equals_difference_in_means():
    p = make_panel(1, n_users=40).assign(analysis_weight=1.0)
    t = msm_estimates(p, 50, 0).set_index("method")
    naive = p.loc[p.treatment == 1, "outcome"].mean() - p.loc[p.treatment == 0, "outcome"].mean()
    assert t.loc[NAIVE_METHOD, "estimate"] == pytest.approx(naive, rel=1e-12)
    # with unit weights the weighted contrast is the naive one, draw for draw
    assert t.loc[WEIGHTED_DIM_METHOD, "ci_95_lower"] == pytest.approx(t.loc[NAIVE_METHOD, "ci_95_lower"])


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_msm_with_known_propensities_covers_constant_effect(seed):
    tau = 5.0
    p = with_known_weights(make_panel(seed, tau=tau))
    t = msm_estimates(p, 300, seed, truth=tau).set_index("method")
    for method in (MSM_METHOD, WEIGHTED_DIM_METHOD):
        assert t.loc[method, "ci_95_lower"] <= tau <= t.loc[method, "ci_95_upper"], (seed, method)
        assert bool(t.loc[method, "covers_truth"])
    # the naive contrast is confounded by z (bias about +8 * SMD of z): far from tau
    assert t.loc[NAIVE_METHOD, "ci_95_lower"] > tau
    assert t.loc[ORACLE_METHOD, "estimate"] == tau


def test_sandwich_and_bootstrap_standard_errors_agree():
    p = with_known_weights(make_panel(21, n_users=300))
    t = msm_estimates(p, 400, 1).set_index("method")
    ratio = t.loc[MSM_METHOD, "se_cluster_robust"] / t.loc[MSM_METHOD, "se_bootstrap"]
    assert 0.8 < ratio < 1.25
    assert ORACLE_METHOD not in t.index  # no truth given: no oracle row


def test_relative_lift_uses_weighted_control_mean():
    p = with_known_weights(make_panel(3, n_users=50))
    t = msm_estimates(p, 50, 0).set_index("method")
    w, a, y = p.analysis_weight, p.treatment, p.outcome
    control = np.sum(w * (1 - a) * y) / np.sum(w * (1 - a))
    row = t.loc[MSM_METHOD]
    assert row["weighted_control_mean"] == pytest.approx(control)
    assert row["relative_lift_vs_weighted_control_mean"] == pytest.approx(row["estimate"] / control)


def test_oracle_ate_is_mean_over_panel_rows_and_none_without_oracle():
    p = make_panel(4, n_users=12)
    o = make_oracle(p, 2.5)
    o.loc[0, "y1"] += 12.0 * len(p)  # one row's effect moves the mean by exactly 12
    assert oracle_ate(p, o) == pytest.approx(2.5 + 12.0)
    assert oracle_ate(p, o.iloc[:0]) is None
    with pytest.raises(ValueError, match="lacks"):
        oracle_ate(p, o.iloc[1:])


def test_untruncated_sensitivity_row():
    p = with_known_weights(make_panel(6, n_users=60))
    same = msm_estimates(p.assign(ipw_stabilized=p.analysis_weight), 50, 0).set_index("method")
    assert same.loc[UNTRUNCATED_METHOD, "estimate"] == pytest.approx(same.loc[MSM_METHOD, "estimate"])
    assert same.loc[UNTRUNCATED_METHOD, "ci_95_upper"] == pytest.approx(same.loc[MSM_METHOD, "ci_95_upper"])
    trunc = p.assign(ipw_stabilized=p.analysis_weight, analysis_weight=1.0)
    t = msm_estimates(trunc, 50, 0).set_index("method")
    assert t.loc[UNTRUNCATED_METHOD, "estimate"] != pytest.approx(t.loc[MSM_METHOD, "estimate"])
    assert "Without truncation" in describe_truncation(t.reset_index())
    assert UNTRUNCATED_METHOD not in set(msm_estimates(p, 50, 0).method)  # no raw weights: no row


def test_stabilized_headline_with_a_truncated_sensitivity_row():
    p = with_known_weights(make_panel(7, n_users=60))
    p = p.assign(ipw_stabilized=p.analysis_weight, analysis_weight=np.clip(p.analysis_weight, 0.8, 1.5))
    cols = msm_weight_columns("stabilized")
    assert cols == {"weight": "ipw_stabilized", "sensitivity_weight": "analysis_weight"}
    t = msm_estimates(p, 50, 0, **cols).set_index("method")
    ref = msm_estimates(p.assign(analysis_weight=p.ipw_stabilized), 50, 0, sensitivity_weight=None).set_index("method")
    # the headline is the fit with the stabilized weights, the sensitivity row the truncated fit
    assert t.loc[MSM_METHOD, "estimate"] == pytest.approx(ref.loc[MSM_METHOD, "estimate"])
    assert t.loc[WEIGHTED_DIM_METHOD, "estimate"] == pytest.approx(ref.loc[WEIGHTED_DIM_METHOD, "estimate"])
    assert t.loc[TRUNCATED_METHOD, "estimate"] != pytest.approx(t.loc[MSM_METHOD, "estimate"])
    assert UNTRUNCATED_METHOD not in t.index
    assert describe_truncation(t.reset_index()).startswith("Truncating the weights")
    assert msm_weight_columns("truncated") == {"weight": "analysis_weight", "sensitivity_weight": "ipw_stabilized"}
    with pytest.raises(ValueError, match="msm_weights"):
        msm_weight_columns("trimmed")
