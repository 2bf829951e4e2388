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

Computation is columnar: one groupby over the interactions, then dense user x day arrays
(users x calendar days cells) for lags and windows.
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
#: Columns of the panel, in order.
PANEL_COLUMNS: list[str] = [
    "user_id",
    "event_date",
    "interactions",
    "total_play_duration_sec",
    "avg_watch_ratio",
    "high_watch_share",
    "treatment",
    "outcome",
    *LAG_FEATURES,
    *PRIOR_FEATURES,
    "calendar_day_index",
    "panel_day_index",
    "day_of_week",
]
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass
class PanelResult:
    """The panel and a record of how it was built (metric -> value)."""

    panel: pd.DataFrame
    summary: dict[str, float]
    cutoff_used: float

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.summary.items()), columns=["metric", "value"]).astype({"value": "float64"})


def _daily(interactions: pd.DataFrame, threshold: float, cap: float) -> pd.DataFrame:
    wr = interactions["watch_ratio"].to_numpy(dtype="float64")
    frame = pd.DataFrame({
        "user_id": interactions["user_id"].to_numpy(),
        "date": interactions["date"].to_numpy(),
        "play": interactions["play_duration"].to_numpy(dtype="float64"),
        "wr": np.minimum(wr, cap),
        "high": (wr >= threshold).astype("float64"),
    })
    g = frame.groupby(["user_id", "date"], sort=True)
    out = g.agg(interactions=("play", "size"), play=("play", "sum"), wr=("wr", "sum"), high=("high", "sum"))
    return out.reset_index()


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
    H = int(outcome_horizon_days)
    daily = _daily(interactions, float(high_watch_threshold), float(watch_ratio_cap))

    # Calendar: day numbers from the YYYYMMDD ints (only the few distinct dates are parsed).
    udates = np.unique(daily["date"].to_numpy())
    parsed = pd.to_datetime(pd.Series(udates.astype(str)), format="%Y%m%d").to_numpy().astype("datetime64[D]")
    first_day = parsed.min()
    n_days = int((parsed.max() - first_day).astype(int)) + 1
    day_of = dict(zip(udates.tolist(), (parsed - first_day).astype(int).tolist(), strict=True))
    day = daily["date"].map(day_of).to_numpy(dtype=np.int64)
    users, uidx = np.unique(daily["user_id"].to_numpy(), return_inverse=True)
    n_users = len(users)

    def grid(values: np.ndarray) -> np.ndarray:
        g = np.zeros((n_users, n_days + H + 1), dtype="float64")  # padded on the right for windows
        g[uidx, day] = values
        return g

    n = daily["interactions"].to_numpy(dtype="float64")
    cur = {
        "active_day": grid(np.ones_like(n)),
        "interactions": grid(n),
        "total_play_duration_sec": grid(daily["play"].to_numpy() / 1000.0),
        "avg_watch_ratio": grid(daily["wr"].to_numpy() / n),
        "high_watch_share": grid(daily["high"].to_numpy() / n),
    }

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
    user_first = np.full(n_users, n_days, dtype=np.int64)
    np.minimum.at(user_first, uidx, day)
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
    data["day_of_week"] = pd.array(np.asarray(DAY_NAMES, dtype=object)[dow_idx], dtype="str")
    panel = pd.DataFrame(data)[PANEL_COLUMNS]
    panel = panel.sort_values(["user_id", "event_date"], kind="stable").reset_index(drop=True)

    n_active = len(day)
    summary = {
        "active_user_days": float(n_active),
        "excluded_incomplete_prior_window": float((~has_prior).sum()),
        "excluded_incomplete_outcome_window": float((has_prior & ~has_future).sum()),
        "panel_rows": float(len(panel)),
        "panel_users": float(panel["user_id"].nunique()),
        "panel_days": float(panel["event_date"].nunique()),
        "calendar_days": float(n_days),
        "users_in_data": float(n_users),
        "treatment_rate": float(panel["treatment"].mean()) if len(panel) else float("nan"),
        "treatment_cutoff_used": cutoff,
        "high_watch_threshold": float(high_watch_threshold),
        "outcome_horizon_days": float(H),
        "watch_ratio_cap": float(watch_ratio_cap),
        "mean_outcome": float(panel["outcome"].mean()) if len(panel) else float("nan"),
    }
    return PanelResult(panel=panel, summary=summary, cutoff_used=cutoff)
