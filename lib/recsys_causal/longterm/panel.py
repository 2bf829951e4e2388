"""The user-day panel of the long-term track: one row per active user-day, its history and its future.

From the canonical interaction table (`recsys_causal.data.kuairec.load_interactions`):

* per active user-day: `interactions` (plays), `total_play_duration_sec`, `avg_watch_ratio`
  (mean of watch ratios capped at `watch_ratio_cap`, so one replayed clip with ratio 300 cannot
  dominate a day) and `high_watch_share` (share of plays with raw watch_ratio >=
  `high_watch_threshold`);
* `treatment` = 1 when `high_watch_share >= treatment_cutoff` (or >= the median of the kept
  rows' shares when the cutoff is "median");
* history on the calendar: `lag_1_*` is the previous calendar day, `prior_3day_*` the *sum*
  over the 3 previous calendar days (as in the source notebook, so prior_3day_avg_watch_ratio is
  a sum of three daily averages, e.g. 2.99); inactive days count 0 in every feature;
* `outcome` = interactions over the next `outcome_horizon_days` calendar days (inactive days 0);
* `calendar_day_index` = days since the first date in the data; `panel_day_index` = days since the
  user's first active day (the start of the user's observation window); `day_of_week` a name.

A user-day is kept only with a full prior window (3 days inside the user's observation window,
i.e. at least 3 days after the user's first active day) and a full outcome window (the last
outcome day is not after the last date in the data). `PanelResult.summary` counts the rest.

Computation is columnar and linear: users and dates are factorized (hashing), daily metrics are
`np.bincount`s into a dense user x calendar-day grid, and lags and windows are shifts and
cumulative sums of that grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

PRIOR_WINDOW_DAYS = 3
DAILY_FEATURES = ("active_day", "interactions", "total_play_duration_sec", "avg_watch_ratio", "high_watch_share")
LAG_FEATURES = [f"lag_1_{f}" for f in DAILY_FEATURES]
PRIOR_FEATURES = [f"prior_3day_{f}" for f in DAILY_FEATURES]
#: Pre-treatment covariates, as in the source notebook.
PRE_TREATMENT_COVARIATES: list[str] = [*LAG_FEATURES, *PRIOR_FEATURES, "calendar_day_index", "panel_day_index", "day_of_week"]
NUMERIC_COVARIATES: list[str] = [c for c in PRE_TREATMENT_COVARIATES if c != "day_of_week"]
CATEGORICAL_COVARIATES: list[str] = ["day_of_week"]
#: The treatment day's own measurements and the outcome: never model inputs.
POST_TREATMENT_COLUMNS: tuple[str, ...] = (
    "interactions", "total_play_duration_sec", "avg_watch_ratio", "high_watch_share", "treatment", "outcome",
)
#: Columns of the panel, in order.
PANEL_COLUMNS: list[str] = [
    "user_id",
    "event_date",
    *POST_TREATMENT_COLUMNS,
    *LAG_FEATURES,
    *PRIOR_FEATURES,
    "calendar_day_index",
    "panel_day_index",
    "day_of_week",
]
DAYS_OF_WEEK: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass
class PanelResult:
    """The panel and a record of how it was built (metric -> value)."""

    panel: pd.DataFrame
    summary: dict[str, float]
    cutoff_used: float

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.summary.items()), columns=["metric", "value"]).astype({"value": "float64"})


def build_user_day_panel(
    interactions: pd.DataFrame,
    high_watch_threshold: float = 1.0,
    treatment_cutoff: float | Literal["median"] = 0.5,
    outcome_horizon_days: int = 7,
    watch_ratio_cap: float = 5.0,
) -> PanelResult:
    """Build the user-day panel (see the module docstring) from a canonical interaction table."""
    if outcome_horizon_days < 1:
        raise ValueError(f"outcome_horizon_days = {outcome_horizon_days}: expected >= 1")
    if treatment_cutoff != "median" and not 0.0 <= float(treatment_cutoff) <= 1.0:
        raise ValueError(f"treatment_cutoff = {treatment_cutoff!r}: expected a share in [0, 1] or 'median'")
    missing = [c for c in ("user_id", "date", "play_duration", "watch_ratio") if c not in interactions.columns]
    if missing:
        raise ValueError(f"interactions lack columns {missing}")
    if len(interactions) == 0:
        raise ValueError("interactions is empty: no user-day can be built")
    H = int(outcome_horizon_days)
    # Users and calendar days by hashing (factorize), then one bincount per daily metric.
    ucodes, users = pd.factorize(interactions["user_id"].to_numpy(), sort=True)
    dcodes, udates = pd.factorize(interactions["date"].to_numpy(), sort=True)
    parsed = pd.to_datetime(pd.Series(np.asarray(udates).astype(str)), format="%Y%m%d").to_numpy().astype("datetime64[D]")
    first_day = parsed.min()
    n_days = int((parsed.max() - first_day).astype(int)) + 1
    n_users = len(users)
    users = np.asarray(users)
    width = n_days + H + 1  # padded on the right for the outcome window
    gid = ucodes.astype(np.int64) * width + (parsed - first_day).astype(np.int64)[dcodes]
    del ucodes, dcodes
    size = n_users * width
    wr = interactions["watch_ratio"].to_numpy(dtype="float64")

    def count(keys: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(keys, weights=weights, minlength=size).astype("float64").reshape(n_users, width)

    n_grid = count(gid)
    play = count(gid, interactions["play_duration"].to_numpy(dtype="float64"))
    wr_sum = count(gid, np.minimum(wr, float(watch_ratio_cap)))
    high = count(gid, (wr >= float(high_watch_threshold)).astype("float64"))
    del gid, wr
    active = n_grid > 0
    safe = np.where(active, n_grid, 1.0)
    cur = {
        "active_day": active.astype("float64"),
        "interactions": n_grid,
        "total_play_duration_sec": play / 1000.0,
        "avg_watch_ratio": wr_sum / safe,
        "high_watch_share": high / safe,
    }
    uidx, day = np.nonzero(active)  # active user-days, sorted by user then day

    def shift(g: np.ndarray, k: int) -> np.ndarray:
        out = np.zeros_like(g)
        out[:, k:] = g[:, :-k]
        return out

    feats: dict[str, np.ndarray] = {}
    for f, g in cur.items():
        s1, s2, s3 = shift(g, 1), shift(g, 2), shift(g, 3)
        feats[f"lag_1_{f}"] = s1
        feats[f"prior_3day_{f}"] = s1 + s2 + s3
    csum = np.cumsum(cur["interactions"], axis=1)
    future = np.zeros_like(csum)
    future[:, : n_days] = csum[:, H : n_days + H] - csum[:, :n_days]  # sum over t+1..t+H

    # Rows: active user-days.
    user_first = np.argmax(active, axis=1)  # first active day of each user
    panel_day = day - user_first[uidx]
    has_prior = panel_day >= PRIOR_WINDOW_DAYS
    has_future = day + H <= n_days - 1
    keep = has_prior & has_future
    r, c = uidx[keep], day[keep]

    share = cur["high_watch_share"][r, c]
    cutoff = float(np.median(share)) if treatment_cutoff == "median" and len(share) else (
        0.5 if treatment_cutoff == "median" else float(treatment_cutoff))
    event_date = (first_day + c.astype("timedelta64[D]")).astype("datetime64[us]")
    dow_idx = ((first_day.astype("datetime64[D]").astype(np.int64) + c + 3) % 7)  # 1970-01-01 was a Thursday
    data = {
        "user_id": users[r].astype(np.int64),
        "event_date": event_date,
        "interactions": cur["interactions"][r, c].astype(np.int64),
        "total_play_duration_sec": cur["total_play_duration_sec"][r, c],
        "avg_watch_ratio": cur["avg_watch_ratio"][r, c],
        "high_watch_share": share,
        "treatment": (share >= cutoff).astype(np.int64),
        "outcome": future[r, c].astype(np.int64),
    }
    for name in (*LAG_FEATURES, *PRIOR_FEATURES):
        v = feats[name][r, c]
        data[name] = v.astype(np.int64) if name.endswith(("_active_day", "_interactions")) else v
    data["calendar_day_index"] = c.astype(np.int64)
    data["panel_day_index"] = panel_day[keep].astype(np.int64)
    data["day_of_week"] = pd.array(np.asarray(DAYS_OF_WEEK, dtype=object)[dow_idx], dtype="str")
    panel = pd.DataFrame(data)[PANEL_COLUMNS]
    panel = panel.sort_values(["user_id", "event_date"], kind="stable").reset_index(drop=True)

    n_active = len(day)
    summary = panel_summary(panel, n_active, int((~has_prior).sum()), int((has_prior & ~has_future).sum()),
                            n_days, n_users, cutoff, high_watch_threshold, H, watch_ratio_cap)
    return PanelResult(panel=panel, summary=summary, cutoff_used=cutoff)


def panel_summary(panel: pd.DataFrame, active_user_days: int, excluded_prior: int, excluded_outcome: int,
                  calendar_days: int, users_in_data: int, cutoff: float, high_watch_threshold: float,
                  outcome_horizon_days: int, watch_ratio_cap: float) -> dict[str, float]:
    """The panel's build record (metric -> value), the same for every engine that builds it."""
    return {
        "active_user_days": float(active_user_days),
        "excluded_incomplete_prior_window": float(excluded_prior),
        "excluded_incomplete_outcome_window": float(excluded_outcome),
        "panel_rows": float(len(panel)),
        "panel_users": float(panel["user_id"].nunique()),
        "panel_days": float(panel["event_date"].nunique()),
        "calendar_days": float(calendar_days),
        "users_in_data": float(users_in_data),
        "treatment_rate": float(panel["treatment"].mean()) if len(panel) else float("nan"),
        "treatment_cutoff_used": cutoff,
        "high_watch_threshold": float(high_watch_threshold),
        "outcome_horizon_days": float(outcome_horizon_days),
        "watch_ratio_cap": float(watch_ratio_cap),
        "mean_outcome": float(panel["outcome"].mean()) if len(panel) else float("nan"),
    }
