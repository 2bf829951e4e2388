"""Performance of an estimator across simulated replicates, with Monte Carlo standard errors.

Each replicate r gives an estimate, an interval and the truth of that replicate's data set
(the simulator's oracle). With errors d_r = estimate_r - truth_r over R replicates:

- bias = mean(d), MCSE = sd(d) / sqrt(R);
- RMSE = sqrt(mean(d^2)), MCSE by the delta method: sd(d^2) / (2 RMSE sqrt(R));
- empirical SE = sd(estimate), MCSE = empirical SE / sqrt(2 (R - 1));
- coverage = share of intervals that contain the truth, MCSE = sqrt(c (1 - c) / R);
- mean interval width, MCSE = sd(width) / sqrt(R);
- mean model SE (what the estimator reports) beside the empirical SE: their ratio says whether
  the standard error is honest.

(Morris, White & Crowther 2019, "Using simulation studies to evaluate statistical methods".)
A coverage estimated from R replicates is itself uncertain: even a perfectly calibrated 95%
interval shows a Monte Carlo SE of sqrt(0.95 x 0.05 / R) around 0.95 (`nominal_coverage_mcse`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The study's rules: a bias is told apart from zero beyond BIAS_Z Monte Carlo SEs, and a 95%
#: interval is acceptable when its coverage lies in COVERAGE_BAND.
BIAS_Z: float = 3.0
COVERAGE_BAND: tuple[float, float] = (0.90, 0.99)
GROUP_COLUMNS: tuple[str, ...] = ("world", "scenario", "estimator", "inference", "estimand")
SUMMARY_COLUMNS: tuple[str, ...] = (
    *GROUP_COLUMNS,
    "n_replicates", "n_failed", "mean_truth", "mean_estimate", "bias", "bias_mcse", "relative_bias",
    "rmse", "rmse_mcse", "empirical_se", "empirical_se_mcse", "mean_model_se", "se_ratio",
    "coverage", "coverage_mcse", "mean_ci_width", "ci_width_mcse",
)


def nominal_coverage_mcse(n_replicates: int, level: float = 0.95) -> float:
    """Monte Carlo SE of the coverage of a perfectly calibrated `level` interval over R replicates."""
    if n_replicates < 1:
        raise ValueError("n_replicates must be at least 1")
    return float(np.sqrt(level * (1.0 - level) / n_replicates))


def performance(
    estimate: np.ndarray | Sequence[float],
    truth: np.ndarray | Sequence[float] | float,
    ci_lower: np.ndarray | Sequence[float] | None = None,
    ci_upper: np.ndarray | Sequence[float] | None = None,
    se: np.ndarray | Sequence[float] | None = None,
) -> dict[str, float]:
    """Bias, RMSE, empirical SE, coverage and width with Monte Carlo SEs for one estimator.

    Replicates whose estimate is not finite are counted in `n_failed` and left out.
    """
    est = np.asarray(estimate, dtype=float)
    tru = np.broadcast_to(np.asarray(truth, dtype=float), est.shape)
    ok = np.isfinite(est) & np.isfinite(tru)
    n_failed = int((~ok).sum())
    est, tru = est[ok], tru[ok]
    r = len(est)
    nan = float("nan")
    out: dict[str, float] = {"n_replicates": float(r), "n_failed": float(n_failed)}
    if r == 0:
        return {**out, **dict.fromkeys(SUMMARY_COLUMNS[len(GROUP_COLUMNS) + 2:], nan)}
    d = est - tru
    sq = d**2
    rmse = float(np.sqrt(sq.mean()))
    sd = (lambda v: float(np.std(v, ddof=1))) if r > 1 else (lambda v: nan)
    out.update(
        mean_truth=float(tru.mean()),
        mean_estimate=float(est.mean()),
        bias=float(d.mean()),
        bias_mcse=sd(d) / np.sqrt(r),
        relative_bias=float(d.mean() / tru.mean()) if tru.mean() != 0 else nan,
        rmse=rmse,
        rmse_mcse=(sd(sq) / (2.0 * rmse * np.sqrt(r))) if rmse > 0 else nan,
        empirical_se=sd(est),
        empirical_se_mcse=(sd(est) / np.sqrt(2.0 * (r - 1))) if r > 1 else nan,
    )
    if se is not None:
        s = np.asarray(se, dtype=float)[ok]
        out["mean_model_se"] = float(np.nanmean(s)) if np.isfinite(s).any() else nan
        out["se_ratio"] = (out["mean_model_se"] / out["empirical_se"]
                           if np.isfinite(out["mean_model_se"]) and out["empirical_se"] > 0 else nan)
    else:
        out["mean_model_se"] = nan
        out["se_ratio"] = nan
    if ci_lower is not None and ci_upper is not None:
        lo = np.asarray(ci_lower, dtype=float)[ok]
        hi = np.asarray(ci_upper, dtype=float)[ok]
        has = np.isfinite(lo) & np.isfinite(hi)
        if has.any():
            cov = ((lo[has] <= tru[has]) & (tru[has] <= hi[has])).astype(float)
            c = float(cov.mean())
            w = hi[has] - lo[has]
            out.update(
                coverage=c,
                coverage_mcse=float(np.sqrt(c * (1.0 - c) / has.sum())),
                mean_ci_width=float(w.mean()),
                ci_width_mcse=(float(np.std(w, ddof=1)) / np.sqrt(has.sum())) if has.sum() > 1 else nan,
            )
    for k in ("coverage", "coverage_mcse", "mean_ci_width", "ci_width_mcse"):
        out.setdefault(k, nan)
    return out


def summarize_replicates(replicates: pd.DataFrame, by: Sequence[str] = GROUP_COLUMNS) -> pd.DataFrame:
    """One row per (world, scenario, estimator, inference, estimand): `performance` of its replicates.

    `replicates` needs the grouping columns plus estimate, truth, se, ci_lower and ci_upper.
    Groups keep their first-appearance order (the registry's order), so tables read the same
    way every run.
    """
    need = [*by, "estimate", "truth", "se", "ci_lower", "ci_upper"]
    missing = [c for c in need if c not in replicates.columns]
    if missing:
        raise ValueError(f"replicate table lacks columns {missing}")
    rows = []
    for key, g in replicates.groupby(list(by), sort=False, dropna=False):
        perf = performance(g["estimate"], g["truth"], g["ci_lower"], g["ci_upper"], g["se"])
        rows.append({**dict(zip(by, key, strict=True)), **perf})
    out = pd.DataFrame(rows)
    for c in ("n_replicates", "n_failed"):
        out[c] = out[c].astype(np.int64)
    cols = [c for c in SUMMARY_COLUMNS if c in out.columns]
    return out[cols]


# ----------------------------------------------------------------------------------------------
# Tables and sentences for the chapter (every number computed, never typed)
# ----------------------------------------------------------------------------------------------
def _fmt(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:,.{digits}f}"


def _pm(x: float, m: float, digits: int = 2) -> str:
    return f"{_fmt(x, digits)} ± {_fmt(m, digits)}"


def scenario_table(summary: pd.DataFrame, scenario: str, digits: int = 2) -> pd.DataFrame:
    """The chapter's per-scenario table: bias, RMSE, coverage and width with their MCSEs."""
    s = summary[summary["scenario"].eq(scenario)]
    out = pd.DataFrame({
        "estimator": s["estimator"],
        "inference": s["inference"],
        "estimand": s["estimand"],
        "mean truth": s["mean_truth"].round(digits),
        "mean estimate": s["mean_estimate"].round(digits),
        "bias (± MCSE)": [_pm(b, m, digits) for b, m in zip(s["bias"], s["bias_mcse"], strict=True)],
        "RMSE (± MCSE)": [_pm(b, m, digits) for b, m in zip(s["rmse"], s["rmse_mcse"], strict=True)],
        "coverage (± MCSE)": [_pm(b, m, 2) for b, m in zip(s["coverage"], s["coverage_mcse"], strict=True)],
        "mean CI width": s["mean_ci_width"].round(digits),
        "SE ratio (model / empirical)": s["se_ratio"].round(2),
        "replicates": s["n_replicates"],
    })
    if out["estimand"].nunique() == 1:
        out = out.drop(columns="estimand")
    return out.reset_index(drop=True)


def bias_by_scenario(summary: pd.DataFrame, world: str = "longterm", inference: str | None = None) -> pd.DataFrame:
    """Wide table: one row per estimator, one column per scenario, cells 'bias ± MCSE'."""
    s = summary[summary["world"].eq(world)]
    if inference is not None:
        s = s[s["inference"].eq(inference)]
    s = s.drop_duplicates(["scenario", "estimator", "estimand"])
    s = s.assign(cell=[_pm(b, m) for b, m in zip(s["bias"], s["bias_mcse"], strict=True)])
    wide = s.pivot(index="estimator", columns="scenario", values="cell")
    order = list(dict.fromkeys(s["estimator"]))
    wide = wide.loc[order]
    wide.columns = [f"bias in ({c})" if len(c) == 1 else f"bias: {c}" for c in wide.columns]
    return wide.reset_index()


def _row(summary: pd.DataFrame, scenario: str, estimator: str, inference: str | None = None) -> pd.Series | None:
    s = summary[summary["scenario"].eq(scenario) & summary["estimator"].eq(estimator)]
    if inference is not None:
        s = s[s["inference"].eq(inference)]
    return s.iloc[0] if len(s) else None


def coverage_check(summary: pd.DataFrame, scenario: str, estimator: str, inference: str,
                   lo: float = COVERAGE_BAND[0], hi: float = COVERAGE_BAND[1]) -> dict[str, float | bool]:
    """Whether an estimator's coverage lies in [lo, hi], with its MCSE and replicates."""
    r = _row(summary, scenario, estimator, inference)
    if r is None:
        raise KeyError(f"no summary row for {estimator} / {inference} in scenario {scenario}")
    c = float(r["coverage"])
    return {"coverage": c, "coverage_mcse": float(r["coverage_mcse"]), "n_replicates": int(r["n_replicates"]),
            "within": bool(lo <= c <= hi), "lo": lo, "hi": hi}


def describe_coverage_check(summary: pd.DataFrame, scenario: str, estimator: str, inference: str,
                            compare_inference: str | None = None, lo: float = COVERAGE_BAND[0], hi: float = COVERAGE_BAND[1]) -> str:
    """The acceptance check of the study, as a sentence (with the bootstrap's coverage beside it)."""
    chk = coverage_check(summary, scenario, estimator, inference, lo, hi)
    r = chk["n_replicates"]
    text = (
        f"In scenario ({scenario}), {estimator} with the {inference} covers the truth in "
        f"{100 * chk['coverage']:.1f}% of {r} replicates (Monte Carlo SE {100 * chk['coverage_mcse']:.1f} points; "
        f"a perfectly calibrated 95% interval would show 95% ± {100 * nominal_coverage_mcse(r):.1f}), "
        + ("inside" if chk["within"] else "outside")
        + f" the required range [{lo:.2f}, {hi:.2f}]"
    )
    if not chk["within"]:
        row = _row(summary, scenario, estimator, inference)
        ratio = float(row["se_ratio"])
        z = float(row["bias"]) / float(row["bias_mcse"]) if float(row["bias_mcse"]) > 0 else float("nan")
        noise = abs(chk["coverage"] - 0.95) <= 2 * nominal_coverage_mcse(r)
        if chk["coverage"] > hi:
            why = (f"the intervals are conservative: the reported SE is {ratio:.2f} times the SE the replicates "
                   "show" if ratio > 1.1 else "with SEs that match the replicates' spread "
                   f"(ratio {ratio:.2f}), a miss this size is what {r} replicates produce by chance")
        elif abs(z) >= 3:
            why = f"the estimator is biased ({z:+.1f} Monte Carlo SEs), so intervals centred on it miss"
        elif ratio < 0.9:
            why = f"the reported SE is only {ratio:.2f} times the spread of the estimates across replicates"
        else:
            why = "neither bias nor SE explains it"
        text += f". Evidence: {why}" + ("; the miss is within two Monte Carlo SEs of 95%" if noise else "")
    if compare_inference is not None:
        other = _row(summary, scenario, estimator, compare_inference)
        if other is not None:
            text += (f"; the {compare_inference} covers it in {100 * float(other['coverage']):.1f}% "
                     f"(mean width {_fmt(float(other['mean_ci_width']))} against {_fmt(float(_row(summary, scenario, estimator, inference)['mean_ci_width']))})")
    return text + "."


def describe_scenario(summary: pd.DataFrame, scenario: str, reference: str | None = "a",
                      z: float = BIAS_Z) -> str:
    """Which estimators are unbiased (|bias| < z MCSE) in a scenario, which are not, and what changed."""
    s = summary[summary["scenario"].eq(scenario)].drop_duplicates(["estimator", "estimand"])
    if s.empty:
        return f"Scenario ({scenario}) was not run."
    zz = (s["bias"] / s["bias_mcse"]).abs()
    ok = s[zz < z]
    bad = s[zz >= z].assign(absb=lambda d: d["bias"].abs()).sort_values("absb", ascending=False)
    parts = [f"In ({scenario}), {len(ok)} of {len(s)} estimators show no bias the {int(s['n_replicates'].max())} "
             f"replicates can detect (|bias| < {z:g} Monte Carlo SEs)"]
    if len(ok):
        parts.append(": " + ", ".join(ok["estimator"].tolist()))
    if len(bad):
        worst = bad.iloc[0]
        parts.append(f". The largest bias is that of {worst['estimator']}, {_fmt(worst['bias'])} "
                     f"({_fmt(100 * worst['relative_bias'], 0)}% of the true effect {_fmt(worst['mean_truth'])})")
    if reference is not None and reference != scenario:
        ref = summary[summary["scenario"].eq(reference)].drop_duplicates(["estimator", "estimand"]).set_index("estimator")
        cur = s.set_index("estimator")
        common = [e for e in cur.index if e in ref.index]
        if common:
            ratio = (cur.loc[common, "rmse"] / ref.loc[common, "rmse"]).replace([np.inf, -np.inf], np.nan)
            grew = ratio.idxmax()
            parts.append(f". Against ({reference}), RMSE grows most for {grew} (x{_fmt(ratio.max())})")
    return "".join(parts) + "."


def describe_direction(summary: pd.DataFrame, scenario: str, expected_sign: int = 1, z: float = BIAS_Z,
                       cause: str = "the simulator's unmeasured confounder",
                       moral: str = "No adjustment for recorded history can remove this; bounding it is the job "
                                    "of the sensitivity analysis.") -> str:
    """How many estimators are biased in the expected direction, and why (scenario e: upward)."""
    s = summary[summary["scenario"].eq(scenario)].drop_duplicates(["estimator", "estimand"])
    if s.empty:
        return f"Scenario ({scenario}) was not run."
    signed = np.sign(s["bias"]) == expected_sign
    detect = (s["bias"] / s["bias_mcse"]).abs() >= z
    word = "overstate" if expected_sign > 0 else "understate"
    n = int((signed & detect).sum())
    least = s.loc[s["bias"].abs().idxmin()]
    return (f"In ({scenario}), {n} of {len(s)} estimators {word} the effect by more than {z:g} Monte Carlo SEs, "
            f"as {cause} implies; even the least biased, {least['estimator']}, is off by "
            f"{_fmt(least['bias'])} on a true effect of {_fmt(least['mean_truth'])}. {moral}")


def describe_interference(summary: pd.DataFrame, z: float = BIAS_Z) -> str:
    """Sentence on the randomized experiment: bias and coverage of every estimand."""
    s = summary[summary["world"].eq("interference")]
    if s.empty:
        return "The interference scenario was not run."
    zz = (s["bias"] / s["bias_mcse"]).abs()
    cov = s["coverage"]
    r = int(s["n_replicates"].max())
    low = s[cov < 0.95 - 2 * nominal_coverage_mcse(r)]
    text = (f"In the randomized slate experiment {int((zz < z).sum())} of {len(s)} estimates show no detectable bias "
            f"and coverage ranges from {100 * cov.min():.0f}% to {100 * cov.max():.0f}% over {r} replicates")
    if len(low):
        text += ("; below the calibrated band: " + ", ".join(f"{a} ({b})" for a, b in zip(low["estimator"], low["estimand"], strict=True)))
    return text + "."


def describe_coverage_range(summary: pd.DataFrame, scenarios: Sequence[str], level: float = 0.95) -> str:
    """Per scenario: how many intervals are calibrated, which under-cover most."""
    parts = []
    for key in scenarios:
        s = summary[summary["scenario"].eq(key) & summary["coverage"].notna()]
        if s.empty:
            continue
        r = int(s["n_replicates"].max())
        lo = level - 2 * nominal_coverage_mcse(r, level)
        ok = int((s["coverage"] >= lo).sum())
        worst = s.loc[s["coverage"].idxmin()]
        name = worst["estimator"] + (f" ({worst['estimand']})" if worst["estimand"] != "ATE" else "")
        parts.append(f"({key}): {ok} of {len(s)} intervals reach {100 * lo:.0f}% or more; the lowest is "
                     f"{name} with the {worst['inference']} at {100 * worst['coverage']:.0f}%")
    return ("Coverage, against a calibrated band starting 2 Monte Carlo SEs below 95% — " + "; ".join(parts) + ".") if parts else ""


def describe_study(replicates: pd.DataFrame, summary: pd.DataFrame) -> str:
    """How big the study was and how precisely it can measure coverage."""
    r = int(summary["n_replicates"].max())
    failed = int(replicates["status"].ne("ok").sum())
    return (f"The study ran {r} replicates per scenario ({len(replicates):,} estimates, {failed} failed). "
            f"With {r} replicates a calibrated 95% interval shows a coverage of 95% ± {100 * nominal_coverage_mcse(r):.1f} "
            "points (one Monte Carlo SE), so coverages are read against that band, not against 95% exactly.")


def describe_double_robustness(summary: pd.DataFrame, scenario: str, damaged: Sequence[str],
                               reference: str = "a", z: float = BIAS_Z, right_model: str | None = None) -> str:
    """Scenario (b) or (c): how the estimators relying on the damaged model move, and whether AIPW holds.

    `right_model` is the label fragment (e.g. "logistic") of the AIPW rows whose intact nuisance
    model has the simulator's true form; those are the rows double robustness speaks for.
    """
    cur = summary[summary["scenario"].eq(scenario)].drop_duplicates(["estimator", "estimand"]).set_index("estimator")
    ref = summary[summary["scenario"].eq(reference)].drop_duplicates(["estimator", "estimand"]).set_index("estimator")
    if cur.empty or ref.empty:
        return f"Scenario ({scenario}) or ({reference}) was not run."
    moved = [f"{e} moves from {_fmt(ref.loc[e, 'bias'])} to {_fmt(cur.loc[e, 'bias'])}" for e in damaged if e in cur.index]
    aipw = cur[cur.index.str.startswith("AIPW")]
    zz = (aipw["bias"] / aipw["bias_mcse"]).abs()
    n_ok = int((zz < z).sum())
    text = (f"From ({reference}) to ({scenario}) the bias of " + " and that of ".join(moved) + ", while the four AIPW "
            f"estimators' biases range from {_fmt(aipw['bias'].min())} to {_fmt(aipw['bias'].max())}, "
            f"{n_ok} of {len(aipw)} within {z:g} Monte Carlo SEs of zero")
    if right_model is not None:
        right = aipw.index.str.contains(f"({right_model} +", regex=False)
        ok_right = int((zz[right] < z).sum())
        text += (f". The {int(right.sum())} AIPW estimators whose propensity model has the true form ({right_model}) "
                 f"have biases {', '.join(_fmt(b) for b in aipw.loc[right, 'bias'])}, {ok_right} of {int(right.sum())} "
                 f"within {z:g} MCSEs")
        if ok_right == int(right.sum()):
            text += ": one right nuisance model is enough, as double robustness promises"
        others = aipw.loc[~right]
        bad = others[(others["bias"] / others["bias_mcse"]).abs() >= z]
        if len(bad):
            text += ("; " + " and ".join(bad.index) + " stay biased: a flexible propensity model is not a right one, "
                     "and the remaining bias is the product of the two models' errors")
        return text + "."
    if n_ok == len(aipw):
        text += ": the intact model protects AIPW, as double robustness promises."
    else:
        text += (": AIPW is protected only in part. Its remaining bias is the product of the two models' errors, and the "
                 "intact model here is an approximation too (the simulator's truth is neither logistic nor a small "
                 "boosted ensemble), so the product does not vanish.")
    return text
