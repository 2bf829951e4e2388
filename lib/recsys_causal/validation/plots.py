"""Figures of the simulation study: bias with Monte Carlo intervals, coverage against 95%."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.validation.metrics import nominal_coverage_mcse

Z = 1.96


def _label(r: pd.Series) -> str:
    est = str(r["estimator"])
    if str(r.get("estimand", "ATE")) != "ATE":
        est = f"{est}: {r['estimand']}"
    return est


def _positions(summary: pd.DataFrame, scenarios: list[str]) -> dict[str, int]:
    s = summary[summary["scenario"].isin(scenarios)]
    names = list(dict.fromkeys(_label(r) for _, r in s.iterrows()))
    return {n: len(names) - 1 - i for i, n in enumerate(names)}


def _frame(n_panels: int, n_rows: int) -> tuple[Any, Any]:
    from recsys_causal.style import new_figure

    fig, axes = new_figure(1, n_panels, height=0.28 * n_rows + 1.4, sharey=True, squeeze=False)
    return fig, axes[0]


def plot_bias(summary: pd.DataFrame, scenarios: list[str], titles: dict[str, str] | None = None) -> Any:
    """One panel per scenario (shared rows): each estimator's bias with a 95% Monte Carlo interval.

    Red points are more than three Monte Carlo SEs from zero; each panel has its own x scale.
    """
    from recsys_causal.style import PALETTE

    pos = _positions(summary, scenarios)
    fig, axes = _frame(len(scenarios), len(pos))
    for ax, key in zip(axes, scenarios, strict=True):
        s = summary[summary["scenario"].eq(key)].drop_duplicates(["estimator", "estimand"])
        y = np.array([pos[_label(r)] for _, r in s.iterrows()], dtype=float)
        colors = [PALETTE[0] if abs(b) < 3 * m else PALETTE[3] for b, m in zip(s["bias"], s["bias_mcse"], strict=True)]
        ax.errorbar(s["bias"], y, xerr=Z * s["bias_mcse"], fmt="none", ecolor="grey", elinewidth=1, capsize=2)
        ax.scatter(s["bias"], y, color=colors, zorder=3, s=16)
        ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
        ax.set_title((titles or {}).get(key, key), fontsize=8)
        ax.tick_params(axis="x", labelsize=7, rotation=45)
    axes[0].set_yticks(list(pos.values()))
    axes[0].set_yticklabels(list(pos.keys()), fontsize=7)
    axes[len(axes) // 2].set_xlabel("bias (estimate - truth), outcome units", fontsize=8)
    fig.tight_layout()
    return fig


def plot_coverage(summary: pd.DataFrame, scenarios: list[str], titles: dict[str, str] | None = None,
                  level: float = 0.95) -> Any:
    """One panel per scenario (shared rows): coverage of each interval with a 95% Monte Carlo interval.

    The shaded band is level ± 1.96 x the Monte Carlo SE of a perfectly calibrated interval
    at this number of replicates: a calibrated method lands inside it 95% of the time.
    """
    from recsys_causal.style import PALETTE

    pos = _positions(summary, scenarios)
    fig, axes = _frame(len(scenarios), len(pos))
    inferences = list(dict.fromkeys(summary.loc[summary["scenario"].isin(scenarios), "inference"]))
    markers = dict(zip(inferences, ["o", "s", "^", "D", "v"], strict=False))
    colors = dict(zip(inferences, PALETTE, strict=False))
    for ax, key in zip(axes, scenarios, strict=True):
        s = summary[summary["scenario"].eq(key)]
        for inf, g in s.groupby("inference", sort=False):
            y = np.array([pos[_label(r)] for _, r in g.iterrows()], dtype=float)
            off = 0.18 * (inferences.index(inf) - (len(inferences) - 1) / 2)
            ax.errorbar(g["coverage"], y + off, xerr=Z * g["coverage_mcse"], fmt=markers.get(inf, "o"),
                        color=colors.get(inf, "black"), markersize=3.5, elinewidth=0.8, capsize=1.5, label=inf)
        r = int(s["n_replicates"].max()) if len(s) else 1
        m = nominal_coverage_mcse(max(r, 1), level)
        ax.axvspan(level - Z * m, min(1.0, level + Z * m), color="grey", alpha=0.2, linewidth=0)
        ax.axvline(level, color="black", linestyle="--", linewidth=0.8)
        ax.set_xlim(-0.03, 1.03)
        ax.set_xticks([0, 0.5, 1])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title((titles or {}).get(key, key), fontsize=8)
    axes[0].set_yticks(list(pos.values()))
    axes[0].set_yticklabels(list(pos.keys()), fontsize=7)
    axes[len(axes) // 2].set_xlabel("coverage of the 95% interval", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(3, len(labels)), fontsize=7, frameon=False,
                   bbox_to_anchor=(0.5, 0.0))
    return fig

