"""The interference track's summary (chapter interference_04): tables and sentences from artifacts.

Nothing here estimates anything: every function reads the tables earlier chapters wrote (observed
effects, product summary, AIPW, policies, takeaways) and turns them into the summary's tables,
figure and plain-language conclusion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.describe import format_number
from recsys_causal.interference.exposure import COMPONENT_LABELS
from recsys_causal.params import InterferenceParams

PER = 1000
DECOMPOSITION_ROWS: tuple[tuple[str, str], ...] = (
    ("direct_focal", "Direct: the promoted item"),
    ("same_cluster_competitor", "Indirect: same-cluster competitors"),
    ("other_competitor", "Indirect: other competitors"),
    ("all_competitors", "Indirect: all competitors"),
    ("total_slate", "Total: the whole slate"),
)


def _signed(x: float) -> str:
    s = format_number(float(x), 3)
    return s if s.startswith("-") or s == "0" else f"+{s}"


def design_table(params: InterferenceParams, component: pd.DataFrame, exposure: pd.DataFrame) -> pd.DataFrame:
    """The experiment's design in one table (unit, sizes, assignment, outcome, exposure roles)."""
    labels = exposure["exposure_label"].astype("string").value_counts()
    n = len(component)
    promoted = int(component["promotion_applied"].sum())
    logged = bool(getattr(params, "experiment_path", ""))
    if logged:
        from recsys_causal.interference.experiment_log import assignment_probability

        design = (f"{promoted:,} ({100 * promoted / n:.1f}%; a logged experiment, randomization probability "
                  f"{assignment_probability(params, component):.3g})")
        sizes = component.filter(like="item_count_").sum(axis=1)
        size_text = f"{int(sizes.min())}" if sizes.min() == sizes.max() else f"{int(sizes.min())} to {int(sizes.max())}"
        focal = f"{int(component['focal_seed_position'].min())} to {int(component['focal_seed_position'].max())}"
        outcome = "the log's outcome on every item of the slate (total and by exposure role)"
    else:
        design = (f"{promoted:,} ({100 * promoted / n:.1f}%; complete randomization, "
                  f"probability {params.promotion_probability:g})")
        size_text = f"{params.slate_size}"
        focal = f"{params.focal_min_position} to {params.focal_max_position}"
        outcome = "simulated clicks on every item of the slate (total and by exposure role)"
    rows = [
        ("Unit of randomization", "the slate (one per sampled user)" if not logged else "the slate"),
        ("Slates", f"{n:,}"),
        ("Promoted slates", design),
        ("Items per slate", size_text),
        ("Focal item's seed position", focal),
        ("Treatment", "move the focal item to position 1; items above it move down one place"),
        ("Outcome", outcome),
    ]
    for key, label in COMPONENT_LABELS.items():
        rows.append((f"Exposure role: {label.lower()}", f"{int(labels.get(key, 0)):,} item rows"))
    return pd.DataFrame(rows, columns=["aspect", "value"])


def decomposition_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Direct, indirect and total effects per 1,000 promoted slates, with CIs and the oracle."""
    e = effects.set_index("component")
    rows = []
    for key, label in DECOMPOSITION_ROWS:
        r = e.loc[key]
        rows.append({
            "effect": label,
            "per_1000_promoted_slates": PER * r["estimate"],
            "ci_95_lower": PER * r["ci_95_lower"],
            "ci_95_upper": PER * r["ci_95_upper"],
            "randomization_p_value": r["randomization_p_value"],
            **({"oracle_value": PER * r["oracle_value"],
                "covers_oracle": bool(r["covers_oracle"]) if pd.notna(r["covers_oracle"]) else pd.NA}
               if "oracle_value" in r else {}),
        })
    return pd.DataFrame(rows)


def describe_decomposition(decomp: pd.DataFrame) -> str:
    """Sentence: direct + indirect = total, and whether the intervals cover the oracle."""
    d = decomp.set_index("effect")
    direct = d.iloc[0]["per_1000_promoted_slates"]
    indirect = d.loc["Indirect: all competitors", "per_1000_promoted_slates"]
    total = d.iloc[-1]["per_1000_promoted_slates"]
    covered = decomp["covers_oracle"].dropna() if "covers_oracle" in decomp else pd.Series(dtype=bool)
    tail = f" {int(covered.sum())} of {len(covered)} intervals cover the simulator's true effect." if len(covered) else ""
    return (
        f"Per 1,000 promoted slates the promoted item gains {_signed(direct)} clicks, its competitors change by "
        f"{_signed(indirect)}, and the slate as a whole by {_signed(total)} (direct + indirect = total).{tail}"
    )


def plot_decomposition(decomp: pd.DataFrame) -> Any:
    """Bars of the direct, indirect and total effects with 95% CIs and oracle markers."""
    from recsys_causal.style import ORACLE_COLOR, PALETTE, new_figure

    d = decomp.iloc[::-1].reset_index(drop=True)
    y = np.arange(len(d))
    fig, ax = new_figure(height=0.55 * len(d) + 1.4)
    colors = [PALETTE[2] if v >= 0 else PALETTE[3] for v in d["per_1000_promoted_slates"]]
    ax.barh(y, d["per_1000_promoted_slates"], color=colors, alpha=0.75, height=0.6)
    err = np.vstack([d["per_1000_promoted_slates"] - d["ci_95_lower"], d["ci_95_upper"] - d["per_1000_promoted_slates"]])
    ax.errorbar(d["per_1000_promoted_slates"], y, xerr=err, fmt="none", color="black", capsize=3, label="95% CI")
    if "oracle_value" in d and d["oracle_value"].notna().any():
        ax.scatter(d["oracle_value"], y, marker="D", color=ORACLE_COLOR, s=22, zorder=3, label="oracle")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, d["effect"])
    ax.set_xlabel("Change in clicks per 1,000 promoted slates")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def policy_summary(policy: pd.DataFrame) -> pd.DataFrame:
    """The policy table reduced to what a reader needs: selection, oracle and DR estimate."""
    cols = ["policy", "selected_slates", "oracle_lift_per_1000_eligible_slates", "dr_per_1000_eligible",
            "dr_per_1000_eligible_ci_lower", "dr_per_1000_eligible_ci_upper", "oracle_gain_vs_promote_all_per_1000_eligible",
            "dr_gain_vs_promote_all_per_1000_eligible", "oracle_lift_per_1000_selected_slates", "dr_per_1000_selected"]
    return policy[[c for c in cols if c in policy]].copy()


def plain_conclusion(effects: pd.DataFrame, aipw: pd.DataFrame, policy: pd.DataFrame) -> str:
    """The track's conclusion in plain language, every number from the artifacts."""
    from recsys_causal.interference.takeaways import best_deployable

    e = effects.set_index("component")
    direct, total = e.loc["direct_focal"], e.loc["total_slate"]
    a = aipw.set_index("estimator")
    aipw_row = a.loc[a.index.str.contains("AIPW")].iloc[0]
    if total["ci_95_upper"] < 0:
        net = "costs the slate clicks overall"
    elif total["ci_95_lower"] > 0:
        net = "adds clicks to the slate overall" + (
            ", fewer than the promoted item gains" if total["estimate"] < direct["estimate"] else "")
    else:
        net = "has a net effect on the slate that this experiment cannot distinguish from zero"
    naive = ("Judged by the promoted item alone, promotion looks like a win"
             if direct["estimate"] > 0 else "Even the promoted item does not gain")
    link = "and" if total["ci_95_lower"] > 0 and direct["estimate"] > 0 else "but"
    text = (
        f"{naive} ({_signed(PER * direct['estimate'])} clicks per 1,000 promoted slates), {link} counting "
        f"every item of the slate it {net} ({_signed(PER * total['estimate'])} per 1,000 promoted slates; "
        f"model-assisted AIPW: {_signed(PER * aipw_row['estimate'])}). "
    )
    col = "oracle_lift_per_1000_eligible_slates" if "oracle_lift_per_1000_eligible_slates" in policy else "dr_per_1000_eligible"
    best = best_deployable(policy, col)
    all_v = float(policy.iloc[0][col])
    if best["policy"] == policy.iloc[0]["policy"]:
        text += "Targeting by predicted lift does not beat promoting every slate in this world."
    elif best[col] > 0 and col == "dr_per_1000_eligible" and not best[f"{col}_ci_lower"] > 0:
        text += (f"The estimates favour a targeted rule ('{best['policy']}', {_signed(best[col])} clicks per "
                 f"1,000 eligible slates), but its interval includes zero: the experiment does not show "
                 f"that targeting adds value.")
    elif best[col] > 0:
        text += (f"A targeted rule ('{best['policy']}') does better than promoting every slate "
                 f"({_signed(best[col])} against {_signed(all_v)} clicks per 1,000 eligible slates), "
                 f"so the models add value here.")
    else:
        text += (f"No rule that promotes anything gains clicks: targeting ('{best['policy']}', "
                 f"{_signed(best[col])} per 1,000 eligible slates) only reduces the harm, and the "
                 f"best decision is not to promote.")
    return text
