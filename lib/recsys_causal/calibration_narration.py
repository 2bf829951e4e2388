"""Sentences about a CATE model's calibration tests (BLP, GATES, Qini), computed from the tables.

Each sentence claims only what the interval supports: a heterogeneity coefficient whose
interval includes zero "cannot be told from no heterogeneity", however large its estimate.
"""

from __future__ import annotations

import math

import pandas as pd

from recsys_causal.calibration import BLP_SLOPE, QINI_COEFFICIENT, row_of
from recsys_causal.describe import format_number


def _n(x: float, digits: int = 2) -> str:
    return format_number(x, digits)


def _has_oracle(frame: pd.DataFrame) -> bool:
    return "oracle" in frame.columns and bool(frame["oracle"].notna().all())


def describe_blp(tests: pd.DataFrame, what: str = "the model's ranking") -> str:
    """What the heterogeneity coefficient says about the ranking, with its SE and interval."""
    s = row_of(tests, BLP_SLOPE)
    est, se, lo, hi = (float(s[c]) for c in ("estimate", "se", "ci_95_lower", "ci_95_upper"))
    if math.isnan(est):
        return f"The model predicts the same effect for every unit, so {what} cannot be tested."
    head = f"The heterogeneity coefficient (BLP slope) is {_n(est)} (SE {_n(se)}, 95% CI {_n(lo)} to {_n(hi)})"
    if lo > 0:
        text = f"{head}: {what} carries real signal about who gains more"
        if hi < 1:
            text += ", but the predicted differences are larger than the true ones (a calibrated model has slope 1)"
        elif lo > 1:
            text += ", and the true differences are larger than predicted (a calibrated model has slope 1)"
        else:
            text += ", and the interval is consistent with calibrated predictions (slope 1)"
    elif hi < 0:
        text = f"{head}: {what} orders units the wrong way round (higher predictions, lower effects)"
    else:
        text = f"{head}: the interval includes zero, so {what} cannot be told from no heterogeneity"
    return text + "."


def describe_tests(tests: pd.DataFrame, what: str = "the model's ranking", units: str = "units") -> str:
    """The BLP sentence, the Qini coefficient and, on simulated data, the truth beside both."""
    text = describe_blp(tests, what)
    q = row_of(tests, QINI_COEFFICIENT)
    qlo, qhi = float(q["ci_95_lower"]), float(q["ci_95_upper"])
    verdict = ("beats a random ranking" if qlo > 0 else "does worse than a random ranking" if qhi < 0
               else "is not distinguishable from a random ranking")
    text += (f" Its Qini coefficient is {_n(float(q['estimate']))} (SE {_n(float(q['se']))}): by the held-out "
             f"scores, treating {units} in its order {verdict}.")
    if _has_oracle(tests):
        s = row_of(tests, BLP_SLOPE)
        covered = [bool(r["ci_covers_oracle"]) for r in (s, q)]
        cover = ("both intervals cover them" if all(covered) else "neither interval covers them" if not any(covered)
                 else "only the " + ("slope's" if covered[0] else "Qini coefficient's") + " interval covers its value")
        text += (f" On the true effects (known because the outcomes are simulated) the same ranking has slope {_n(float(s['oracle']))} and Qini "
                 f"coefficient {_n(float(q['oracle']))}; {cover}.")
    return text


def describe_gates(gates: pd.DataFrame, qini: pd.DataFrame, unit: str = "", per: str = "unit") -> str:
    """GATES from the lowest to the highest predicted group, the top-minus-bottom interval, and
    the gain of treating the top quarter by the prediction."""
    g = gates[gates["group_order"] > 0].sort_values("group_order")
    d = gates[gates["group_order"].eq(0)].iloc[0]
    lo, hi = g.iloc[0], g.iloc[-1]
    u = f" {unit}" if unit else ""
    increasing = bool(g["gates_estimate"].is_monotonic_increasing)
    text = (f"The held-out AIPW mean is {_n(float(lo['gates_estimate']))}{u} in the lowest predicted group ({lo['group']}) "
            f"and {_n(float(hi['gates_estimate']))}{u} in the highest ({hi['group']}), "
            f"{'rising steadily' if increasing else 'not in predicted order'} across the {len(g)} groups; the difference, "
            f"{_n(float(d['gates_estimate']))} (95% CI {_n(float(d['ci_95_lower']))} to {_n(float(d['ci_95_upper']))}), ")
    if d["ci_95_lower"] > 0:
        text += "shows the top group gains more."
    elif d["ci_95_upper"] < 0:
        text += "shows the top group gains *less*: the ranking is reversed."
    else:
        text += "includes zero, so the groups' order is not established."
    quarter = qini.iloc[(qini["share_treated"] - 0.25).abs().argsort().iloc[0]]
    text += (f" Treating the top {100 * float(quarter['share_treated']):.0f}% by prediction gains "
             f"{_n(float(quarter['gain_over_random']))}{u} per {per} over treating as many at random "
             f"(95% band {_n(float(quarter['ci_95_lower']))} to {_n(float(quarter['ci_95_upper']))})")
    if "oracle_gain_over_random" in qini.columns and qini["oracle_gain_over_random"].notna().all():
        text += (f"; on the true effects it gains {_n(float(quarter['oracle_gain_over_random']))}{u}, and the best "
                 f"possible ranking {_n(float(quarter['best_ranking_gain_over_random']))}{u}")
    return text + "."


__all__ = ["describe_blp", "describe_tests", "describe_gates"]
