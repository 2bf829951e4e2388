"""Sensitivity of an effect estimate to unmeasured confounding: the E-value.

For a continuous outcome, VanderWeele & Ding (2017) convert the effect to a standardized mean
difference d = effect / SD(outcome), approximate the risk ratio as RR = exp(0.91 d), and report
the E-value RR + sqrt(RR (RR - 1)) (with RR replaced by 1/RR when it is below 1): the minimum
strength of association, on the risk-ratio scale, that an unmeasured confounder would need with
both the treatment and the outcome to explain the estimate away. The E-value of the interval uses
the limit closest to the null and is 1 when the interval already contains the null.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SMD_TO_LOG_RR = 0.91


def evalue_rr(rr: float) -> float:
    """E-value of a risk ratio (symmetric in RR and 1/RR); 1 at the null."""
    if not np.isfinite(rr) or rr <= 0:
        raise ValueError(f"risk ratio must be positive and finite, got {rr}")
    r = rr if rr >= 1.0 else 1.0 / rr
    return float(r + math.sqrt(r * (r - 1.0)))


def smd_to_rr(d: float) -> float:
    """Approximate risk ratio of a standardized mean difference: exp(0.91 d)."""
    return float(math.exp(SMD_TO_LOG_RR * d))


def evalue_continuous(estimate: float, outcome_sd: float, ci_lower: float, ci_upper: float) -> dict[str, float]:
    """E-values of a mean-difference estimate and of its confidence interval."""
    if not outcome_sd > 0:
        raise ValueError(f"outcome SD must be positive, got {outcome_sd}")
    d = estimate / outcome_sd
    rr = smd_to_rr(d)
    if ci_lower <= 0.0 <= ci_upper:
        ev_ci = 1.0
    else:
        nearest = ci_lower if estimate > 0 else ci_upper
        ev_ci = evalue_rr(smd_to_rr(nearest / outcome_sd))
    return {
        "outcome_sd": float(outcome_sd),
        "standardized_effect": float(d),
        "approx_risk_ratio": rr,
        "evalue_estimate": evalue_rr(rr),
        "evalue_ci": float(ev_ci),
    }


def primary_sensitivity(results: pd.DataFrame, outcome_sd: float) -> pd.DataFrame:
    """E-values of the primary AIPW estimate using its most conservative 95% interval.

    Of the three intervals (fixed-nuisance bootstrap, influence function, refit bootstrap) the
    one whose limit is closest to zero is used, so the interval E-value is never flattering.
    """
    r = results[results["is_primary_aipw"].astype(bool)].iloc[0]
    est = float(r["aipw_ate"])
    cands = {
        "fixed_nuisance": (r.get("ci_95_lower"), r.get("ci_95_upper")),
        "influence_function": (r.get("if_ci_95_lower"), r.get("if_ci_95_upper")),
        "refit": (r.get("refit_ci_95_lower"), r.get("refit_ci_95_upper")),
    }
    cands = {k: (float(lo), float(hi)) for k, (lo, hi) in cands.items() if pd.notna(lo) and pd.notna(hi)}

    def closeness(iv: tuple[float, float]) -> float:
        lo, hi = iv
        return -1.0 if lo <= 0.0 <= hi else min(abs(lo), abs(hi))

    source = min(cands, key=lambda k: closeness(cands[k]))
    lo, hi = cands[source]
    ev = evalue_continuous(est, outcome_sd, lo, hi)
    return pd.DataFrame([{"estimate": est, "ci_95_lower": lo, "ci_95_upper": hi, "evalue_ci_source": source, **ev}])


def describe_evalue(row: pd.Series | dict[str, float], digits: int = 2) -> str:
    """Two sentences: what the E-value is, and what it says about this estimate."""
    r = dict(row)
    first = (
        "The E-value is the minimum strength of association (as a risk ratio) that an unmeasured "
        "confounder would need with both a high-watch day and the following days' activity, beyond the measured "
        "history, to fully explain away the estimate; the effect is first converted to a standardized "
        f"difference ({r['standardized_effect']:+.3f} outcome SDs, approximate risk ratio {r['approx_risk_ratio']:.3f})."
    )
    if r["evalue_ci"] <= 1.0 + 1e-12:
        second = (
            f"Here the point estimate's E-value is {r['evalue_estimate']:.{digits}f} and the interval's is 1: "
            "the interval already contains zero, so no confounding at all is needed to make the result "
            "compatible with no effect."
        )
    else:
        second = (
            f"Here the point estimate's E-value is {r['evalue_estimate']:.{digits}f} and the interval's is "
            f"{r['evalue_ci']:.{digits}f}: a confounder associated with both by a risk ratio of "
            f"{r['evalue_ci']:.{digits}f} could move the interval to include zero, a weaker one could not."
        )
    return f"{first} {second}"
