"""AIPW scores, their three kinds of inference, trimming and the estimator comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from recsys_causal.bootstrap import (
    cluster_bootstrap_mean,
    cluster_bootstrap_wls,
    cluster_codes,
    draw_counts,
)
from recsys_causal.inference import influence_function_se
from recsys_causal.longterm import aipw, aipw_text

# ----------------------------------------------------------------------------------------------
# The score, by hand
# ----------------------------------------------------------------------------------------------
# (y, a, e, m1, m0) and the score worked out by hand with e clipped to [0.01, 0.99]:
HAND = [
    (10.0, 1, 0.5, 8.0, 6.0, 2 + 2 / 0.5),  # = 6
    (5.0, 0, 0.5, 7.0, 4.0, 3 - 1 / 0.5),  # = 1
    (12.0, 1, 0.004, 11.0, 10.0, 1 + 1 / 0.01),  # e clipped up: = 101
    (3.0, 0, 0.998, 4.0, 2.0, 2 - 1 / 0.01),  # e clipped down: = -98
    (0.0, 1, 0.25, 2.0, 1.0, 1 - 2 / 0.25),  # = -7
    (9.0, 0, 0.8, 5.0, 7.0, -2 - 2 / 0.2),  # = -12
]


def test_score_matches_hand_computation_with_clipping():
    y, a, e, m1, m0, expected = (np.array(c, dtype=float) for c in zip(*HAND, strict=True))
    psi = aipw.aipw_score(y, a, e, m1, m0, clip_eps=0.01)
    np.testing.assert_allclose(psi, [6, 1, 101, -98, -7, -12])
    np.testing.assert_allclose(psi, expected)
    assert psi.mean() == pytest.approx(-1.5)
    # without clipping rows 3 and 4 explode: clipping is really applied
    raw = aipw.aipw_score(y, a, e, m1, m0, clip_eps=0.0)
    assert raw[2] == pytest.approx(1 + 1 / 0.004)
    assert raw[3] == pytest.approx(2 - 1 / 0.002)


def test_compute_scores_uses_each_propensity_column_and_flags_primary():
    y, a, e, m1, m0, expected = (np.array(c, dtype=float) for c in zip(*HAND, strict=True))
    keys = {"user_id": [1, 1, 2, 2, 3, 3], "event_date": pd.date_range("2020-07-05", periods=6)}
    cf = pd.concat(
        [pd.DataFrame({**keys, "model": m, "treatment": a.astype(int), "outcome": y, "pred_y1": m1, "pred_y0": m0})
         for m in aipw.OUTCOME_MODELS],
        ignore_index=True,
    )
    panel = pd.DataFrame({**keys, "propensity_logistic": e, "propensity_lightgbm": np.full(6, 0.5)})
    scores = aipw.compute_scores(aipw.aipw_base(panel, cf), clip_eps=0.01, primary=("logistic", "lightgbm"))
    assert len(scores) == 4 * 6
    prim = aipw.primary_scores(scores)
    np.testing.assert_allclose(prim["aipw_score"], expected)
    other = scores[scores["propensity_model"].eq("lightgbm") & scores["outcome_model"].eq("lightgbm")]
    np.testing.assert_allclose(other["aipw_score"], (m1 - m0) + a * (y - m1) / 0.5 - (1 - a) * (y - m0) / 0.5)
    res = aipw.summarize_scores(scores)
    assert res["is_primary_aipw"].sum() == 1
    r = aipw.primary_row(res)
    assert r["aipw_score_name"] == "aipw_logistic_propensity_lightgbm_outcome"
    assert r["aipw_ate"] == pytest.approx(-1.5)
    assert r["n_users"] == 3 and r["n_rows"] == 6
    assert r["relative_lift_vs_y0"] == pytest.approx(-1.5 / m0.mean())


def test_aipw_base_rejects_unmatched_rows():
    cf = pd.DataFrame({"user_id": [1], "event_date": pd.to_datetime(["2020-07-05"]), "model": ["lightgbm"],
                       "treatment": [1], "outcome": [1.0], "pred_y1": [1.0], "pred_y0": [0.0]})
    panel = pd.DataFrame({"user_id": [2], "event_date": pd.to_datetime(["2020-07-05"]),
                          "propensity_logistic": [0.5], "propensity_lightgbm": [0.5]})
    with pytest.raises(ValueError, match="no panel row"):
        aipw.aipw_base(panel, cf)


# ----------------------------------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------------------------------
def test_influence_function_se_by_hand():
    psi = np.array([1.0, 3.0, 2.0, 6.0, 8.0, -2.0])
    users = np.array([1, 1, 2, 3, 3, 3])
    est, se, g = influence_function_se(psi, users)
    # mean 3; per-user sums of centred scores: -2, -1, 3; var = 3/2 * 14 / 36
    assert est == pytest.approx(3.0)
    assert g == 3
    assert se == pytest.approx(np.sqrt(1.5 * 14 / 36))


def _long_scores(n_users=30, days=4, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), days)
    dates = np.tile(pd.date_range("2020-07-05", periods=days), n_users)
    frames = []
    for p in aipw.PROPENSITY_MODELS:
        for o in aipw.OUTCOME_MODELS:
            frames.append(pd.DataFrame({
                "user_id": users, "event_date": dates, "propensity_model": p, "outcome_model": o,
                "aipw_score_name": aipw.score_name(p, o), "aipw_score": rng.normal(1.0, 5.0, len(users)),
                "is_primary_aipw": (p, o) == ("logistic", "lightgbm"),
            }))
    return pd.concat(frames, ignore_index=True)


def test_fixed_nuisance_bootstrap_equals_naive_resampling_on_same_draws():
    scores = _long_scores()
    counts = draw_counts(30, 25, seed=3)
    summary, long = aipw.fixed_nuisance_bootstrap(scores, 25, 3, counts=counts)
    prim = aipw.primary_scores(scores)
    codes, _ = cluster_codes(prim["user_id"])
    # replicate r by hand: every user's rows repeated counts[r, user] times
    naive = np.array([np.sum(counts[r, codes] * prim["aipw_score"]) / np.sum(counts[r, codes]) for r in range(25)])
    got = long[long["aipw_score_name"].eq(aipw.score_name("logistic", "lightgbm"))].sort_values("bootstrap_id")["estimate"]
    np.testing.assert_allclose(got.to_numpy(), naive)
    assert set(summary.columns) >= {"bootstrap_reps", "bootstrap_std", "ci_95_lower", "ci_95_upper"}


def test_resample_rows_takes_every_row_of_each_drawn_user():
    users = np.array([5, 5, 7, 9, 9, 9, 7])
    order, starts, lengths = aipw.user_row_blocks(users)
    rows = aipw.resample_rows(np.array([2, 0, 2]), order, starts, lengths)  # users 9, 5, 9
    assert users[rows].tolist() == [9, 9, 9, 5, 5, 9, 9, 9]
    assert rows.tolist() == [3, 4, 5, 0, 1, 3, 4, 5]


def test_refit_bootstrap_with_exact_nuisances_matches_score_resampling():
    # A refit that returns the true nuisances makes each replicate the resampled mean score.
    rng = np.random.default_rng(1)
    n_users, days = 40, 3
    panel = pd.DataFrame({"user_id": np.repeat(np.arange(n_users), days), "x": rng.normal(size=n_users * days)})
    e = 1 / (1 + np.exp(-panel["x"]))
    panel["treatment"] = rng.binomial(1, e)
    panel["outcome"] = 1 + panel["x"] + 2 * panel["treatment"] + rng.normal(size=len(panel))

    def refit(sub):
        ee = 1 / (1 + np.exp(-sub["x"].to_numpy()))
        return ee, 3 + sub["x"].to_numpy(), 1 + sub["x"].to_numpy()

    reps = aipw.refit_bootstrap(panel, refit, 5, seed=11)
    e_, m1, m0 = refit(panel)
    psi = aipw.aipw_score(panel["outcome"], panel["treatment"], e_, m1, m0)
    counts = draw_counts(n_users, 5, 11)
    codes, _ = cluster_codes(panel["user_id"])
    expected = [np.sum(counts[r, codes] * psi) / np.sum(counts[r, codes]) for r in range(5)]
    np.testing.assert_allclose(reps, expected)


def test_trimmed_aipw_drops_rows_outside_overlap():
    prim = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "aipw_score": [10.0, 2.0, 4.0, 100.0, 6.0],
                         "propensity_logistic": [0.5, 0.3, 0.6, 0.02, 0.97]})
    out = aipw.trimmed_aipw(prim, "propensity_logistic", 0.05, n_bootstrap=30, seed=0)
    assert out["estimate"] == pytest.approx((10 + 2 + 4) / 3)
    assert out["rows_kept"] == 3 and out["rows_total"] == 5 and out["users_kept"] == 2


def test_inference_table_and_sentence_carry_the_three_intervals():
    res = pd.DataFrame([{
        "propensity_model": "logistic", "outcome_model": "lightgbm", "is_primary_aipw": True, "aipw_ate": 1.0,
        "bootstrap_std": 2.0, "ci_95_lower": -3.0, "ci_95_upper": 5.0, "bootstrap_reps": 400,
        "if_se": 2.1, "if_ci_95_lower": -3.1, "if_ci_95_upper": 5.1,
        "refit_std": 3.0, "refit_ci_95_lower": -5.0, "refit_ci_95_upper": 7.0, "refit_reps": 30,
    }])
    t = aipw.inference_table(res)
    assert t["key"].tolist() == ["fixed_nuisance", "influence_function", "refit"]
    text = aipw_text.describe_fixed_vs_refit(t)
    assert "2.00" in text and "3.00" in text and "1.50 times" in text and "too narrow" in text
    narrow = aipw_text.describe_fixed_vs_refit(aipw.inference_table(res.assign(refit_std=1.0)))
    assert "0.50 times" in narrow and "conservative" in narrow
    same = aipw_text.describe_fixed_vs_refit(aipw.inference_table(res.assign(refit_std=2.2)))
    assert "cannot be told apart" in same and "±14%" in same  # sqrt(1/58 + 1/798) = 0.136
    # the case: SD 1.60 against 2.28 with 30 refit replicates is 0.70 times, inside 2 x 13.6%
    borderline = aipw.inference_table(res.assign(bootstrap_std=2.28, refit_std=1.60))
    assert "cannot be told apart" in aipw_text.describe_fixed_vs_refit(borderline)
    # every bootstrap SE carries its Monte Carlo error sd / sqrt(2 (R - 1)); the analytic SE none
    mc = t.set_index("key")["se_monte_carlo_error"]
    assert mc["fixed_nuisance"] == pytest.approx(2.0 / np.sqrt(798)) and mc["refit"] == pytest.approx(3.0 / np.sqrt(58))
    assert np.isnan(mc["influence_function"])


def test_comparison_appends_aipw_and_trimmed_before_oracle():
    comp = pd.DataFrame({
        "method": ["MSM: weighted calendar-adjusted", "G-computation", "Oracle (simulation truth)"],
        "model": ["msm", "lightgbm", "simulator"], "estimate": [2.0, 1.0, 0.5],
        "ci_95_lower": [-1.0, -2.0, np.nan], "ci_95_upper": [5.0, 4.0, np.nan], "source": ["", "", ""],
        "relative_lift_vs_msm_control_mean": [0.01, 0.005, 0.0025],
    })
    res = pd.DataFrame([{"propensity_model": "logistic", "outcome_model": "lightgbm", "is_primary_aipw": True,
                         "aipw_ate": 4.0, "ci_95_lower": 1.0, "ci_95_upper": 7.0, "mean_y0_hat": 100.0}])
    trimmed = {"estimate": 3.0, "ci_95_lower": 0.0, "ci_95_upper": 6.0, "rows_kept": 9, "rows_total": 10, "trim_alpha": 0.05}
    out = aipw.comparison_with_aipw(comp, res, trimmed, "logistic")
    assert out["method"].tolist()[-1] == "Oracle (simulation truth)"
    assert out["role"].tolist() == ["estimate", "estimate", "estimate", "robustness", "oracle"]
    # relative lift uses the MSM control mean (2.0 / 0.01 = 200)
    assert out.loc[out["method"].eq("Doubly robust AIPW"), "relative_lift_vs_msm_control_mean"].iloc[0] == pytest.approx(0.02)
    text = aipw_text.coverage_sentences(out)
    assert "0.50" in text and "miss it" in text  # AIPW [1, 7] misses 0.5
    # every row that misses is named with the reason it can miss; covering rows get none
    assert "Doubly robust AIPW (logistic propensity + LightGBM outcome), because AIPW is consistent" in text
    assert "MSM: weighted calendar-adjusted (msm)" in text.split("Intervals that miss it")[0]
    assert "validation chapter" in text


# ----------------------------------------------------------------------------------------------
# Double robustness on a small data-generating process
# ----------------------------------------------------------------------------------------------
def _dgp(seed: int, n_users: int = 500, days: int = 6):
    rng = np.random.default_rng(seed)
    n = n_users * days
    users = np.repeat(np.arange(n_users), days)
    u = rng.normal(0, 1.0, n_users)[users]  # user effect -> clustered outcomes
    x1 = rng.normal(size=n) + 0.5 * rng.normal(size=n_users)[users]
    x2 = rng.normal(size=n)
    e = 1 / (1 + np.exp(-(-0.2 + 1.2 * x1 - 0.6 * x2)))
    a = rng.binomial(1, e)
    tau = 1.0 + 1.0 * x2
    y = 2.0 + 3.0 * x1 + 1.5 * x1**2 + 0.5 * x2 + tau * a + u + rng.normal(size=n)
    return users, x1, x2, a, y, float(np.mean(tau))


def _fit_prop(features: np.ndarray, a: np.ndarray) -> np.ndarray:
    return LogisticRegression(C=1e6, max_iter=1000).fit(features, a).predict_proba(features)[:, 1]


def _fit_outcome(features: np.ndarray, a: np.ndarray, y: np.ndarray, interact: np.ndarray | None = None):
    def design(t):
        cols = [features, t[:, None]]
        if interact is not None:
            cols.append((t * interact)[:, None])
        return np.hstack(cols)

    reg = LinearRegression().fit(design(a.astype(float)), y)
    return reg.predict(design(np.ones_like(a, dtype=float))), reg.predict(design(np.zeros_like(a, dtype=float)))


def _aipw_ci(y, a, e, m1, m0, users):
    est, se, _ = influence_function_se(aipw.aipw_score(y, a, e, m1, m0, clip_eps=0.01), users)
    return est, est - aipw.Z95 * se, est + aipw.Z95 * se


SEEDS = (0, 1, 2, 3, 4)


@pytest.mark.parametrize("seed", SEEDS)
def test_double_robustness_wrong_outcome_model_right_propensity(seed):
    users, x1, x2, a, y, truth = _dgp(seed)
    e = _fit_prop(np.column_stack([x1, x2]), a)  # correct propensity
    m1, m0 = _fit_outcome(x2[:, None], a, y)  # outcome model omits the confounder x1
    est, lo, hi = _aipw_ci(y, a, e, m1, m0, users)
    assert lo <= truth <= hi, f"AIPW {est:.3f} [{lo:.3f}, {hi:.3f}] misses truth {truth:.3f}"
    # the g-computation estimate of the same misspecified model (coefficient on A), with its CI
    X = np.column_stack([np.ones_like(x2), a, x2])
    g = cluster_bootstrap_wls(X, y, users, n_replicates=200, seed=seed)
    assert not (g.ci_lower[1] <= truth <= g.ci_upper[1]), "misspecified g-computation should miss the truth"


@pytest.mark.parametrize("seed", SEEDS)
def test_double_robustness_wrong_propensity_right_outcome_model(seed):
    users, x1, x2, a, y, truth = _dgp(seed)
    e = _fit_prop(x2[:, None], a)  # propensity omits the confounder x1
    m1, m0 = _fit_outcome(np.column_stack([x1, x1**2, x2]), a, y, interact=x2)  # correct outcome model
    est, lo, hi = _aipw_ci(y, a, e, m1, m0, users)
    assert lo <= truth <= hi, f"AIPW {est:.3f} [{lo:.3f}, {hi:.3f}] misses truth {truth:.3f}"
    # Hajek IPW with the misspecified propensity, user-cluster bootstrap CI
    w1, w0 = a / e, (1 - a) / (1 - e)
    ipw = cluster_bootstrap_mean(np.column_stack([y, y]), users, n_replicates=200, seed=seed,
                                 weights=np.column_stack([w1, w0]))
    diff = ipw.replicates[:, 0] - ipw.replicates[:, 1]
    lo_i, hi_i = np.quantile(diff, [0.025, 0.975])
    assert not (lo_i <= truth <= hi_i), "misspecified IPW should miss the truth"
