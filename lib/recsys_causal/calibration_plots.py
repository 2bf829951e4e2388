"""The calibration figure of a CATE model (both tracks): GATES beside the Qini curve, report style."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.style import ORACLE_COLOR, PALETTE, new_figure

ESTIMATE_COLOR = PALETTE[0]
PREDICTED_COLOR = PALETTE[1]
BEST_COLOR = PALETTE[2]


def plot_calibration(gates: pd.DataFrame, qini: pd.DataFrame, effect_label: str = "Effect") -> Any:
    """Left: per predicted-CATE group, the AIPW mean with its 95% interval, the mean prediction
    and (when known) the true mean. Right: the Qini curve (gain over a random ranking) with its
    pointwise 95% band and (when known) the same ranking's and the best ranking's true curves."""
    fig, (ax, bx) = new_figure(1, 2, height=3.6)
    g = gates[gates["group_order"] > 0].sort_values("group_order")
    x = np.arange(len(g))
    est = g["gates_estimate"].to_numpy(dtype=float)
    err = np.vstack([est - g["ci_95_lower"].to_numpy(dtype=float), g["ci_95_upper"].to_numpy(dtype=float) - est])
    ax.errorbar(x - 0.08, est, yerr=err, fmt="o", color=ESTIMATE_COLOR, capsize=3, label="AIPW mean (95% CI)")
    ax.scatter(x + 0.08, g["mean_predicted_cate"], marker="s", color=PREDICTED_COLOR, s=22, zorder=3,
               label="mean prediction")
    if "oracle_gates" in g.columns and g["oracle_gates"].notna().all():
        ax.scatter(x + 0.08, g["oracle_gates"], marker="D", color=ORACLE_COLOR, s=20, zorder=4, label="true mean")
    ax.axhline(0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, g["group"].astype(str))
    ax.set_xlabel("Group of predicted effect (lowest to highest)")
    ax.set_ylabel(effect_label)
    ax.set_title("Sorted group effects (GATES)")
    ax.legend(fontsize=7, loc="best")

    u = qini["share_treated"].to_numpy(dtype=float)
    bx.fill_between(u, qini["ci_95_lower"], qini["ci_95_upper"], color=ESTIMATE_COLOR, alpha=0.18, linewidth=0,
                    label="95% pointwise band")
    bx.plot(u, qini["gain_over_random"], color=ESTIMATE_COLOR, marker="o", markersize=3, label="model ranking (AIPW)")
    if "oracle_gain_over_random" in qini.columns and qini["oracle_gain_over_random"].notna().all():
        bx.plot(u, qini["oracle_gain_over_random"], color=ORACLE_COLOR, linestyle="--", label="model ranking (truth)")
        bx.plot(u, qini["best_ranking_gain_over_random"], color=BEST_COLOR, linestyle=":", label="best ranking (truth)")
    bx.axhline(0, color="grey", linewidth=0.8, linestyle="--")
    bx.set_xlabel("Share treated, highest predictions first")
    bx.set_ylabel("Gain over a random ranking, per unit")
    bx.set_title("Qini curve")
    bx.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


__all__ = ["plot_calibration"]
