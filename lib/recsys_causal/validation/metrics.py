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


def bias_z(summary: pd.DataFrame) -> pd.Series:
    """Bias in units of its Monte Carlo SE (|z| > 3 is a bias the replicates can see)."""
    return summary["bias"] / summary["bias_mcse"]


def coverage_band(n_replicates: int, level: float = 0.95, width: float = 2.0) -> tuple[float, float]:
    """level +- width x nominal MCSE: where a calibrated interval's estimated coverage usually falls."""
    m = nominal_coverage_mcse(n_replicates, level)
    return max(0.0, level - width * m), min(1.0, level + width * m)
