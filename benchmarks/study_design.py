"""Benchmark: what a cheaper validation study saves, and which of its verdicts it changes.

The study is most of the first run's CPU: R replicates x 4 data sets (three long-term settings and
the slate experiment), each with cross-fitted nuisance models. A cheaper design (fewer folds,
fewer trees, smaller worlds, fewer replicates) saves CPU, but the study then judges other
estimators than the chapters use. This script measures both sides in one invocation:

1. CPU seconds per replicate of every task type (one process, after a warm-up), for the
   profile's design and for the alternative (`--set validation.KEY=VALUE`, repeatable);
2. with `--full`, the whole study of both designs (R of the profile, `n_jobs` workers): wall
   time, their ratio, and every summary row whose verdict differs under the study's own rules
   (`BIAS_Z` Monte Carlo SEs, `COVERAGE_BAND`), or whose RMSE moved by more than `RMSE_TOLERANCE`.

    .venv/bin/python benchmarks/study_design.py --set validation.n_folds=2 --set validation.lt_lgbm_n_estimators=20
    .venv/bin/python benchmarks/study_design.py --full --set validation.n_folds=2     # about 3 minutes
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from recsys_causal.params import Params, load_params
from recsys_causal.validation.metrics import BIAS_Z, COVERAGE_BAND, summarize_replicates
from recsys_causal.validation.runner import config_from_params, plan_tasks, run_study, run_task

KEYS = ["scenario", "estimator", "inference", "estimand"]
RMSE_TOLERANCE = 0.25  # a relative RMSE change the comparison reports


def cpu_per_replicate(params: Params, n_replicates: int) -> dict[str, float]:
    """CPU seconds of one task of each (world, setting), averaged over replicates 1..R (replicate
    0 warms up imports and the first fits)."""
    config = config_from_params(params)
    tasks = plan_tasks(config, n_replicates + 1)
    per_rep = len(tasks) // (n_replicates + 1)
    for t in tasks[:per_rep]:
        run_task(config, t)
    out: dict[str, float] = {}
    for t in tasks[per_rep:]:
        c0 = time.process_time()
        run_task(config, t)
        key = f"{t.world}:{t.setting}"
        out[key] = out.get(key, 0.0) + (time.process_time() - c0) / n_replicates
    return out


def verdicts(summary: pd.DataFrame, z: float = BIAS_Z) -> pd.DataFrame:
    """The study's verdicts per summary row: unbiased (|bias| <= z MCSE), coverage in `COVERAGE_BAND`."""
    s = summary[KEYS].copy()
    s["bias"] = summary["bias"]
    s["bias_z"] = summary["bias"] / summary["bias_mcse"]
    s["unbiased"] = s["bias_z"].abs() <= z
    s["coverage"] = summary["coverage"]
    s["covers"] = summary["coverage"].between(*COVERAGE_BAND)
    s["rmse"] = summary["rmse"]
    return s


def changed_verdicts(base: pd.DataFrame, alt: pd.DataFrame, rmse_tolerance: float = RMSE_TOLERANCE) -> pd.DataFrame:
    """Rows of `verdicts` whose bias or coverage verdict differs, or whose RMSE moved by more
    than `rmse_tolerance` (relative), between the two designs."""
    m = verdicts(base).merge(verdicts(alt), on=KEYS, suffixes=("", "_alt"))
    moved = (m["rmse_alt"] / m["rmse"] - 1.0).abs() > rmse_tolerance
    return m[(m["unbiased"] != m["unbiased_alt"]) | (m["covers"] != m["covers_alt"]) | moved]


def full_study(params: Params) -> tuple[float, pd.DataFrame]:
    """Wall seconds and summary of the whole study of `params` (its R, n_jobs and backend)."""
    v = params.validation
    t0 = time.perf_counter()
    res = run_study(config_from_params(params), v.n_replicates, v.n_jobs, v.backend, v.scheduler_address)
    return time.perf_counter() - t0, summarize_replicates(res.replicates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="validation.KEY=VALUE",
                    help="the alternative design (repeatable)")
    ap.add_argument("--replicates", type=int, default=5, help="replicates timed per task type")
    ap.add_argument("--full", action="store_true", help="also run both whole studies and compare their verdicts")
    args = ap.parse_args()
    if not args.overrides:
        ap.error("give the alternative design with --set validation.KEY=VALUE")
    base = load_params(args.params)
    alt = load_params(args.params, args.overrides)
    label = " ".join(args.overrides)
    R = base.validation.n_replicates

    cb, ca = cpu_per_replicate(base, args.replicates), cpu_per_replicate(alt, args.replicates)
    print(f"profile {args.params}; alternative: {label}")
    print(f"\nCPU s per replicate (mean of {args.replicates})    profile   alternative   ratio")
    for key in cb:
        print(f"  {key:34s} {cb[key]:8.3f}   {ca[key]:11.3f}   {ca[key] / cb[key]:5.2f}")
    tb, ta = sum(cb.values()), sum(ca.values())
    print(f"  {'all task types':34s} {tb:8.3f}   {ta:11.3f}   {ta / tb:5.2f}")
    print(f"  the whole study (R = {R}, {alt.validation.n_replicates} in the alternative), CPU s: "
          f"{tb * R:.0f} against {ta * alt.validation.n_replicates:.0f}")
    if not args.full:
        return
    wb, sb = full_study(base)
    wa, sa = full_study(alt)
    print(f"\nwhole study, wall s: profile {wb:.1f}, alternative {wa:.1f} (ratio {wa / wb:.2f})")
    diff = changed_verdicts(sb, sa, RMSE_TOLERANCE)
    if diff.empty:
        print(f"no verdict changed and no RMSE moved by more than {RMSE_TOLERANCE:.0%}")
        return
    print(f"{len(diff)} summary row(s) change (bias z = bias / MCSE; unbiased: |z| <= {BIAS_Z:g}; "
          f"coverage verdict: in [{COVERAGE_BAND[0]:.2f}, {COVERAGE_BAND[1]:.2f}]; RMSE moved by more than "
          f"{RMSE_TOLERANCE:.0%}):")
    with pd.option_context("display.width", 250, "display.max_rows", 500, "display.max_colwidth", 40):
        cols = [*KEYS, "bias", "bias_z", "bias_alt", "bias_z_alt", "coverage", "coverage_alt", "rmse", "rmse_alt"]
        print(diff[cols].round(2).replace({np.nan: None}).to_string(index=False))


if __name__ == "__main__":
    main()
