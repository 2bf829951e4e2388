"""The user-day panel on a hand-computed example: lags, prior sums, outcome window, exclusions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.longterm.panel import (
    PANEL_COLUMNS,
    PRE_TREATMENT_COVARIATES,
    build_user_day_panel,
)

# (user, date, play_duration ms, watch_ratio); the data span 2020-07-01 .. 2020-07-10.
PLAYS = [
    (1, 20200701, 1000, 1.2), (1, 20200701, 2000, 0.5),  # day 0
    (1, 20200703, 3000, 2.0),  # day 2 (day 1 inactive)
    (1, 20200704, 1000, 1.0), (1, 20200704, 1000, 1.0), (1, 20200704, 1000, 0.2), (1, 20200704, 1000, 0.3),  # day 3
    (1, 20200705, 500, 0.1),  # day 4
    (1, 20200706, 4000, 10.0), (1, 20200706, 1500, 1.5), (1, 20200706, 400, 0.4),  # day 5 (10.0 capped at 5)
    (1, 20200708, 100, 0.9), (1, 20200708, 100, 0.9),  # day 7
    (1, 20200710, 100, 1.0),  # day 9 = last day of the data
    (2, 20200703, 2000, 0.5),  # user 2 enters on day 2
    (2, 20200706, 2000, 1.5),  # day 5
    (2, 20200707, 2000, 0.5), (2, 20200707, 2000, 1.5), (2, 20200707, 2000, 0.1),  # day 6
]


def interactions() -> pd.DataFrame:
    df = pd.DataFrame(PLAYS, columns=["user_id", "date", "play_duration", "watch_ratio"])
    return df.assign(video_id=np.arange(len(df)), date=df["date"].astype("int32"))


@pytest.fixture(scope="module")
def result():
    return build_user_day_panel(interactions(), high_watch_threshold=1.0, treatment_cutoff=0.5, outcome_horizon_days=2)


def test_columns_and_rows(result) -> None:
    p = result.panel
    assert list(p.columns) == PANEL_COLUMNS
    assert set(PRE_TREATMENT_COVARIATES) <= set(p.columns) and len(PRE_TREATMENT_COVARIATES) == 13
    keys = list(zip(p["user_id"], p["event_date"].dt.strftime("%Y%m%d"), strict=True))
    assert keys == [(1, "20200704"), (1, "20200705"), (1, "20200706"), (1, "20200708"), (2, "20200706"), (2, "20200707")]


def test_exclusion_counts(result) -> None:
    s = result.summary
    assert s["active_user_days"] == 10
    assert s["excluded_incomplete_prior_window"] == 3  # user 1 days 0 and 2, user 2 day 2
    assert s["excluded_incomplete_outcome_window"] == 1  # user 1 day 9
    assert s["panel_rows"] == 6 and s["panel_users"] == 2 and s["calendar_days"] == 10


def test_hand_computed_row(result) -> None:
    r = result.panel.iloc[0]  # user 1, 2020-07-04 (a Saturday)
    assert r["interactions"] == 4 and r["total_play_duration_sec"] == pytest.approx(4.0)
    assert r["avg_watch_ratio"] == pytest.approx(0.625) and r["high_watch_share"] == pytest.approx(0.5)
    assert r["treatment"] == 1  # 0.5 >= 0.5
    assert r["outcome"] == 1 + 3  # days 4 and 5
    assert (r["lag_1_active_day"], r["lag_1_interactions"]) == (1, 1)
    assert r["lag_1_total_play_duration_sec"] == pytest.approx(3.0)
    assert r["lag_1_avg_watch_ratio"] == pytest.approx(2.0) and r["lag_1_high_watch_share"] == pytest.approx(1.0)
    assert (r["prior_3day_active_day"], r["prior_3day_interactions"]) == (2, 3)  # days 0..2, day 1 inactive
    assert r["prior_3day_total_play_duration_sec"] == pytest.approx(6.0)
    assert r["prior_3day_avg_watch_ratio"] == pytest.approx(0.85 + 0 + 2.0)  # a sum of daily averages
    assert r["prior_3day_high_watch_share"] == pytest.approx(0.5 + 0 + 1.0)
    assert (r["calendar_day_index"], r["panel_day_index"], r["day_of_week"]) == (3, 3, "Saturday")


def test_cap_window_and_late_entry(result) -> None:
    p = result.panel
    d5 = p.iloc[2]  # user 1, day 5: 10.0 is capped at 5 in the average, not in the share
    assert d5["avg_watch_ratio"] == pytest.approx((5.0 + 1.5 + 0.4) / 3)
    assert d5["high_watch_share"] == pytest.approx(2 / 3) and d5["treatment"] == 1
    assert d5["outcome"] == 0 + 2  # day 6 inactive, day 7 two plays
    d7 = p.iloc[3]
    assert d7["outcome"] == 0 + 1 and d7["treatment"] == 0 and d7["lag_1_active_day"] == 0
    u2 = p.iloc[4]  # user 2, day 5: enters on day 2, so panel_day_index 3
    assert (u2["calendar_day_index"], u2["panel_day_index"]) == (5, 3)
    assert u2["lag_1_active_day"] == 0 and u2["prior_3day_interactions"] == 1
    assert u2["outcome"] == 3 and u2["treatment"] == 1
    assert p.iloc[5]["lag_1_interactions"] == 1 and p.iloc[5]["treatment"] == 0  # share 1/3


def test_median_cutoff_and_threshold() -> None:
    res = build_user_day_panel(interactions(), treatment_cutoff="median", outcome_horizon_days=2)
    shares = np.array([0.5, 0.0, 2 / 3, 0.0, 1.0, 1 / 3])
    assert res.cutoff_used == pytest.approx(np.median(shares))
    assert res.panel["treatment"].tolist() == (shares >= np.median(shares)).astype(int).tolist()
    strict = build_user_day_panel(interactions(), high_watch_threshold=1.6, outcome_horizon_days=2).panel
    assert strict["high_watch_share"].iloc[0] == 0.0 and strict["high_watch_share"].iloc[2] == pytest.approx(1 / 3)


def test_longer_horizon_excludes_more() -> None:
    res = build_user_day_panel(interactions(), outcome_horizon_days=4)
    assert res.summary["excluded_incomplete_outcome_window"] == 3  # user 1 days 7, 9; user 2 day 6
    assert res.panel["outcome"].iloc[0] == 1 + 3 + 0 + 2


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="treatment_cutoff"):
        build_user_day_panel(interactions(), treatment_cutoff=1.5)
    with pytest.raises(ValueError, match="lack columns"):
        build_user_day_panel(interactions().drop(columns=["watch_ratio"]))
