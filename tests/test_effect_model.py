"""The DR-learner effect smoother: recovers heterogeneity, respects user folds, buckets in order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.longterm import effect_model as em
from recsys_causal.longterm.aipw import aipw_score

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FEATURES = ("prior_3day_interactions", "lag_1_avg_watch_ratio", "day_of_week")


def _data(n_users=150, days=10, seed=0, heterogeneous=True):
    rng = np.random.default_rng(seed)
    n = n_users * days
    users = np.repeat(np.arange(n_users), days)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    e = 1 / (1 + np.exp(-0.5 * z))
    a = rng.binomial(1, e)
    tau = 4.0 * x if heterogeneous else np.full(n, 1.0)
    m0 = 10 + 2 * z
    y = m0 + tau * a + rng.normal(0, 2.0, n)
    psi = aipw_score(y, a, e, m0 + tau, m0)  # AIPW with the true nuisances
    return pd.DataFrame({
        "user_id": users, "treatment": a, "outcome": y, "aipw_score": psi,
        "prior_3day_interactions": x, "lag_1_avg_watch_ratio": z,
        "prior_3day_high_watch_share": rng.uniform(size=n),
        "day_of_week": [DAYS[i % 7] for i in range(n)],
    }), tau


CONFIG = em.EffectModelConfig(n_estimators=80, min_child_samples=30, n_folds=4, permutation_repeats=2)


def test_dr_learner_recovers_the_true_conditional_effect():
    df, tau = _data()
    res = em.fit_effect_model(df, features=FEATURES, config=CONFIG, seed=1, oracle_cate=tau)
    o = res.metrics[res.metrics["fold"].eq("overall (out-of-fold)")].iloc[0]
    assert o["oracle_cate_corr"] > 0.8
    assert o["oracle_cate_rmse"] < 0.6 * o["constant_oracle_rmse"]
    imp = res.importance.set_index("feature")
    assert imp["gain_importance"].idxmax() == "prior_3day_interactions"
    assert imp["permutation_importance"].idxmax() == "prior_3day_interactions"
    assert "Out of fold" in em.describe_metrics(res.metrics) and "true conditional effects" in em.describe_metrics(res.metrics)


def test_folds_never_split_a_user_and_predictions_are_out_of_fold():
    df, tau = _data(n_users=40, days=5)
    res = em.fit_effect_model(df, features=FEATURES, config=CONFIG, seed=0)
    per_user = pd.Series(res.folds).groupby(df["user_id"].to_numpy()).nunique()
    assert (per_user == 1).all()
    assert set(res.folds) == {1, 2, 3, 4}
    # day_of_week's one-hot columns are folded back into one feature; no oracle -> NaN metrics
    assert sorted(res.importance["feature"]) == sorted(FEATURES)
    assert res.metrics["oracle_cate_corr"].isna().all()
    assert res.importance["gain_share"].sum() == pytest.approx(1.0)


def test_buckets_are_in_numeric_order_with_raw_score_means():
    df, tau = _data(n_users=60, days=8, seed=3)
    res = em.fit_effect_model(df, features=FEATURES, config=CONFIG, seed=0, oracle_cate=tau)
    pred = df.assign(smoothed_aipw_effect=res.predictions, oracle_cate=tau)
    buckets, table = em.effect_buckets(pred, n_buckets=5, n_bootstrap=50, seed=0)
    assert table["bucket_order"].tolist() == [1, 2, 3, 4, 5]
    assert table["mean_smoothed_effect"].is_monotonic_increasing
    assert table["smoothed_effect_bucket"].str.startswith(("B1 ", "B2 ", "B3 ", "B4 ", "B5 ")).all()
    expected = pred.groupby(pd.Series(buckets), observed=True)["aipw_score"].mean().to_numpy()
    np.testing.assert_allclose(table["mean_raw_aipw_score"], expected)
    assert table["rows"].sum() == len(pred)
    assert (table["raw_aipw_ci_95_lower"] <= table["raw_aipw_ci_95_upper"]).all()
    assert table["mean_oracle_cate"].iloc[-1] > table["mean_oracle_cate"].iloc[0]
    shuffled = table.sample(frac=1.0, random_state=0)
    assert em.ordered_buckets(shuffled)["bucket_order"].tolist() == [1, 2, 3, 4, 5]
    assert "rank correlation" in em.describe_buckets(table)


def test_effect_model_is_deterministic():
    df, _ = _data(n_users=30, days=5)
    a = em.fit_effect_model(df, features=FEATURES, config=CONFIG, seed=4)
    b = em.fit_effect_model(df, features=FEATURES, config=CONFIG, seed=4)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    pd.testing.assert_frame_equal(a.importance, b.importance)
