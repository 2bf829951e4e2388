"""Segment buckets (ordered, readable labels), the vectorized segment bootstrap, filter, multiplicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.bootstrap import cluster_bootstrap_mean, draw_counts
from recsys_causal.longterm import aipw, segments


# ----------------------------------------------------------------------------------------------
# Buckets
# ----------------------------------------------------------------------------------------------
def test_bucket_labels_by_hand():
    cat = segments.quantile_buckets(np.arange(1, 9), q=4)  # quartiles 2.75, 4.5, 6.25
    assert list(cat.categories) == ["Q1 (≤ 2.75)", "Q2 (> 2.75, ≤ 4.5)", "Q3 (> 4.5, ≤ 6.25)", "Q4 (> 6.25)"]
    assert list(cat.codes) == [0, 0, 1, 1, 2, 2, 3, 3]
    ints = segments.quantile_buckets(np.repeat(np.arange(0, 401, 4), 3), q=4)
    assert list(ints.categories) == ["Q1 (≤ 100)", "Q2 (> 100, ≤ 200)", "Q3 (> 200, ≤ 300)", "Q4 (> 300)"]
    assert cat.ordered and ints.ordered


def test_bucket_labels_sort_numerically_not_as_strings():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-200, 150, 500), rng.normal(5, 3, 500), rng.lognormal(4, 1, 500)])
    cat = segments.quantile_buckets(x, q=12)
    s = pd.Series(x).groupby(pd.Series(cat), observed=True)
    lows, highs = s.min().to_numpy(), s.max().to_numpy()
    assert (highs[:-1] < lows[1:]).all()  # categories are in numeric order
    labels = list(cat.categories)
    assert labels[9].startswith("Q10 ") and labels[1].startswith("Q2 ")
    assert sorted(labels) != labels  # plain string sorting would put Q10 before Q2 ...
    ordered = pd.Series(cat).sort_values()
    np.testing.assert_array_equal(np.diff(ordered.cat.codes.to_numpy()) >= 0, True)  # ... the categorical does not
    assert ordered.iloc[0] == labels[0] and ordered.iloc[-1] == labels[-1]
    assert pd.Series(cat)[int(np.argmin(x))] == labels[0] and pd.Series(cat)[int(np.argmax(x))] == labels[-1]


def test_tied_quantiles_give_fewer_unique_buckets():
    x = np.r_[np.zeros(80), np.arange(1, 21)]
    cat = segments.quantile_buckets(x, q=4)
    assert list(cat.categories) == ["Q1 (≤ 0)", "Q2 (> 0)"]  # quartiles 0, 0, 0 merge
    assert (np.asarray(cat.codes)[:80] == 0).all() and (np.asarray(cat.codes)[80:] == 1).all()
    assert list(segments.quantile_buckets(np.ones(5)).categories) == ["Q1 (all)"]


def test_close_edges_get_enough_decimals_to_stay_distinct():
    x = np.r_[np.full(10, 1.1270), np.full(10, 1.1274), np.full(10, 1.128), np.full(10, 2.0)]
    cat = segments.quantile_buckets(x, q=4)
    assert len(set(cat.categories)) == len(cat.categories)


def test_day_of_week_is_ordered_monday_first():
    cat = segments.day_of_week_categorical(["Sunday", "Monday", "Friday"])
    assert list(cat.categories)[0] == "Monday" and list(cat.categories)[-1] == "Sunday"
    assert pd.Series(cat).sort_values().tolist() == ["Monday", "Friday", "Sunday"]
    with pytest.raises(ValueError, match="unknown day_of_week"):
        segments.day_of_week_categorical(["Funday"])


def test_ordered_segments_restores_numeric_order_after_csv(tmp_path):
    cat = segments.quantile_buckets(np.arange(100.0), q=10)
    df = pd.DataFrame({"segment_type": "prior_interactions_bucket", "segment": list(cat.categories),
                       "segment_order": np.arange(1, 11)}).sample(frac=1.0, random_state=1)
    df.to_csv(tmp_path / "s.csv", index=False)
    back = segments.ordered_segments(pd.read_csv(tmp_path / "s.csv"))
    assert list(back["segment"].astype(str)) == list(cat.categories)
    assert back["segment"].cat.ordered


# ----------------------------------------------------------------------------------------------
# Segment effects
# ----------------------------------------------------------------------------------------------
def _scored_rows(n_users=40, days=6, seed=0):
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), days)
    df = pd.DataFrame({
        "user_id": users,
        "event_date": np.tile(pd.date_range("2020-07-06", periods=days), n_users),
        "treatment": rng.binomial(1, 0.5, len(users)),
        "outcome": rng.normal(100, 10, len(users)),
        "aipw_score": rng.normal(2.0, 20.0, len(users)),
        "cate_hat": rng.normal(1.0, 1.0, len(users)),
        "propensity_logistic": rng.uniform(0.2, 0.8, len(users)),
        "x": rng.normal(size=len(users)),
    })
    return df.assign(
        x_bucket=segments.quantile_buckets(df["x"], 4),
        all_rows=pd.Categorical(np.full(len(df), "all"), categories=["all"], ordered=True),
    )


def test_single_segment_holding_all_rows_equals_overall_bootstrap():
    df = _scored_rows()
    counts = draw_counts(40, 60, seed=5)
    overall = cluster_bootstrap_mean(df["aipw_score"].to_numpy(), df["user_id"], counts=counts)
    seg = segments.segment_bootstrap(df["aipw_score"].to_numpy(), df["user_id"], df["all_rows"], 60, 5, counts=counts)
    np.testing.assert_allclose(seg.replicates[:, 0], overall.replicates[:, 0])
    # and through the whole segment-effects table vs the AIPW fixed-nuisance bootstrap
    summary, boot = segments.segment_effects(df, segment_types=("all_rows",), min_rows=1, min_users=1,
                                             n_bootstrap=60, seed=5, counts=counts)
    scores = df.assign(propensity_model="logistic", outcome_model="lightgbm",
                       aipw_score_name=aipw.score_name("logistic", "lightgbm"), is_primary_aipw=True)
    fixed, long = aipw.fixed_nuisance_bootstrap(scores, 60, 5, counts=counts)
    np.testing.assert_allclose(boot.sort_values("bootstrap_id")["aipw_ate"].to_numpy(), long["estimate"].to_numpy())
    assert summary["ci_95_lower"].iloc[0] == pytest.approx(fixed["ci_95_lower"].iloc[0])
    assert summary["aipw_ate"].iloc[0] == pytest.approx(df["aipw_score"].mean())


def test_vectorized_segments_equal_one_bootstrap_per_segment():
    df = _scored_rows(seed=2)
    counts = draw_counts(40, 30, seed=9)
    res = segments.segment_bootstrap(df["aipw_score"].to_numpy(), df["user_id"], df["x_bucket"], 30, 9, counts=counts)
    for k, label in enumerate(df["x_bucket"].cat.categories):
        ind = df["x_bucket"].eq(label).to_numpy(float)
        one = cluster_bootstrap_mean(df["aipw_score"].to_numpy(), df["user_id"], weights=ind, counts=counts)
        np.testing.assert_allclose(res.replicates[:, k], one.replicates[:, 0])
        assert res.estimate[k] == pytest.approx(df.loc[ind.astype(bool), "aipw_score"].mean())


def test_size_filter_drops_exactly_the_small_segments():
    # in the effects table: a segment that is small in rows and one small in users
    df = _scored_rows(n_users=40, days=6)
    small = np.where(df["user_id"] < 3, "few users", np.where(df.index % 60 == 0, "few rows", "big"))
    df = df.assign(s=pd.Categorical(small, categories=["few users", "few rows", "big"], ordered=True))
    out, _ = segments.segment_effects(df, segment_types=("s",), min_rows=10, min_users=5, n_bootstrap=40, seed=0)
    flags = dict(zip(out["segment"], out["passes_size_filter"], strict=True))
    assert flags == {"few users": False, "few rows": False, "big": True}
    assert out.loc[~out["passes_size_filter"], "p_adjusted"].isna().all()
    assert (out["n_tests"] == 1).all()


def test_multiplicity_adjustments_by_hand():
    p = np.array([0.01, 0.04, 0.03, np.nan])
    np.testing.assert_allclose(segments.adjust_p_values(p, "holm")[:3], [0.03, 0.06, 0.06])
    np.testing.assert_allclose(segments.adjust_p_values(p, "bh")[:3], [0.03, 0.04, 0.04])
    assert np.isnan(segments.adjust_p_values(p, "holm")[3])
    with pytest.raises(ValueError, match="multiplicity"):
        segments.adjust_p_values(p, "bonferonni")


def test_strong_segment_survives_correction_and_sentence_counts_it():
    df = _scored_rows(n_users=80, days=6, seed=4)
    df = df.assign(aipw_score=df["aipw_score"] + np.where(df["x_bucket"].cat.codes == 3, 25.0, 0.0))
    out, _ = segments.segment_effects(df, segment_types=("x_bucket",), min_rows=10, min_users=5, n_bootstrap=200, seed=1)
    assert out["survives_correction"].tolist() == [False, False, False, True]
    text = segments.describe_multiplicity(out.assign(segment_type="prior_interactions_bucket"))
    assert "4 segments pass" in text and "1 remain" in text and "Q4" in text
