"""User-history segments of the AIPW effect: ordered buckets, vectorized bootstrap, multiplicity.

Segments are quartile buckets of four pre-treatment history variables plus the day of week.
Bucket labels are ordered categoricals that read well ("Q1 (≤ 123)", "Q2 (> 123, ≤ 166)") and
sort numerically. A segment's effect is the mean primary AIPW score of its rows; the user-cluster
bootstrap of all segments of one type is one matrix product (count matrix x per-user sums of
score x segment indicator), and p-values are corrected for the number of segments looked at.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys_causal.bootstrap import BootstrapResult, cluster_bootstrap_mean
from recsys_causal.inference import two_sided_p_value
from recsys_causal.longterm.panel import DAYS_OF_WEEK

# segment type -> (source column, readable name)
SEGMENT_SPECS: dict[str, tuple[str, str]] = {
    "prior_interactions_bucket": ("prior_3day_interactions", "Prior 3-day interactions"),
    "prior_high_watch_bucket": ("prior_3day_high_watch_share", "Prior 3-day high-watch share"),
    "prior_watch_ratio_bucket": ("prior_3day_avg_watch_ratio", "Prior 3-day average watch ratio"),
    "lag_interactions_bucket": ("lag_1_interactions", "Previous-day interactions"),
    "day_of_week": ("day_of_week", "Day of week"),
}
MULTIPLICITY_METHODS = {"holm": ("holm", "Holm"), "bh": ("fdr_bh", "Benjamini-Hochberg")}


# ----------------------------------------------------------------------------------------------
# Buckets
# ----------------------------------------------------------------------------------------------
def format_number(value: float, decimals: int) -> str:
    """A number for a label: thousands separators, at most `decimals` decimals, no trailing zeros."""
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _edge_labels(interior: np.ndarray, prefix: str) -> list[str]:
    """Labels of the buckets cut at the sorted `interior` edges, with just enough decimals to differ."""
    k = len(interior) + 1
    if k == 1:
        return [f"{prefix}1 (all)"]
    span = float(np.max(np.abs(interior)))
    start = 0 if span >= 100 else (1 if span >= 10 else 2)
    for decimals in range(start, 12):
        e = [format_number(v, decimals) for v in interior]
        if len(set(e)) == len(e):
            break
    labels = [f"{prefix}1 (≤ {e[0]})"]
    labels += [f"{prefix}{i + 1} (> {e[i - 1]}, ≤ {e[i]})" for i in range(1, k - 1)]
    labels.append(f"{prefix}{k} (> {e[-1]})")
    return labels


def quantile_buckets(values: pd.Series | np.ndarray, q: int = 4, prefix: str = "Q") -> pd.Categorical:
    """Quantile buckets as an ordered categorical with numeric, readable labels.

    Intervals are right-closed, cut at the q-quantiles. Tied quantiles are merged (fewer than q
    buckets then), and a quantile equal to the minimum still separates "≤ min" from the rest.
    """
    x = np.asarray(values, dtype=float)
    if np.isnan(x).any():
        raise ValueError("cannot bucket a column with missing values")
    if len(x) == 0:
        raise ValueError("cannot bucket an empty column")
    qs = np.quantile(x, np.linspace(0.0, 1.0, q + 1))
    interior = np.unique(qs[1:-1])
    interior = interior[interior < x.max()]
    codes = np.searchsorted(interior, x, side="left").astype(np.int64)
    return pd.Categorical.from_codes(codes, categories=_edge_labels(interior, prefix), ordered=True)


def day_of_week_categorical(values: pd.Series | np.ndarray) -> pd.Categorical:
    """Day names as an ordered categorical Monday..Sunday (unknown names raise)."""
    s = pd.Series(values).astype(str)
    unknown = sorted(set(s) - set(DAYS_OF_WEEK))
    if unknown:
        raise ValueError(f"unknown day_of_week values {unknown}")
    return pd.Categorical(s, categories=list(DAYS_OF_WEEK), ordered=True)


def add_segment_columns(df: pd.DataFrame, q: int = 4) -> pd.DataFrame:
    """Add every segment column of SEGMENT_SPECS (ordered categoricals) to `df`."""
    cols = {}
    for seg_type, (source, _) in SEGMENT_SPECS.items():
        if source not in df.columns:
            raise ValueError(f"segment source column '{source}' is missing")
        cols[seg_type] = day_of_week_categorical(df[source]) if seg_type == "day_of_week" else quantile_buckets(df[source], q)
    return df.assign(**cols)


# ----------------------------------------------------------------------------------------------
# Segment effects
# ----------------------------------------------------------------------------------------------
def segment_bootstrap(
    values: np.ndarray,
    clusters: np.ndarray | pd.Series,
    segments: pd.Categorical | pd.Series,
    n_bootstrap: int,
    seed: int,
    counts: np.ndarray | None = None,
) -> BootstrapResult:
    """Mean of `values` within every category of `segments`, all categories in one bootstrap pass.

    The values are repeated once per category and the category indicators are the weights, so
    each replicate's segment mean is sum(count x indicator x value) / sum(count x indicator).
    A segment absent from a replicate gives NaN there (ignored by the percentile interval).
    """
    cat = pd.Categorical(segments)
    codes = np.asarray(cat.codes)
    k = len(cat.categories)
    ind = np.zeros((len(codes), k))
    ok = codes >= 0
    ind[np.nonzero(ok)[0], codes[ok]] = 1.0
    vals = np.repeat(np.asarray(values, dtype=float)[:, None], k, axis=1)
    return cluster_bootstrap_mean(vals, clusters, n_replicates=n_bootstrap, seed=seed, weights=ind, counts=counts)


def normal_p_values(estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Two-sided p-values of estimate / SE against a standard normal (NaN where SE is 0 or NaN)."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, est / se, np.nan)
    return two_sided_p_value(z)


def adjust_p_values(p: np.ndarray, method: str) -> np.ndarray:
    """Holm ('holm') or Benjamini-Hochberg ('bh') adjusted p-values; NaN entries stay NaN."""
    from statsmodels.stats.multitest import multipletests

    if method not in MULTIPLICITY_METHODS:
        raise ValueError(f"multiplicity method must be one of {sorted(MULTIPLICITY_METHODS)}, got '{method}'")
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method=MULTIPLICITY_METHODS[method][0])[1]
    return out


def segment_effects(
    data: pd.DataFrame,
    *,
    segment_types: Sequence[str] = tuple(SEGMENT_SPECS),
    score_col: str = "aipw_score",
    propensity_col: str = "propensity_logistic",
    min_rows: int = 100,
    min_users: int = 20,
    n_bootstrap: int = 400,
    seed: int = 0,
    counts: np.ndarray | None = None,
    multiplicity: str = "holm",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Segment AIPW effects with bootstrap CIs and multiplicity-adjusted p-values.

    `data` holds one row per user-day (user_id, treatment, outcome, the score, cate_hat, the
    propensity and the segment columns). Pass the same `counts` as the overall bootstrap to use
    the same draws. Returns the summary (every segment, with `passes_size_filter`; the
    correction is applied across all passing segments of all types) and the long replicate table.
    """
    summaries = []
    boots = []
    for seg_type in segment_types:
        cat = pd.Categorical(data[seg_type])
        if not cat.ordered:
            raise ValueError(f"segment column '{seg_type}' must be an ordered categorical")
        res = segment_bootstrap(data[score_col].to_numpy(), data["user_id"], cat, n_bootstrap, seed, counts)
        grouped = data.assign(_seg=cat).groupby("_seg", observed=False, sort=True)
        s = grouped.agg(
            rows=(score_col, "size"),
            users=("user_id", "nunique"),
            treatment_rate=("treatment", "mean"),
            observed_outcome_mean=("outcome", "mean"),
            aipw_ate=(score_col, "mean"),
            aipw_score_std=(score_col, "std"),
            gcomp_component=("cate_hat", "mean"),
            mean_propensity=(propensity_col, "mean"),
        ).reset_index(names="segment")
        s["segment"] = s["segment"].astype(str)
        s.insert(0, "segment_type", seg_type)
        s.insert(1, "segment_feature", SEGMENT_SPECS.get(seg_type, (seg_type, seg_type))[0])
        s.insert(3, "segment_order", np.arange(1, len(s) + 1))
        s["passes_size_filter"] = (s["rows"] >= min_rows) & (s["users"] >= min_users)
        fr = res.frame(list(s["segment"]))
        s["bootstrap_reps"] = fr["bootstrap_reps"].to_numpy()
        s["bootstrap_mean"] = fr["bootstrap_mean"].to_numpy()
        s["bootstrap_std"] = fr["bootstrap_std"].to_numpy()
        s["ci_95_lower"] = fr["ci_95_lower"].to_numpy()
        s["ci_95_upper"] = fr["ci_95_upper"].to_numpy()
        summaries.append(s[s["rows"] > 0])
        reps = res.replicates
        boots.append(
            pd.DataFrame(
                {
                    "segment_type": seg_type,
                    "segment": np.repeat(np.asarray(s["segment"], dtype=object), reps.shape[0]),
                    "segment_order": np.repeat(s["segment_order"].to_numpy(), reps.shape[0]),
                    "bootstrap_id": np.tile(np.arange(reps.shape[0]), reps.shape[1]),
                    "aipw_ate": reps.T.ravel(),
                }
            )
        )
    summary = pd.concat(summaries, ignore_index=True)
    summary["p_value"] = normal_p_values(summary["aipw_ate"], summary["bootstrap_std"])
    p_for_family = summary["p_value"].where(summary["passes_size_filter"])
    summary["p_adjusted"] = adjust_p_values(p_for_family.to_numpy(), multiplicity)
    summary["multiplicity_method"] = MULTIPLICITY_METHODS[multiplicity][1]
    summary["n_tests"] = int(summary["passes_size_filter"].sum())
    summary["ci_excludes_zero"] = (summary["ci_95_lower"] > 0) | (summary["ci_95_upper"] < 0)
    summary["survives_correction"] = summary["passes_size_filter"] & (summary["p_adjusted"] < 0.05)
    boot = pd.concat(boots, ignore_index=True)
    boot = boot[boot.set_index(["segment_type", "segment"]).index.isin(summary.set_index(["segment_type", "segment"]).index)]
    return summary, boot.reset_index(drop=True)


def ordered_segments(summary: pd.DataFrame, segment_type: str | None = None) -> pd.DataFrame:
    """Segment rows (e.g. read back from CSV) in numeric bucket order, `segment` as an ordered categorical."""
    df = summary if segment_type is None else summary[summary["segment_type"].eq(segment_type)]
    type_rank = {t: i for i, t in enumerate(SEGMENT_SPECS)}
    df = df.assign(_t=df["segment_type"].map(type_rank).fillna(len(type_rank)))
    df = df.sort_values(["_t", "segment_type", "segment_order"], kind="mergesort").drop(columns="_t")
    cats = list(dict.fromkeys(df["segment"].astype(str)))
    return df.assign(segment=pd.Categorical(df["segment"].astype(str), categories=cats, ordered=True)).reset_index(drop=True)


def describe_multiplicity(summary: pd.DataFrame) -> str:
    """How many reported segments look different from zero before and after the correction."""
    rep = summary[summary["passes_size_filter"].astype(bool)]
    n = len(rep)
    if n == 0:
        return "No segment passes the size filter, so no segment effect is reported."
    method = str(rep["multiplicity_method"].iloc[0])
    raw = int(rep["ci_excludes_zero"].sum())
    surv = rep[rep["survives_correction"].astype(bool)]
    dropped = len(summary) - n
    text = (
        f"{n} segments pass the size filter"
        + (f" ({dropped} smaller ones are not reported)" if dropped else "")
        + f"; {raw} of them have a 95% bootstrap interval that excludes zero before any correction, "
        f"about {0.05 * n:.1f} would be expected by chance alone if no segment differed from zero. "
    )
    if len(surv):
        names = "; ".join(f"{SEGMENT_SPECS.get(t, (t, t))[1]} {s}" for t, s in zip(surv["segment_type"], surv["segment"], strict=True))
        text += f"After the {method} correction across all {n} segments, {len(surv)} remain significant at 5%: {names}."
    else:
        text += f"After the {method} correction across all {n} segments, none remains significant at 5%."
    return text


def describe_segment_type(summary: pd.DataFrame, segment_type: str, digits: int = 1) -> str:
    """One sentence on the spread of effects across the buckets of one segment type."""
    df = ordered_segments(summary[summary["passes_size_filter"].astype(bool)], segment_type)
    name = SEGMENT_SPECS.get(segment_type, (segment_type, segment_type))[1]
    if df.empty:
        return f"No {name.lower()} segment passes the size filter."
    hi = df.loc[df["aipw_ate"].idxmax()]
    lo = df.loc[df["aipw_ate"].idxmin()]
    n_ex = int(df["ci_excludes_zero"].sum())
    n_surv = int(df["survives_correction"].sum())
    return (
        f"By {name.lower()}, segment effects range from {lo['aipw_ate']:.{digits}f} ({lo['segment']}) to "
        f"{hi['aipw_ate']:.{digits}f} ({hi['segment']}); {n_ex} of {len(df)} intervals exclude zero before "
        f"correction and {n_surv} {'survives' if n_surv == 1 else 'survive'} the multiplicity correction."
    )


def segment_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Reported segments (size filter passed) in numeric order, with readable names, for display."""
    df = ordered_segments(summary[summary["passes_size_filter"].astype(bool)])
    df = df.assign(segment_type=df["segment_type"].map(lambda t: SEGMENT_SPECS.get(t, (t, t))[1]))
    cols = ["segment_type", "segment", "rows", "users", "treatment_rate", "mean_propensity", "aipw_ate",
            "ci_95_lower", "ci_95_upper", "p_value", "p_adjusted", "survives_correction"]
    return df[cols].rename(columns={"segment_type": "segment type"})
