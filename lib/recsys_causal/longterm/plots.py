"""Figures of the long-term estimation chapters (propensity, weights, balance, estimates)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.longterm.balance import SMD_THRESHOLD
from recsys_causal.style import ARM_COLORS, ORACLE_COLOR, PALETTE, new_figure


def plot_calibration(calibration: pd.DataFrame):
    """Observed treatment rate against mean predicted propensity, per model."""
    fig, ax = new_figure(height=4.2, width=4.8)
    for i, (model, g) in enumerate(calibration.groupby("model", sort=True)):
        ax.plot(g["mean_predicted"], g["observed_rate"], marker="o", color=PALETTE[i], label=model)
    lo = float(min(calibration["mean_predicted"].min(), calibration["observed_rate"].min()))
    hi = float(max(calibration["mean_predicted"].max(), calibration["observed_rate"].max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.set_xlabel("Mean predicted propensity (decile)")
    ax.set_ylabel("Observed share treated")
    ax.legend()
    return fig


def plot_overlap(treatment: np.ndarray, scores: dict[str, np.ndarray], bins: int = 40):
    """Histogram of each model's propensity by arm (one panel per model)."""
    a = np.asarray(treatment, dtype=int)
    fig, axes = new_figure(1, len(scores), height=3.4, sharey=True)
    axes = np.atleast_1d(axes)
    edges = np.linspace(0, 1, bins + 1)
    for ax, (name, e) in zip(axes, scores.items(), strict=True):
        for arm, label in ((1, "treated"), (0, "control")):
            ax.hist(np.asarray(e)[a == arm], bins=edges, alpha=0.55, color=ARM_COLORS[label],
                    label=label, density=True)
        for x in (0.05, 0.95):
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
        ax.set_title(name)
        ax.set_xlabel("Propensity e(X)")
    axes[0].set_ylabel("Density")
    axes[0].legend()
    return fig


def plot_love(balance: pd.DataFrame):
    """Love plot: |SMD| per covariate before and after weighting."""
    b = balance.assign(abs_before=balance["smd_unweighted"].abs(), abs_after=balance["smd_weighted"].abs())
    b = b.sort_values("abs_before")
    fig, ax = new_figure(height=max(3.0, 0.24 * len(b) + 1.0))
    y = np.arange(len(b))
    ax.scatter(b["abs_before"], y, color=PALETTE[3], label="unweighted", zorder=3)
    ax.scatter(b["abs_after"], y, color=PALETTE[0], marker="D", label="weighted", zorder=3)
    if "smd_weighted_untruncated" in b.columns:
        ax.scatter(b["smd_weighted_untruncated"].abs(), y, color=PALETTE[2], marker="x",
                   label="weighted, untruncated", zorder=3)
    ax.axvline(SMD_THRESHOLD, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(b["covariate"])
    ax.set_xlabel("|standardized mean difference|")
    ax.legend(loc="lower right")
    return fig


def plot_weights(treatment: np.ndarray, raw: np.ndarray, truncated: np.ndarray, bins: int = 50):
    """Distribution of stabilized weights before and after truncation, by arm (log x-axis)."""
    a = np.asarray(treatment, dtype=int)
    fig, axes = new_figure(1, 2, height=3.2, sharey=True)
    pos = np.concatenate([raw, truncated])
    edges = np.geomspace(max(pos.min(), 1e-3), pos.max(), bins + 1)
    for ax, (title, w) in zip(axes, (("stabilized", raw), ("stabilized, truncated", truncated)), strict=True):
        for arm, label in ((1, "treated"), (0, "control")):
            ax.hist(np.asarray(w)[a == arm], bins=edges, alpha=0.55, color=ARM_COLORS[label], label=label)
        ax.set_xscale("log")
        ax.set_title(title)
        ax.set_xlabel("weight")
    axes[0].set_ylabel("rows")
    axes[0].legend()
    return fig


def plot_estimates(table: pd.DataFrame, truth: float | None = None, xlabel: str = "Effect on next-7-day interactions"):
    """Forest plot of estimates with 95% intervals; the oracle as a vertical line."""
    t = table.dropna(subset=["ci_95_lower", "ci_95_upper"]).reset_index(drop=True)
    fig, ax = new_figure(height=1.0 + 0.55 * len(t))
    y = np.arange(len(t))[::-1]
    # an interval need not contain its point estimate (a shifted or skewed bootstrap): clip at 0
    lower = np.maximum(t["estimate"] - t["ci_95_lower"], 0.0)
    upper = np.maximum(t["ci_95_upper"] - t["estimate"], 0.0)
    ax.scatter(t["ci_95_lower"], y, marker="|", color="black")
    ax.scatter(t["ci_95_upper"], y, marker="|", color="black")
    ax.errorbar(t["estimate"], y, xerr=[lower, upper],
                fmt="o", color=PALETTE[0], ecolor="black", capsize=4)
    ax.axvline(0, color="grey", linewidth=1)
    if truth is not None:
        ax.axvline(truth, color=ORACLE_COLOR, linestyle="--", linewidth=1.5, label="simulation truth")
        ax.legend(loc="best")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{m}\n{k}" for m, k in zip(t["method"], t["model"], strict=True)])
    ax.set_xlabel(xlabel)
    return fig


def plot_cate_distribution(counterfactuals: pd.DataFrame, bins: int = 50):
    """Distribution of the row-level predicted effect y1 - y0, per outcome model."""
    fig, ax = new_figure(height=3.4)
    for i, (model, g) in enumerate(counterfactuals.groupby("model", sort=True)):
        ax.hist(g["cate_hat"], bins=bins, alpha=0.55, color=PALETTE[i], label=model)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_xlabel("Predicted y1 - y0 per user-day")
    ax.set_ylabel("rows")
    ax.legend()
    return fig

