"""Segment summaries of chapter interference_03: ordered buckets, minimum sizes, per-segment estimates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recsys_causal.interference import features as F
from recsys_causal.interference import heterogeneity as H
from test_interference_features import make_experiment


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    exposure, component, params = make_experiment(n_slates=400)
    oracle, _ = F.oracle_slate_lift(exposure, params)
    return F.build_model_table(exposure, component, oracle, params)


def test_segment_buckets_are_ordered_categoricals(table) -> None:
    frame = H.segment_frame(table, np.zeros(len(table)))
    for col in ("focal_position_bucket", "same_cluster_count_bucket", "displaced_count_bucket", "user_activity_bucket"):
        assert isinstance(frame[col].dtype, pd.CategoricalDtype) and frame[col].cat.ordered, col
    assert list(frame["displaced_count_bucket"].cat.categories) == ["0–4", "5–7", "8+"]
    act = frame["user_activity_bucket"].cat.categories
    assert [c[:2] for c in act] == ["Q1", "Q2", "Q3", "Q4"]
    by_q = frame.groupby("user_activity_bucket", observed=True)["n_ratings"]
    assert (by_q.max().to_numpy()[:-1] <= by_q.min().to_numpy()[1:]).all()  # quartiles rise with activity
    assert frame["user_activity_bucket"].value_counts().max() - frame["user_activity_bucket"].value_counts().min() <= 1


def test_segment_estimates_by_hand(table) -> None:
    het = H.heterogeneity_table(table, np.arange(len(table), dtype=float), min_slates=10)
    frame = H.segment_frame(table, np.arange(len(table), dtype=float))
    row = het[(het["segment_type"] == "same_cluster_count_bucket") & (het["segment"] == "1–2")].iloc[0]
    part = frame[frame["same_cluster_count_bucket"] == "1–2"]
    y1 = part.loc[part[F.TREATMENT] == 1, F.OUTCOME]
    y0 = part.loc[part[F.TREATMENT] == 0, F.OUTCOME]
    assert row["slates"] == len(part)
    assert row["dim_estimate"] == pytest.approx(y1.mean() - y0.mean())
    assert row["dim_se"] == pytest.approx(np.sqrt(y1.var() / len(y1) + y0.var() / len(y0)))
    assert row["mean_true_lift"] == pytest.approx(part[F.ORACLE].mean())
    assert row["mean_predicted_lift"] == pytest.approx(part["predicted_lift"].mean())
    zb = stats.norm.ppf(1 - 0.05 / (2 * len(het)))
    assert row["ci_bonferroni_upper"] == pytest.approx(row["dim_estimate"] + zb * row["dim_se"])
    assert (het["ci_bonferroni_upper"] - het["ci_bonferroni_lower"] > het["ci_95_upper"] - het["ci_95_lower"]).all()


def test_small_segments_are_dropped_and_order_is_kept(table) -> None:
    het = H.heterogeneity_table(table, np.zeros(len(table)), min_slates=60)
    assert (het["slates"] >= 60).all()
    counts = table["focal_spillover_cluster"].value_counts()
    assert set(het.loc[het["segment_type"].eq("focal_cluster"), "segment"]) == set(counts[counts >= 60].index)
    for _, part in het.groupby("segment_type"):
        assert part["segment_order"].is_monotonic_increasing
    assert list(dict.fromkeys(het["segment_type"])) == [s for s in H.SEGMENT_TYPES if s in set(het["segment_type"])]
