"""Sentences of the validation chapter about its evidence tables (prose only, no computation)."""

from __future__ import annotations

import pandas as pd


def describe_confounder(evidence: pd.DataFrame) -> str:
    """Sentence naming the strongest confounder, the strongest pull on treatment, and the proxies."""
    top = evidence.iloc[0]
    by_t = evidence.loc[evidence["treatment_coef"].abs().idxmax()]
    proxies = evidence[evidence["correlation_with_strongest"].abs().ge(0.8) & evidence["covariate"].ne(top["covariate"])]
    text = (f"On a default data set, `{top['covariate']}` has the largest confounding score (standardized pull on "
            f"treatment {top['treatment_coef']:.2f} times pull on the outcome {top['outcome_coef']:.2f})")
    if by_t["covariate"] != top["covariate"]:
        text += (f"; `{by_t['covariate']}` pulls harder on treatment ({by_t['treatment_coef']:.2f}) but barely on the "
                 f"outcome ({by_t['outcome_coef']:.2f}), so leaving it out would bias little")
    if len(proxies):
        text += (". Its near-copies in the logs (correlation 0.8 or more): "
                 + ", ".join(f"`{c}` ({r:.2f})" for c, r in zip(proxies["covariate"], proxies["correlation_with_strongest"], strict=True)))
    return text + "."


def describe_overlap(evidence: pd.DataFrame) -> str:
    """Sentence: share of extreme propensities in the default and weak-overlap settings."""
    g = evidence.groupby("setting", sort=False)["share_extreme"].max()
    (s0, v0), (s1, v1) = list(g.items())[:2]
    return (f"Out of fold, at most {100 * v0:.1f}% of rows have an estimated propensity outside [0.05, 0.95] in the "
            f"{s0.split(' (')[0]} setting, against {100 * v1:.1f}% with weak overlap: those rows get inverse weights "
            "above 20, or are clipped and truncated.")
