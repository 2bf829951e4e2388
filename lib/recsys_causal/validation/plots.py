"""Figures of the simulation study: bias with Monte Carlo intervals, coverage against 95%."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.validation.metrics import nominal_coverage_mcse

Z = 1.96


def _panels(n: int) -> tuple[int, int]:
    cols = 2 if n > 1 else 1
    return int(np.ceil(n / cols)), cols


def _label(r: pd.Series) -> str:
    est = str(r["estimator"])
    if r.get("world") == "interference" and str(r.get("estimand", "ATE")) != "ATE":
        est = f"{est}: {r['estimand']}"
    return est


def plot_bias(summary: pd.DataFrame, scenarios: list[str], titles: dict[str, str] | None = None) -> Any:
    """One panel per scenario: each estimator's bias with a 95% Monte Carlo interval; 0 dashed."""
    from recsys_causal.style import PALETTE, new_figure

    rows, cols = _panels(len(scenarios))
    fig, axes = new_figure(rows, cols, height=2.6 * rows + 0.6, squeeze=False)
    for ax, key in zip(axes.ravel(), scenarios, strict=False):
        s = summary[summary["scenario"].eq(key)].drop_duplicates(["estimator", "estimand"])
        labels = [_label(r) for _, r in s.iterrows()]
        y = np.arange(len(s))[::-1]
        colors = [PALETTE[0] if abs(b) < 3 * m else PALETTE[3] for b, m in zip(s["bias"], s["bias_mcse"], strict=True)]
        ax.errorbar(s["bias"], y, xerr=Z * s["bias_mcse"], fmt="none", ecolor="grey", elinewidth=1, capsize=2)
        ax.scatter(s["bias"], y, color=colors, zorder=3, s=18)
        ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=7)
        ax.set_title((titles or {}).get(key, key), fontsize=9)
        ax.set_xlabel("bias (estimate - truth)", fontsize=8)
    for ax in axes.ravel()[len(scenarios):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_coverage(summary: pd.DataFrame, scenarios: list[str], titles: dict[str, str] | None = None,
                  level: float = 0.95) -> Any:
    """One panel per scenario: coverage of each interval with a 95% Monte Carlo interval.

    The shaded band is level ± 1.96 x the Monte Carlo SE of a perfectly calibrated interval
    at this number of replicates: a calibrated method lands inside it 95% of the time.
    """
    from recsys_causal.style import PALETTE, new_figure

    rows, cols = _panels(len(scenarios))
    fig, axes = new_figure(rows, cols, height=2.9 * rows + 0.6, squeeze=False)
    inferences = list(dict.fromkeys(summary["inference"]))
    markers = dict(zip(inferences, ["o", "s", "^", "D", "v"], strict=False))
    colors = dict(zip(inferences, PALETTE, strict=False))
    for ax, key in zip(axes.ravel(), scenarios, strict=False):
        s = summary[summary["scenario"].eq(key)]
        names = list(dict.fromkeys(_label(r) for _, r in s.iterrows()))
        pos = {n: i for i, n in enumerate(names[::-1])}
        for inf, g in s.groupby("inference", sort=False):
            y = np.array([pos[_label(r)] for _, r in g.iterrows()], dtype=float)
            off = 0.15 * (inferences.index(inf) - (len(inferences) - 1) / 2)
            ax.errorbar(g["coverage"], y + off, xerr=Z * g["coverage_mcse"], fmt=markers.get(inf, "o"),
                        color=colors.get(inf, "black"), markersize=4, elinewidth=1, capsize=2, label=inf)
        r = int(s["n_replicates"].max()) if len(s) else 1
        m = nominal_coverage_mcse(max(r, 1), level)
        ax.axvspan(level - Z * m, min(1.0, level + Z * m), color="grey", alpha=0.15, linewidth=0)
        ax.axvline(level, color="black", linestyle="--", linewidth=0.8)
        ax.set_yticks(list(pos.values()))
        ax.set_yticklabels(list(pos.keys()), fontsize=7)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title((titles or {}).get(key, key), fontsize=9)
        ax.set_xlabel("coverage of the 95% interval", fontsize=8)
    for ax in axes.ravel()[len(scenarios):]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7, frameon=False,
                   bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_replicate_estimates(replicates: pd.DataFrame, scenario: str, estimators: list[str] | None = None) -> Any:
    """Spread of the replicate errors (estimate - truth) of each estimator in one scenario."""
    from recsys_causal.style import PALETTE, new_figure

    r = replicates[replicates["scenario"].eq(scenario)].drop_duplicates(["replicate", "estimator", "estimand"])
    names = estimators or list(dict.fromkeys(r["estimator"]))
    fig, ax = new_figure(height=0.35 * len(names) + 1.2)
    for i, name in enumerate(names[::-1]):
        e = r.loc[r["estimator"].eq(name), "error"].to_numpy(float)
        ax.scatter(e, np.full(len(e), i) + np.linspace(-0.2, 0.2, len(e)), s=8, alpha=0.6, color=PALETTE[i % len(PALETTE)])
    ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names[::-1], fontsize=7)
    ax.set_xlabel("estimate - truth, one point per replicate")
    fig.tight_layout()
    return fig
