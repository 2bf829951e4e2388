"""Tables, figures and sentences of chapter longterm_01 (data and the user-day panel).

Each function takes the chapter's artifacts (panel, summary) and returns one table, one figure
or one sentence computed from the numbers, so the chapter never types a number by hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.describe import format_number
from recsys_causal.style import ARM_COLORS, ORACLE_COLOR, PALETTE, new_figure


def _metric(summary: pd.DataFrame, name: str, default: float = float("nan")) -> float:
    hit = summary.loc[summary["metric"].eq(name), "value"]
    return float(hit.iloc[0]) if len(hit) else default


def fmt(x: Any, digits: int = 3) -> str:
    """A number for text and tables: counts as integers with separators, others via format_number."""
    if isinstance(x, str):
        return x
    x = float(x)
    if np.isfinite(x) and x == round(x) and abs(x) < 1e15:
        return f"{int(round(x)):,}"
    return format_number(x, digits)


def display_table(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Copy of `df` for display: every float cell through `fmt` (counts as integers)."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]) or out[c].dtype == object:
            out[c] = [fmt(v, digits) if not (isinstance(v, float) and np.isnan(v)) else "" for v in out[c]]
    return out.reset_index(drop=True)


def _pct(x: float, digits: int = 1) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.{digits}f}%"


# ----------------------------------------------------------------------------------------------
# Load report and exclusions
# ----------------------------------------------------------------------------------------------
LOAD_ROWS = (
    ("rows_read", "rows read from the file"),
    ("rows_dropped_missing_date", "rows dropped: empty time/date/timestamp"),
    ("duplicate_rows", "rows repeating an earlier (user, video, time)"),
    ("duplicates_removed", "duplicates removed (duplicate_policy)"),
    ("rows_kept", "rows kept"),
    ("rows_watch_ratio_above_threshold", "rows with watch_ratio above the outlier threshold (kept)"),
    ("watch_ratio_outlier_threshold", "outlier threshold of watch_ratio"),
    ("max_watch_ratio", "largest watch_ratio"),
    ("users_loaded", "users"),
)


def load_report_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The loader's counts as a two-column table (what was read, dropped and flagged)."""
    return pd.DataFrame({"quantity": [lab for _, lab in LOAD_ROWS],
                         "value": [_metric(summary, k) for k, _ in LOAD_ROWS]})


def describe_load_report(summary: pd.DataFrame) -> str:
    read, drop = _metric(summary, "rows_read"), _metric(summary, "rows_dropped_missing_date")
    dups, removed = _metric(summary, "duplicate_rows"), _metric(summary, "duplicates_removed")
    out, thr = _metric(summary, "rows_watch_ratio_above_threshold"), _metric(summary, "watch_ratio_outlier_threshold")
    cap = _metric(summary, "watch_ratio_cap")
    return (
        f"Of {fmt(read)} rows, {fmt(drop)} had no time and were dropped, "
        f"{fmt(dups)} repeated an earlier play ({fmt(removed)} removed), and "
        f"{fmt(out)} ({_pct(out / read if read else float('nan'), 2)}) have a watch ratio above "
        f"{fmt(thr)}; they are kept, but daily averages cap watch ratios at {fmt(cap)}."
    )


EXCLUSION_ROWS = (
    ("active_user_days", "active user-days"),
    ("excluded_incomplete_prior_window", "excluded: fewer than 3 days of history"),
    ("excluded_incomplete_outcome_window", "excluded: outcome window runs past the data"),
    ("panel_rows", "kept in the panel"),
)


def exclusion_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Active user-days, the two exclusions, and the rows kept."""
    return pd.DataFrame({"user-days": [lab for _, lab in EXCLUSION_ROWS],
                         "count": [_metric(summary, k) for k, _ in EXCLUSION_ROWS]})


def describe_exclusions(summary: pd.DataFrame) -> str:
    act = _metric(summary, "active_user_days")
    pri, fut = _metric(summary, "excluded_incomplete_prior_window"), _metric(summary, "excluded_incomplete_outcome_window")
    kept = _metric(summary, "panel_rows")
    h = int(_metric(summary, "outcome_horizon_days", 7))
    return (
        f"{fmt(kept)} of {fmt(act)} active user-days ({_pct(kept / act if act else float('nan'))}) "
        f"enter the panel: {fmt(pri)} lack three days of history and {fmt(fut)} lie in the "
        f"last {h} days of the data, where the {h}-day outcome is not observed."
    )


# ----------------------------------------------------------------------------------------------
# Panel shape and treatment
# ----------------------------------------------------------------------------------------------
def panel_overview_table(panel: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Rows, users, days, treatment rate and outcome mean of the panel."""
    rows = [
        ("rows (user-days)", float(len(panel))),
        ("users", float(panel["user_id"].nunique())),
        ("days", float(panel["event_date"].nunique())),
        ("first day", pd.Timestamp(panel["event_date"].min()).strftime("%Y-%m-%d") if len(panel) else ""),
        ("last day", pd.Timestamp(panel["event_date"].max()).strftime("%Y-%m-%d") if len(panel) else ""),
        ("treatment cutoff (high-watch share)", _metric(summary, "treatment_cutoff_used")),
        ("treatment rate", float(panel["treatment"].mean()) if len(panel) else float("nan")),
        ("mean outcome (interactions, next days)", float(panel["outcome"].mean()) if len(panel) else float("nan")),
    ]
    return pd.DataFrame({"quantity": [r[0] for r in rows],
                         "value": [fmt(v) for _, v in rows]})


def describe_panel(panel: pd.DataFrame, summary: pd.DataFrame) -> str:
    return (
        f"The panel has {fmt(float(len(panel)))} user-days from {fmt(float(panel['user_id'].nunique()))} users "
        f"over {panel['event_date'].nunique()} days; {_pct(float(panel['treatment'].mean()))} of them are high-watch days "
        f"(high-watch share at least {fmt(_metric(summary, 'treatment_cutoff_used'))})."
    )


def treatment_by_day(panel: pd.DataFrame) -> pd.DataFrame:
    """Per calendar day: panel rows and the share of treated user-days."""
    g = panel.groupby("event_date", sort=True)
    out = g.agg(rows=("treatment", "size"), treatment_rate=("treatment", "mean")).reset_index()
    out["day_of_week"] = pd.to_datetime(out["event_date"]).dt.day_name()
    return out


def plot_treatment_by_day(by_day: pd.DataFrame, overall: float) -> Any:
    fig, ax = new_figure(height=3.2)
    ax.plot(pd.to_datetime(by_day["event_date"]), by_day["treatment_rate"], marker="o", ms=3, color=PALETTE[0])
    ax.axhline(overall, color=ORACLE_COLOR, lw=1, ls="--", label=f"overall {_pct(overall)}")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of user-days treated")
    ax.set_xlabel("day")
    ax.legend(loc="lower right")
    fig.autofmt_xdate()
    return fig


def describe_treatment_by_day(by_day: pd.DataFrame) -> str:
    lo = by_day.loc[by_day["treatment_rate"].idxmin()]
    hi = by_day.loc[by_day["treatment_rate"].idxmax()]
    return (
        f"The daily treatment rate ranges from {_pct(lo['treatment_rate'])} "
        f"({pd.Timestamp(lo['event_date']).strftime('%Y-%m-%d')}) to {_pct(hi['treatment_rate'])} "
        f"({pd.Timestamp(hi['event_date']).strftime('%Y-%m-%d')}), so calendar time is kept as a covariate."
    )


# ----------------------------------------------------------------------------------------------
# Outcome
# ----------------------------------------------------------------------------------------------
def outcome_distribution(panel: pd.DataFrame) -> pd.DataFrame:
    """Quantiles of the outcome by arm and overall."""
    rows = []
    for label, part in (("control", panel[panel["treatment"].eq(0)]), ("treated", panel[panel["treatment"].eq(1)]), ("all", panel)):
        y = part["outcome"].to_numpy(dtype=float)
        q = np.quantile(y, [0.05, 0.25, 0.5, 0.75, 0.95]) if len(y) else [np.nan] * 5
        rows.append({"arm": label, "rows": float(len(y)), "mean": float(y.mean()) if len(y) else np.nan,
                     "sd": float(y.std(ddof=1)) if len(y) > 1 else np.nan, "p05": q[0], "p25": q[1],
                     "median": q[2], "p75": q[3], "p95": q[4], "share_zero": float((y == 0).mean()) if len(y) else np.nan})
    return pd.DataFrame(rows)


def plot_outcome_distribution(panel: pd.DataFrame) -> Any:
    fig, ax = new_figure(height=3.2)
    y = panel["outcome"].to_numpy(dtype=float)
    bins = np.linspace(0, np.quantile(y, 0.99) if len(y) else 1, 50)
    for arm, label in ((0, "control"), (1, "treated")):
        ax.hist(panel.loc[panel["treatment"].eq(arm), "outcome"].clip(upper=bins[-1]), bins=bins, alpha=0.55,
                density=True, color=ARM_COLORS[label], label=label)
    ax.set_xlabel("interactions over the outcome window")
    ax.set_ylabel("density")
    ax.legend()
    return fig


def describe_outcome(dist: pd.DataFrame) -> str:
    t = dist.set_index("arm")
    diff = t.loc["treated", "mean"] - t.loc["control", "mean"]
    return (
        f"The median user-day is followed by {fmt(t.loc['all', 'median'])} interactions; treated days are "
        f"followed by {fmt(abs(diff))} {'more' if diff >= 0 else 'fewer'} on average than control days, "
        f"a raw difference that mixes the effect with who gets treated."
    )


# ----------------------------------------------------------------------------------------------
# Confounding
# ----------------------------------------------------------------------------------------------
def treatment_by_prior_quartile(panel: pd.DataFrame, column: str = "prior_3day_high_watch_share") -> pd.DataFrame:
    """Treatment rate and outcome by quartile of a history feature (ordered, readable labels)."""
    ranks = panel[column].rank(method="first")
    q = pd.qcut(ranks, 4, labels=False) if len(panel) >= 4 else pd.Series(np.zeros(len(panel), int))
    g = panel.assign(_q=np.asarray(q)).groupby("_q", sort=True)
    out = g.agg(rows=("treatment", "size"), low=(column, "min"), high=(column, "max"),
                treatment_rate=("treatment", "mean"), mean_outcome=("outcome", "mean")).reset_index()
    out.insert(0, "quartile", pd.Categorical([f"Q{i + 1}" for i in out["_q"]], categories=["Q1", "Q2", "Q3", "Q4"], ordered=True))
    out["range"] = [f"{lo:.2f} to {hi:.2f}" for lo, hi in zip(out["low"], out["high"], strict=True)]
    return out[["quartile", "range", "rows", "treatment_rate", "mean_outcome"]].astype({"rows": "float64"})


def describe_confounding(table: pd.DataFrame) -> str:
    first, last = table.iloc[0], table.iloc[-1]
    return (
        f"Users whose last three days had few high-watch plays are treated on {_pct(first['treatment_rate'])} of days, "
        f"those in the top quartile on {_pct(last['treatment_rate'])}: recent history drives treatment, so history "
        f"must be adjusted for."
    )


# ----------------------------------------------------------------------------------------------
# Oracle
# ----------------------------------------------------------------------------------------------
def oracle_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = [("true ATE (oracle)", _metric(summary, "oracle_ate")),
            ("true ATT (oracle)", _metric(summary, "oracle_att")),
            ("mean y0 (oracle)", _metric(summary, "oracle_mean_y0")),
            ("naive difference in means", _metric(summary, "naive_difference_in_means")),
            ("oracle and panel agree on treatment", _metric(summary, "oracle_treatment_agreement"))]
    return pd.DataFrame({"quantity": [r[0] for r in rows], "value": [r[1] for r in rows]})


def describe_oracle(summary: pd.DataFrame) -> str:
    if _metric(summary, "simulated", 0.0) < 0.5:
        return "This run uses real data, so there is no oracle: the true effect is unknown."
    ate, y0 = _metric(summary, "oracle_ate"), _metric(summary, "oracle_mean_y0")
    naive = _metric(summary, "naive_difference_in_means")
    h = int(_metric(summary, "outcome_horizon_days", 7))
    return (
        f"In this simulated world a high-watch day changes the next {h} days' interactions by "
        f"{fmt(ate)} on average ({_pct(ate / y0 if y0 else float('nan'))} of the control mean), while the "
        f"naive treated-minus-control difference is {fmt(naive)}: the gap is confounding the later "
        f"chapters must remove."
    )
