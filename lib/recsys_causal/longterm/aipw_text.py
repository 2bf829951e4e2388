"""Sentences of the doubly robust chapter (prose only: the numbers come from `recsys_causal.longterm.aipw`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.longterm.aipw import oracle_ate, pair_label, primary_row


def describe_fixed_vs_refit(table: pd.DataFrame, digits: int = 2) -> str:
    """What the fixed-nuisance interval leaves out, with the numbers of this run."""
    t = table.set_index("key")
    fixed = t.loc["fixed_nuisance"]
    text = (
        "The fixed-nuisance bootstrap treats the propensity and outcome predictions as known, so it leaves out "
        "the estimation of the nuisance models themselves (on another sample of users they would differ); "
        f"its standard error is {fixed['se']:.{digits}f}"
    )
    if "influence_function" in t.index:
        text += f", the user-clustered influence-function SE is {t.loc['influence_function', 'se']:.{digits}f}"
    if "refit" not in t.index:
        return text + ". The refit bootstrap was not run, so this run cannot say how much that omission matters."
    refit = t.loc["refit"]
    n = int(refit["replicates"])
    ratio = refit["se"] / fixed["se"] if fixed["se"] > 0 else np.nan
    # relative Monte Carlo error of the ratio of two bootstrap SDs (refit and fixed replicates)
    n_fixed = int(fixed["replicates"]) if pd.notna(fixed["replicates"]) else 10**9
    noise = float(np.sqrt(1.0 / (2.0 * max(n - 1, 1)) + 1.0 / (2.0 * max(n_fixed - 1, 1))))
    text += (
        f", and re-fitting both models in each of {n} replicates gives {refit['se']:.{digits}f} "
        f"({ratio:.2f} times the fixed-nuisance SE; interval {refit['ci_95_lower']:.{digits}f} to "
        f"{refit['ci_95_upper']:.{digits}f} against {fixed['ci_95_lower']:.{digits}f} to {fixed['ci_95_upper']:.{digits}f}). "
    )
    if abs(ratio - 1.0) <= 3 * noise:  # the study's own rule: a difference counts beyond 3 MC SEs
        text += (
            f"With {n} refit replicates the ratio of the two SEs is itself uncertain by about ±{noise:.0%} "
            f"(Monte Carlo error), so differences smaller than about {3 * noise:.0%} (three such errors) cannot be "
            "told apart: this "
            "run cannot say whether holding the nuisances fixed makes the interval too narrow or too wide."
        )
    elif ratio > 1.0:
        text += (
            "Estimating the nuisances adds real uncertainty here: the fixed-nuisance interval is too narrow and "
            "would cover the truth less often than 95%."
        )
    else:
        text += (
            f"Re-fitting narrows the interval by more than three Monte Carlo errors of the SE ratio (±{noise:.0%} each): "
            "a nuisance model re-estimated on each sample absorbs part of that sample's noise (as an estimated "
            "propensity score does for IPW), so holding the nuisances fixed is conservative in this run."
        )
    if n < 200:
        text += (f" With only {n} refit replicates the refit SE has a relative Monte Carlo error of "
                 f"{1 / np.sqrt(2 * max(n - 1, 1)):.0%} (200 would bring it to 5%); read the refit SE rather "
                 "than its exact percentile endpoints.")
    return text


#: Why an estimate's interval can miss the simulator's truth, by estimator (the method column).
MISS_REASONS: dict[str, str] = {
    "G-computation": "g-computation rests entirely on its outcome model, and a model that misfits the "
                     "simulator's multiplicative (log-rate) effect carries that misfit into the estimate",
    "MSM: weighted calendar-adjusted": "the MSM rests entirely on the propensity model, and neither propensity "
                                       "model has the simulator's exact form",
    "Doubly robust AIPW": "AIPW is consistent when either nuisance model is right, and here neither has the "
                          "simulator's exact form, so a second-order bias remains",
    "AIPW, overlap-trimmed": "the trimmed estimate targets the user-days with overlap, a different population "
                             "from the full panel the truth averages over",
}


def coverage_sentences(comparison: pd.DataFrame, digits: int = 2) -> str:
    """Which intervals cover the oracle, and for each that misses, why it can (empty on real data)."""
    truth = oracle_ate(comparison)
    if truth is None:
        return "This run has no oracle (real data), so no interval can be checked against the truth."
    est = comparison[comparison["role"].ne("oracle")]
    covered = []
    missed = []
    for _, r in est.iterrows():
        name = f"{r['method']} ({r['model']})" if r["method"] != "AIPW, overlap-trimmed" else str(r["method"])
        hit = r["ci_95_lower"] <= truth <= r["ci_95_upper"]
        (covered if hit else missed).append((name, str(r["method"])))
    text = f"The simulator's true average effect is {truth:.{digits}f}. "
    if covered:
        text += f"Intervals that cover it: {'; '.join(n for n, _ in covered)}. "
    if not missed:
        return (text + "No interval misses it.").strip()
    text += "Intervals that miss it: " + "; ".join(
        f"{n}, because {MISS_REASONS.get(m, 'one 95% interval in twenty misses by chance')}" for n, m in missed) + "."
    text += (" A single run cannot tell such a bias from bad luck; the validation chapter measures each estimator's "
             "bias and coverage over many simulated data sets.")
    return text.strip()


def describe_pairs(results: pd.DataFrame, digits: int = 2) -> str:
    """How much the AIPW estimate moves across nuisance pairs, against its own uncertainty."""
    r = primary_row(results)
    spread = float(results["aipw_ate"].max() - results["aipw_ate"].min())
    se = float(r["bootstrap_std"])
    lo = results.loc[results["aipw_ate"].idxmin()]
    hi = results.loc[results["aipw_ate"].idxmax()]
    return (
        f"Across the {len(results)} nuisance pairs the AIPW estimate ranges from {lo['aipw_ate']:.{digits}f} "
        f"({pair_label(lo['propensity_model'], lo['outcome_model'])}) to {hi['aipw_ate']:.{digits}f} "
        f"({pair_label(hi['propensity_model'], hi['outcome_model'])}), a spread of {spread:.{digits}f}, which is "
        f"{spread / se:.1f} times the primary estimate's bootstrap SE ({se:.{digits}f}); "
        + ("the choice of nuisance models matters less than sampling noise." if spread < 2 * se
           else "the choice of nuisance models moves the estimate by more than its sampling noise.")
        + f" The row-level scores are very dispersed (SD {r['aipw_score_std']:.1f}, with "
        f"{100 * r['share_positive_score']:.1f}% positive), so the mean rests on many user-days."
    )


def describe_trimming(comparison: pd.DataFrame, results: pd.DataFrame, digits: int = 2) -> str:
    """What overlap trimming does to the primary estimate (and that it changes the estimand)."""
    main = comparison[comparison["method"].eq("Doubly robust AIPW")].iloc[0]
    trim = comparison[comparison["method"].eq("AIPW, overlap-trimmed")].iloc[0]
    r = primary_row(results)
    shift = float(trim["estimate"] - main["estimate"])
    width = float(main["ci_95_upper"] - main["ci_95_lower"])
    dropped = int(r["trim_rows_total"] - r["trim_rows_kept"])
    return (
        f"Dropping the {dropped:,} of {int(r['trim_rows_total']):,} user-days ({dropped / r['trim_rows_total']:.1%}) whose "
        f"propensity lies outside [{r['trim_alpha']:g}, {1 - r['trim_alpha']:g}] moves the AIPW estimate from "
        f"{main['estimate']:.{digits}f} to {trim['estimate']:.{digits}f} (95% CI {trim['ci_95_lower']:.{digits}f} to "
        f"{trim['ci_95_upper']:.{digits}f}), a shift of {shift:+.{digits}f} or {abs(shift) / width:.0%} of the untrimmed "
        "interval's width. The trimmed number is the effect on user-days where both arms are plausible, a different "
        "population from the full panel; a shift that is large against the interval would mean the full-panel "
        "estimate leans on the few user-days with extreme propensities."
    )
