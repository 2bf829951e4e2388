"""Promotion lift by interpretable segments: focal position, substitutes, displacement, activity, cluster.

Each segment reports the randomized difference in means within the segment (an estimate any
analyst can make, with a Neyman 95% interval and a Bonferroni interval across all reported
segments), the mean out-of-fold predicted lift and, on simulated data, the oracle mean lift.
Buckets are ordered categoricals whose labels read like '1–2' or '6+' and sort numerically;
`segment_order` keeps that order in the CSV.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.inference import normal_quantile
from recsys_causal.interference.features import ORACLE, OUTCOME, TREATMENT, integer_buckets
from recsys_causal.interference.randomized import difference_in_means

SEGMENT_TYPES: tuple[str, ...] = (
    "focal_position_bucket",
    "same_cluster_count_bucket",
    "displaced_count_bucket",
    "user_activity_bucket",
    "focal_cluster",
)
SEGMENT_TITLES: dict[str, str] = {
    "focal_position_bucket": "Focal seed position",
    "same_cluster_count_bucket": "Same-cluster competitors",
    "displaced_count_bucket": "Items displaced",
    "user_activity_bucket": "User activity quartile",
    "focal_cluster": "Focal cluster",
}


def activity_quartiles(n_ratings: pd.Series) -> pd.Series:
    """Quartiles of user activity (ties split by order) labelled with their rating-count range."""
    ranks = n_ratings.rank(method="first")
    q = pd.qcut(ranks, 4, labels=False).astype(int)
    labels = []
    for k in range(4):
        part = n_ratings[q == k]
        labels.append(f"Q{k + 1}: {int(part.min())}–{int(part.max())} ratings" if len(part) else f"Q{k + 1}")
    return pd.Series(pd.Categorical.from_codes(q.to_numpy(), dtype=pd.CategoricalDtype(labels, ordered=True)),
                     index=n_ratings.index)


def segment_frame(table: pd.DataFrame, predicted_lift: np.ndarray) -> pd.DataFrame:
    """The modelling table's segment columns plus the predicted lift (and oracle, when present)."""
    cols = ["slate_id", TREATMENT, OUTCOME, "focal_seed_position", "focal_position_bucket",
            "focal_spillover_cluster", "same_cluster_competitor_count", "displaced_candidate_count",
            "n_ratings", *([ORACLE] if ORACLE in table else [])]
    frame = table[cols].copy()
    clusters = frame["focal_spillover_cluster"].astype("string").fillna("unknown")
    return frame.assign(
        predicted_lift=np.asarray(predicted_lift, dtype=float),
        same_cluster_count_bucket=integer_buckets(frame["same_cluster_competitor_count"],
                                                  [(0, 0), (1, 2), (3, 5), (6, None)]),
        displaced_count_bucket=integer_buckets(frame["displaced_candidate_count"], [(0, 4), (5, 7), (8, None)]),
        user_activity_bucket=activity_quartiles(frame["n_ratings"].astype(float)),
        focal_cluster=pd.Categorical(clusters, categories=sorted(clusters.unique()), ordered=True),
    )


def summarize_segments(frame: pd.DataFrame, min_slates: int, level: float = 0.95) -> pd.DataFrame:
    """One row per segment with at least `min_slates` slates and two slates in each arm."""
    z = normal_quantile(level)
    rows = []
    for seg_type in SEGMENT_TYPES:
        col = frame[seg_type]
        for order, label in enumerate(col.cat.categories):
            part = frame[col.eq(label).fillna(False).to_numpy()]
            n1 = int(part[TREATMENT].sum())
            n0 = len(part) - n1
            if len(part) < min_slates or n1 < 2 or n0 < 2:
                continue
            res = difference_in_means(part[OUTCOME].to_numpy(), part[TREATMENT].to_numpy())
            est, se = float(res.estimate[0]), float(res.se[0])
            row: dict[str, Any] = {
                "segment_type": seg_type, "segment": str(label), "segment_order": order,
                "slates": len(part), "treated_slates": n1, "control_slates": n0,
                "dim_estimate": est, "dim_se": se, "ci_95_lower": est - z * se, "ci_95_upper": est + z * se,
                "mean_predicted_lift": float(part["predicted_lift"].mean()),
            }
            if ORACLE in part:
                row.update(mean_true_lift=float(part[ORACLE].mean()),
                           share_positive_true_lift=float((part[ORACLE] > 0).mean()))
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    zb = normal_quantile(1 - (1 - level) / len(out))
    out["ci_bonferroni_lower"] = out["dim_estimate"] - zb * out["dim_se"]
    out["ci_bonferroni_upper"] = out["dim_estimate"] + zb * out["dim_se"]
    if "mean_true_lift" in out:
        out["ci_95_covers_oracle"] = out["ci_95_lower"].le(out["mean_true_lift"]) & out["ci_95_upper"].ge(out["mean_true_lift"])
    return out


def heterogeneity_table(table: pd.DataFrame, predicted_lift: np.ndarray, min_slates: int) -> pd.DataFrame:
    """Segment summaries of the modelling table (see module docstring)."""
    return summarize_segments(segment_frame(table, predicted_lift), min_slates)


def plot_heterogeneity(het: pd.DataFrame, segment_types: tuple[str, ...] = SEGMENT_TYPES[:4]) -> Any:
    """Per segment type: randomized estimates with 95% CIs and (simulated data) oracle means."""
    from recsys_causal.style import ORACLE_COLOR, PALETTE, new_figure

    types = [s for s in segment_types if het["segment_type"].eq(s).any()]
    ncols = 2
    nrows = int(np.ceil(len(types) / ncols))
    fig, axes = new_figure(nrows, ncols, height=2.4 * nrows + 0.6, squeeze=False)
    for ax, seg in zip(axes.ravel(), types, strict=False):
        part = het[het["segment_type"].eq(seg)].sort_values("segment_order", ascending=False)
        ypos = np.arange(len(part))
        err = np.vstack([part["dim_estimate"] - part["ci_95_lower"], part["ci_95_upper"] - part["dim_estimate"]])
        ax.errorbar(part["dim_estimate"], ypos, xerr=err, fmt="o", color=PALETTE[0], capsize=2, markersize=4,
                    label="difference in means (95% CI)")
        ax.scatter(part["mean_predicted_lift"], ypos, marker="s", color=PALETTE[1], s=18, label="mean predicted lift")
        if "mean_true_lift" in part:
            ax.scatter(part["mean_true_lift"], ypos, marker="D", color=ORACLE_COLOR, s=18, label="oracle mean lift")
        ax.axvline(0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_yticks(ypos, part["segment"])
        ax.set_title(SEGMENT_TITLES[seg])
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes.ravel()[len(types):]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.supxlabel("Total-click lift per slate if promoted", y=0.06, fontsize=9)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, -0.01))
    return fig
