"""Tables and sentences of the long-term track summary (chapter longterm_06).

Every function takes artifacts (or the run's parameters) and returns a table or a sentence, so the
summary chapter types no number by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.describe import describe_interval, format_number
from recsys_causal.longterm.aipw import inference_table, oracle_ate, pair_label, primary_row
from recsys_causal.longterm.segments import SEGMENT_SPECS, ordered_segments
from recsys_causal.params import LongtermParams


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:,.{digits}f}"


def estimand_text(lt: LongtermParams) -> str:
    """The estimand in words, with the treatment and outcome definitions from the parameters."""
    cutoff = lt.treatment_cutoff
    cut = "the panel's median share" if cutoff == "median" else f"at least {format_number(float(cutoff))}"
    return (
        "The estimand is the average treatment effect over panel user-days, "
        "E[Y(1) − Y(0)]: the difference in a user's interactions over the next "
        f"{lt.outcome_horizon_days} days between a day that is a high-watch day (share of plays with watch ratio at "
        f"least {format_number(lt.high_watch_threshold)} is {cut}) and the same day not being one, averaged over "
        "every user-day in the panel. It is identified under no unmeasured confounding given the recorded "
        "history, positivity (both kinds of day are possible for every history), and no interference between "
        "a user's days beyond what the history captures."
    )


def headline_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The cross-estimator table for the summary: interval, whether it includes zero and covers the truth."""
    truth = oracle_ate(comparison)
    est = comparison[comparison["role"].ne("oracle")].copy()
    out = pd.DataFrame(
        {
            "estimator": est["method"].astype(str),
            "model": est["model"].astype(str),
            "role": est["role"],
            "estimate": est["estimate"].astype(float),
            "ci_95_lower": est["ci_95_lower"].astype(float),
            "ci_95_upper": est["ci_95_upper"].astype(float),
            "relative_lift": est["relative_lift_vs_msm_control_mean"].astype(float),
        }
    )
    out["includes_zero"] = (out["ci_95_lower"] <= 0) & (out["ci_95_upper"] >= 0)
    if truth is not None:
        out["covers_truth"] = (out["ci_95_lower"] <= truth) & (out["ci_95_upper"] >= truth)
        out = pd.concat(
            [out, pd.DataFrame([{"estimator": "Oracle (simulation truth)", "model": "simulator", "role": "oracle", "estimate": truth}])],
            ignore_index=True,
        )
    return out.reset_index(drop=True)


def describe_headline(comparison: pd.DataFrame, digits: int = 2) -> str:
    """Agreement of the estimators, the primary AIPW interval and (on simulated data) coverage."""
    truth = oracle_ate(comparison)
    est = comparison[comparison["role"].eq("estimate")]
    n = len(est)
    zero = int(((est["ci_95_lower"] <= 0) & (est["ci_95_upper"] >= 0)).sum())
    aipw = est[est["method"].eq("Doubly robust AIPW")].iloc[0]
    text = (
        f"The {n} main estimates range from {_fmt(est['estimate'].min(), digits)} to {_fmt(est['estimate'].max(), digits)} "
        f"interactions; {zero} of their {n} intervals include zero. "
    )
    text += describe_interval(
        float(aipw["estimate"]), float(aipw["ci_95_lower"]), float(aipw["ci_95_upper"]), truth=truth,
        label="The primary doubly robust (AIPW) estimate", digits=3,
    )
    if truth is not None:
        cov = int(((est["ci_95_lower"] <= truth) & (est["ci_95_upper"] >= truth)).sum())
        text += f" Overall, {cov} of the {n} main intervals cover the simulator's true effect {_fmt(truth, digits)}."
    return text


def surviving_segments(segment_effects: pd.DataFrame) -> pd.DataFrame:
    """Segments that pass the size filter and survive the multiplicity correction, in bucket order."""
    rep = segment_effects[segment_effects["passes_size_filter"].astype(bool) & segment_effects["survives_correction"].astype(bool)]
    out = ordered_segments(rep) if len(rep) else rep.copy()
    cols = ["segment_type", "segment", "rows", "users", "aipw_ate", "ci_95_lower", "ci_95_upper", "p_adjusted", "multiplicity_method"]
    out = out[cols].copy()
    out["segment_type"] = out["segment_type"].map(lambda t: SEGMENT_SPECS.get(t, (t, t))[1])
    return out.rename(columns={"segment_type": "segment type"}).reset_index(drop=True)


def describe_segments(segment_effects: pd.DataFrame, digits: int = 1) -> str:
    """How many segments were examined and which survive the correction, in words."""
    rep = segment_effects[segment_effects["passes_size_filter"].astype(bool)]
    if rep.empty:
        return "No segment passed the size filter, so the track reports no segment effect."
    method = str(rep["multiplicity_method"].iloc[0])
    surv = rep[rep["survives_correction"].astype(bool)]
    raw = int(((rep["ci_95_lower"] > 0) | (rep["ci_95_upper"] < 0)).sum())
    head = (
        f"Of {len(rep)} user-history segments, {raw} have an interval that excludes zero on its own, and "
        f"{len(surv)} survive the {method} correction for looking at all {len(rep)}"
    )
    if surv.empty:
        return head + ": the segment differences are best read as hypotheses for an experiment, not findings."
    parts = [
        f"{SEGMENT_SPECS.get(r.segment_type, (r.segment_type, r.segment_type))[1].lower()} {r.segment} "
        f"({_fmt(r.aipw_ate, digits)}, 95% CI {_fmt(r.ci_95_lower, digits)} to {_fmt(r.ci_95_upper, digits)})"
        for r in surv.itertuples(index=False)
    ]
    return head + ": " + "; ".join(parts) + "."


def robustness_table(results: pd.DataFrame, comparison: pd.DataFrame) -> pd.DataFrame:
    """Primary AIPW under three kinds of inference, the other nuisance pairs, and overlap trimming."""
    rows = []
    for r in inference_table(results).itertuples(index=False):
        rows.append({"check": f"Primary AIPW: {r.inference}", "estimate": r.estimate, "ci_95_lower": r.ci_95_lower, "ci_95_upper": r.ci_95_upper})
    for r in results[~results["is_primary_aipw"].astype(bool)].itertuples(index=False):
        rows.append({"check": f"AIPW with {pair_label(r.propensity_model, r.outcome_model)}", "estimate": r.aipw_ate,
                     "ci_95_lower": r.ci_95_lower, "ci_95_upper": r.ci_95_upper})
    trim = comparison[comparison["role"].eq("robustness")]
    for r in trim.itertuples(index=False):
        rows.append({"check": f"{r.method} ({str(r.model).split('; ', 1)[-1]})".replace(" in [", ", e in ["), "estimate": r.estimate,
                     "ci_95_lower": r.ci_95_lower, "ci_95_upper": r.ci_95_upper})
    out = pd.DataFrame(rows)
    out["includes_zero"] = (out["ci_95_lower"] <= 0) & (out["ci_95_upper"] >= 0)
    truth = oracle_ate(comparison)
    if truth is not None:
        out["covers_truth"] = (out["ci_95_lower"] <= truth) & (out["ci_95_upper"] >= truth)
    return out


def sensitivity_row(results: pd.DataFrame) -> pd.Series:
    """The E-value columns of the primary results row."""
    r = primary_row(results)
    return r[["outcome_sd", "standardized_effect", "approx_risk_ratio", "evalue_estimate", "evalue_ci", "evalue_ci_source"]]


def describe_robustness(results: pd.DataFrame, comparison: pd.DataFrame, digits: int = 2) -> str:
    """One paragraph: do the checks move the conclusion about zero?"""
    t = robustness_table(results, comparison)
    n = len(t)
    zero = int(t["includes_zero"].sum())
    lo, hi = t["estimate"].min(), t["estimate"].max()
    r = primary_row(results)
    primary_zero = bool(r["ci_95_lower"] <= 0 <= r["ci_95_upper"])
    odd = t[t["includes_zero"] != primary_zero]
    text = (
        f"Across {n} robustness checks the estimate ranges from {_fmt(lo, digits)} to {_fmt(hi, digits)} and "
        f"{zero} of {n} intervals include zero; "
    )
    if odd.empty:
        return text + "every check agrees with the primary interval about whether zero is plausible."
    return text + (
        f"{len(odd)} of them ({'; '.join(odd['check'])}) disagree with the primary interval about whether zero is "
        "plausible, so that part of the conclusion depends on modelling choices."
    )


def limitations(simulated: bool, results: pd.DataFrame, comparison: pd.DataFrame) -> list[str]:
    """Limitations of the track, with this run's numbers where they exist."""
    r = primary_row(results)
    inf = inference_table(results).set_index("key")
    trim = comparison[comparison["role"].eq("robustness")]
    items = [
        "**No unmeasured confounding.** Every estimator assumes the recorded history explains which days become "
        f"high-watch days; the E-value of the primary interval is {_fmt(float(r['evalue_ci']))}, "
        + ("so the data cannot rule out that the whole estimate is confounding."
           if float(r["evalue_ci"]) <= 1.0 + 1e-12 else "which bounds how strong such a confounder would have to be."),
        "**One day's treatment, many days' outcome.** The outcome window of a day overlaps the next days' "
        "treatments; the estimand is the effect of one high-watch day with later days left as they naturally "
        "followed, not the effect of a sustained policy.",
    ]
    if "refit" in inf.index:
        items.append(
            "**Interval width depends on what is held fixed.** Holding the nuisance predictions fixed gives an SE of "
            f"{_fmt(inf.loc['fixed_nuisance', 'se'])}; re-fitting them in each of {int(inf.loc['refit', 'replicates'])} "
            f"bootstrap replicates gives {_fmt(inf.loc['refit', 'se'])}."
        )
    if len(trim):
        t = trim.iloc[0]
        width = float(r["ci_95_upper"] - r["ci_95_lower"])
        shift = abs(float(t["estimate"]) - float(r["aipw_ate"]))
        items.append(
            "**Overlap.** Dropping user-days with extreme propensities "
            + (f"barely moves the estimate (to {_fmt(float(t['estimate']))}), so the full-panel estimate does not "
               "lean on them; positivity still has to hold for the rest."
               if shift < 0.25 * width else
               f"moves the estimate to {_fmt(float(t['estimate']))}; the full-panel estimate leans on those user-days.")
        )
    items.append(
        "**Segments and smoothed effects are exploratory.** Many segments were examined, and the effect "
        "smoother's held-out fit to the noisy pseudo-outcome is weak; only segments that survive the "
        "multiplicity correction are reported as findings."
    )
    if simulated:
        items.append(
            "**Simulated data.** This run uses the KuaiRec-format simulator; its numbers show how the estimators "
            "behave against a known truth and are not findings about KuaiRec users."
        )
    return items


def conclusion(comparison: pd.DataFrame, results: pd.DataFrame, segment_effects: pd.DataFrame, simulated: bool) -> str:
    """A short plain-language conclusion, computed from the artifacts."""
    aipw = comparison[comparison["method"].eq("Doubly robust AIPW")].iloc[0]
    est, lo, hi = float(aipw["estimate"]), float(aipw["ci_95_lower"]), float(aipw["ci_95_upper"])
    inf = inference_table(results)
    widest_lo, widest_hi = float(inf["ci_95_lower"].min()), float(inf["ci_95_upper"].max())
    lift = float(aipw["relative_lift_vs_msm_control_mean"])
    pct = "" if np.isnan(lift) else f" ({lift:+.1%} of the typical level)"
    main = comparison[comparison["role"].eq("estimate")]
    all_zero = bool(((main["ci_95_lower"] <= 0) & (main["ci_95_upper"] >= 0)).all())
    subject = "In this simulated world" if simulated else "In this data"
    if widest_lo <= 0 <= widest_hi:
        verdict = (
            f"{subject}, one extra high-watch day changes the following days' interactions by "
            f"about {_fmt(est, 1)} on average{pct}, "
            f"but the uncertainty is wide ({_fmt(widest_lo, 1)} to {_fmt(widest_hi, 1)} across the three intervals), "
            "so the data do not show a clear average effect"
        )
    else:
        direction = "raises" if est > 0 else "lowers"
        verdict = (
            f"{subject}, one extra high-watch day {direction} the following days' interactions by about {_fmt(abs(est), 1)} "
            f"on average{pct}; every interval ({_fmt(widest_lo, 1)} to {_fmt(widest_hi, 1)} at the widest) excludes zero"
        )
    excl = main[(main["ci_95_lower"] > 0) | (main["ci_95_upper"] < 0)]
    if all_zero:
        verdict += f"; all {len(main)} main estimators' intervals include zero."
    elif len(excl) == len(main):
        verdict += f"; all {len(main)} main estimators' intervals exclude zero."
    else:
        names = ", ".join(f"{m} ({mod})" for m, mod in zip(excl["method"], excl["model"], strict=True))
        verdict += (
            f"; {len(excl)} of the {len(main)} main estimators' intervals exclude zero ({names}), so they do not "
            "agree on whether there is an effect."
        )
    rep = segment_effects[segment_effects["passes_size_filter"].astype(bool)]
    surv = int(rep["survives_correction"].astype(bool).sum())
    verdict += (
        f" {surv} of {len(rep)} user-history segments show an effect that survives the correction for multiple looks"
        + (", worth testing in a targeted experiment." if surv else "; personalizing on these segments is not yet supported.")
    )
    truth = oracle_ate(comparison)
    if truth is not None:
        verdict += (
            f" The simulator's true average effect is {_fmt(truth, 1)}, "
            + ("inside" if lo <= truth <= hi else "outside")
            + " the primary AIPW interval."
        )
    return verdict
