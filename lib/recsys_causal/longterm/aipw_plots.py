"""Figures of chapter longterm_05 (and the summary): one function per figure, report style."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.longterm.aipw import pair_label
from recsys_causal.longterm.effect_model import ordered_buckets
from recsys_causal.longterm.segments import SEGMENT_SPECS, ordered_segments
from recsys_causal.style import ORACLE_COLOR, PALETTE, new_figure

EFFECT_LABEL = "Effect on interactions in the outcome window"


def _interval_plot(
    ax: Any,
    labels: list[str],
    est: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    colors: list[str] | str = PALETTE[0],
    horizontal: bool = True,
    offset: float = 0.0,
    label: str | None = None,
    marker: str = "o",
) -> None:
    """Point estimates with interval segments (drawn as lines, so an interval that does not
    contain its point estimate, as a percentile bootstrap interval may not, still plots)."""
    pos = np.arange(len(labels)) + offset
    cols = colors if isinstance(colors, list) else [colors] * len(labels)
    for i in range(len(labels)):
        seg = ([lo[i], hi[i]], [pos[i], pos[i]]) if horizontal else ([pos[i], pos[i]], [lo[i], hi[i]])
        ax.plot(*seg, color=cols[i], linewidth=1.6, solid_capstyle="butt")
        cap = 0.08
        for end in (lo[i], hi[i]):
            if horizontal:
                ax.plot([end, end], [pos[i] - cap, pos[i] + cap], color=cols[i], linewidth=1.2)
            else:
                ax.plot([pos[i] - cap, pos[i] + cap], [end, end], color=cols[i], linewidth=1.2)
        xy = (est[i], pos[i]) if horizontal else (pos[i], est[i])
        ax.plot(*xy, marker=marker, color=cols[i], linestyle="none", label=label if i == 0 else None)


def plot_aipw_pairs(results: pd.DataFrame) -> Any:
    """AIPW estimate of every nuisance pair with its fixed-nuisance bootstrap interval."""
    r = results.reset_index(drop=True)
    labels = [pair_label(p, o) + (" (primary)" if prim else "") for p, o, prim in zip(r["propensity_model"], r["outcome_model"], r["is_primary_aipw"], strict=True)]
    fig, ax = new_figure(height=0.55 * len(r) + 1.4)
    colors = [PALETTE[3] if p else PALETTE[0] for p in r["is_primary_aipw"]]
    _interval_plot(ax, labels, r["aipw_ate"].to_numpy(), r["ci_95_lower"].to_numpy(), r["ci_95_upper"].to_numpy(), colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"{EFFECT_LABEL} (95% user-cluster bootstrap, nuisances fixed)")
    ax.set_title("AIPW estimates across nuisance model pairs")
    fig.tight_layout()
    return fig


def plot_inference(table: pd.DataFrame, oracle: float | None = None) -> Any:
    """The primary AIPW estimate with its three 95% intervals."""
    t = table.reset_index(drop=True)
    short = {"fixed_nuisance": "Bootstrap,\nnuisances fixed", "influence_function": "Influence function,\nclustered by user",
             "refit": "Refit bootstrap"}
    labels = [short.get(k, k) for k in t["key"]]
    fig, ax = new_figure(height=0.6 * len(t) + 1.6)
    _interval_plot(ax, labels, t["estimate"].to_numpy(), t["ci_95_lower"].to_numpy(), t["ci_95_upper"].to_numpy(), [PALETTE[i] for i in range(len(t))])
    ax.axvline(0, color="black", linewidth=0.8)
    if oracle is not None:
        ax.axvline(oracle, color=ORACLE_COLOR, linestyle="--", linewidth=1.2, label=f"oracle ATE = {oracle:.2f}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    ax.set_yticks(range(len(t)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(EFFECT_LABEL)
    ax.set_title("Primary AIPW estimate: three ways to get an interval")
    fig.tight_layout()
    return fig


def plot_estimator_comparison(comparison: pd.DataFrame) -> Any:
    """MSM, g-computation, AIPW (and trimmed AIPW) with intervals; the oracle as a dashed line."""
    is_oracle = comparison["role"].eq("oracle") if "role" in comparison.columns else comparison["method"].str.contains("oracle", case=False)
    est = comparison[~is_oracle].reset_index(drop=True)
    short = [str(mod).split("; ")[-1] for mod in est["model"]]
    labels = [f"{m}\n{mod}" if len(mod) <= 45 else f"{m}\n{mod[:42]}..." for m, mod in zip(est["method"], short, strict=True)]
    roles = est["role"] if "role" in est.columns else pd.Series("estimate", index=est.index)
    colors = [PALETTE[3] if str(m).startswith("Doubly") else (PALETTE[5] if r == "robustness" else PALETTE[0]) for m, r in zip(est["method"], roles, strict=True)]
    fig, ax = new_figure(height=0.7 * len(est) + 1.5)
    _interval_plot(ax, labels, est["estimate"].to_numpy(float), est["ci_95_lower"].to_numpy(float), est["ci_95_upper"].to_numpy(float), colors)
    ax.axvline(0, color="black", linewidth=0.8)
    if is_oracle.any():
        truth = float(comparison.loc[is_oracle, "estimate"].iloc[0])
        ax.axvline(truth, color=ORACLE_COLOR, linestyle="--", linewidth=1.2, label=f"oracle ATE = {truth:.2f}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"{EFFECT_LABEL} (95% interval)")
    ax.set_title("Long-term effect estimates across causal strategies")
    fig.tight_layout()
    return fig


def plot_segment_type(summary: pd.DataFrame, segment_type: str, overall: float | None = None) -> Any:
    """Segment effects of one type in numeric bucket order; survivors of the correction highlighted."""
    df = ordered_segments(summary[summary["passes_size_filter"].astype(bool)], segment_type)
    name = SEGMENT_SPECS.get(segment_type, (segment_type, segment_type))[1]
    fig, ax = new_figure(height=3.4)
    if df.empty:
        ax.text(0.5, 0.5, "no segment passes the size filter", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    colors = [PALETTE[3] if s else PALETTE[0] for s in df["survives_correction"].astype(bool)]
    labels = [str(s) for s in df["segment"]]
    _interval_plot(ax, labels, df["aipw_ate"].to_numpy(float), df["ci_95_lower"].to_numpy(float), df["ci_95_upper"].to_numpy(float), colors, horizontal=False)
    ax.axhline(0, color="black", linewidth=0.8)
    if overall is not None:
        ax.axhline(overall, color=PALETTE[1], linestyle=":", linewidth=1.2, label=f"overall AIPW = {overall:.2f}")
        ax.legend(loc="best")
    ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) <= 4 else 30, ha="right")
    ax.set_xlabel(name)
    ax.set_ylabel("Effect (interactions)")
    ax.set_title(f"AIPW effect by {name.lower()}")
    fig.tight_layout()
    return fig


def plot_effect_distributions(pred: pd.DataFrame, oracle_col: str = "oracle_cate") -> Any:
    """Raw AIPW scores vs smoothed effects (and the true effects on simulated data)."""
    import seaborn as sns

    fig, axes = new_figure(1, 2, height=3.4)
    raw = pred["aipw_score"].to_numpy(float)
    lo, hi = np.quantile(raw, [0.005, 0.995])
    sns.histplot(x=np.clip(raw, lo, hi), bins=60, color=PALETTE[5], ax=axes[0])
    axes[0].axvline(0, color="black", linewidth=0.8)
    axes[0].set_title("Raw AIPW scores (0.5-99.5% range)")
    axes[0].set_xlabel("AIPW score")
    sns.histplot(x=pred["smoothed_aipw_effect"].to_numpy(float), bins=40, color=PALETTE[2], ax=axes[1], label="smoothed (out-of-fold)", stat="density")
    if oracle_col in pred.columns and pred[oracle_col].notna().any():
        sns.histplot(x=pred[oracle_col].to_numpy(float), bins=40, color=ORACLE_COLOR, ax=axes[1], element="step", fill=False, label="true CATE", stat="density")
        axes[1].legend(loc="best")
    axes[1].axvline(0, color="black", linewidth=0.8)
    axes[1].set_title("Smoothed effect (DR-learner)")
    axes[1].set_xlabel("Predicted effect")
    fig.tight_layout()
    return fig


def plot_moderator_importance(importance: pd.DataFrame, top: int = 12) -> Any:
    """Gain share and held-out permutation importance of the effect smoother's covariates."""
    imp = importance.sort_values("gain_importance", ascending=False).head(top).iloc[::-1]
    fig, axes = new_figure(1, 2, height=0.3 * len(imp) + 1.6, sharey=True)
    y = np.arange(len(imp))
    axes[0].barh(y, imp["gain_share"], color=PALETTE[0])
    axes[0].set_yticks(y, list(imp["feature"]))
    axes[0].set_xlabel("Share of total gain")
    axes[0].set_title("LightGBM gain")
    axes[1].barh(y, imp["permutation_importance"], xerr=imp["permutation_importance_std"].fillna(0.0).abs(), color=PALETTE[1], ecolor="black")
    axes[1].axvline(0, color="black", linewidth=0.8)
    axes[1].set_xlabel("Increase in held-out MSE")
    axes[1].set_title("Permutation (held-out folds)")
    fig.tight_layout()
    return fig


def plot_effect_calibration(buckets: pd.DataFrame) -> Any:
    """Mean predicted effect vs mean held-out AIPW score per bucket, with the 45-degree line."""
    t = ordered_buckets(buckets)
    fig, ax = new_figure(height=3.8)
    x = t["mean_smoothed_effect"].to_numpy(float)
    y = t["mean_raw_aipw_score"].to_numpy(float)
    ax.vlines(x, t["raw_aipw_ci_95_lower"], t["raw_aipw_ci_95_upper"], color=PALETTE[0], linewidth=1.4)
    ax.plot(x, y, "o", color=PALETTE[0], label="held-out AIPW (95% CI)")
    if "mean_oracle_cate" in t.columns:
        ax.plot(x, t["mean_oracle_cate"].to_numpy(float), "s", color=ORACLE_COLOR, label="true mean effect")
    lim = [min(x.min(), np.nanmin(t["raw_aipw_ci_95_lower"])), max(x.max(), np.nanmax(t["raw_aipw_ci_95_upper"]))]
    ax.plot(lim, lim, linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    ax.axhline(0, color="black", linewidth=0.8)
    for xi, yi, lab in zip(x, y, t["smoothed_effect_bucket"].astype(str), strict=True):
        ax.annotate(lab.split(" ")[0], (xi, yi), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlabel("Mean smoothed effect in bucket")
    ax.set_ylabel("Mean held-out AIPW score")
    ax.set_title("Calibration of the smoothed effect by bucket")
    ax.legend(loc="best")
    fig.tight_layout()
    return fig
