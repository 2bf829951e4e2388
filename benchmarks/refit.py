"""Benchmark: seconds per replicate of chapter 05's refit bootstrap, one worker against all.

Builds the default profile's weighted panel (simulated, report scale) in a scratch run folder,
then times `refit_bootstrap` (propensity and outcome models cross-fitted again in every user
resample) for the same replicates with `n_jobs=1` and with `n_jobs=N`, checks that both give
identical replicates, and prints seconds per replicate and the speed-up, measured in one run.
The baseline row is the former setting: one worker and LightGBM with 200 trees at learning rate
0.05 (`--before-trees`, `--before-rate`), against today's profile values.

    .venv/bin/python benchmarks/refit.py [--replicates 6] [--jobs 2] [--params params/default.yaml]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import RunStore
from recsys_causal.longterm.aipw import refit_bootstrap
from recsys_causal.longterm.build_aipw import make_refit
from recsys_causal.params import load_params
from recsys_causal.seeds import stream_rng


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=6)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--params", default="params/default.yaml")
    ap.add_argument("--before-trees", type=int, default=200, help="baseline: trees per LightGBM model")
    ap.add_argument("--before-rate", type=float, default=0.05, help="baseline: LightGBM learning rate")
    args = ap.parse_args()
    p = load_params(args.params)
    lt = p.longterm
    with tempfile.TemporaryDirectory(prefix="recsys_causal_refit_") as tmp:
        t0 = time.perf_counter()
        wp = RunStore(Path(tmp) / "run", p).get(LT.WEIGHTED_PANEL)
        wp = wp.sort_values(["user_id", "event_date"], kind="mergesort").reset_index(drop=True)
        print(f"weighted panel: {len(wp):,} rows, {wp['user_id'].nunique():,} users, built in "
              f"{time.perf_counter() - t0:.1f} s")
        before = lt.model_copy(update={"lgbm_n_estimators": args.before_trees,
                                       "lgbm_learning_rate": args.before_rate})
        t = time.perf_counter()
        refit_bootstrap(wp, make_refit(before, p.seed), args.replicates,
                        stream_rng(p.seed, "longterm_refit_bootstrap"), lt.clip_eps, n_jobs=1)
        baseline = time.perf_counter() - t
        refit = make_refit(lt, p.seed)
        times, reps = {}, {}
        for jobs in (1, args.jobs):
            t = time.perf_counter()
            reps[jobs] = refit_bootstrap(wp, refit, args.replicates, stream_rng(p.seed, "longterm_refit_bootstrap"),
                                         lt.clip_eps, n_jobs=jobs)
            times[jobs] = time.perf_counter() - t
        same = np.array_equal(reps[1], reps[args.jobs])
        print(f"{'setting':<40} {'seconds':>9} {'s/replicate':>12} {'ratio to baseline':>18}")
        print(f"{f'baseline: {args.before_trees} trees x {args.before_rate:g}, 1 worker':<40} {baseline:>9.1f} "
              f"{baseline / args.replicates:>12.2f} {1.0:>18.2f}")
        for jobs, sec in times.items():
            label = f"now: {lt.lgbm_n_estimators} trees x {lt.lgbm_learning_rate:g}, {jobs} worker(s)"
            print(f"{label:<40} {sec:>9.1f} {sec / args.replicates:>12.2f} {sec / baseline:>18.2f}")
        print(f"identical replicates: {same}; {args.replicates} replicates, lgbm_n_estimators="
              f"{lt.lgbm_n_estimators}, outcome_arms={lt.outcome_arms}")
        if not same:
            raise SystemExit("replicates differ between worker counts")


if __name__ == "__main__":
    main()
