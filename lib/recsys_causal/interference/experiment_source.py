"""Sentences naming where the interference track's promotion experiment comes from.

Kept apart from `experiment_log` (which computes) so that editing the words re-runs nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys_causal.interference.experiment_log import LOG_FIELDS, assignment_probability, uses_log
from recsys_causal.params import InterferenceParams


def describe_experiment_source(params: InterferenceParams) -> str:
    """One sentence: the promotion experiment is simulated, or read from a log with this column mapping."""
    if not uses_log(params):
        return ("The promotion experiment is simulated: slates are randomized to promotion by the project's "
                "simulator and clicks drawn from its click model, so every estimate has a true value beside it.")
    cols = params.experiment_columns.model_dump()
    arms = params.experiment_arms
    mapping = ", ".join(f"{f} = `{cols[f]}`" for f in LOG_FIELDS)
    return (f"The promotion experiment is the logged experiment in `{Path(params.experiment_path).name}` "
            f"(columns: {mapping}; promoted arm `{arms.promoted}`, control arm `{arms.control}`); "
            "a log has no oracle, so no true values are shown.")


def describe_assignment_probability(params: InterferenceParams, component: pd.DataFrame) -> str:
    """One sentence: the randomization probability the estimators use, and whether it is known or estimated."""
    t = component["promotion_applied"].to_numpy(dtype=np.float64)
    n, n1 = len(t), int(t.sum())
    share = f"{n1:,} of {n:,} slates were promoted, {100 * n1 / n:.1f}%"
    prob = assignment_probability(params, component)
    if not uses_log(params):
        return (f"The randomization probability {prob:g} is the simulated design's (`interference.promotion_probability`, "
                f"complete randomization): {share}.")
    if params.experiment_probability == "estimate":
        return (f"The randomization probability is estimated from the log as the share of promoted slates, "
                f"{prob:.3f}: {share} (`interference.experiment_probability` = estimate).")
    return (f"The randomization probability {prob:g} is known from the design (`interference.experiment_probability`); "
            f"in the log {share}.")
