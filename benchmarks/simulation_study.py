"""Replicates per second of the simulation study with n_jobs = 1 and 2, and the scaling ratio.

    .venv/bin/python benchmarks/simulation_study.py                 # test-profile scale, scenario (a)
    .venv/bin/python benchmarks/simulation_study.py --replicates 6 --scenarios a b c --profile params/default.yaml

A "replicate" here is one simulated data set of one setting analysed under its scenarios
(one task of the runner). The ratio (rate with 2 workers / rate with 1) is at most 2; loky's
worker start-up and a machine shared with other work pull it down.
"""

from __future__ import annotations

import argparse
import time

from recsys_causal.params import load_params
from recsys_causal.validation.runner import (
    config_from_params,
    plan_tasks,
    run_study,
    with_scenarios,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="params/test.yaml", help="parameter profile (scale of the data sets)")
    ap.add_argument("--replicates", type=int, default=8, help="replicates per scenario")
    ap.add_argument("--scenarios", nargs="+", default=["a"], help="scenarios to run (a-e, interference)")
    ap.add_argument("--jobs", nargs="+", type=int, default=[1, 2], help="n_jobs values to time")
    args = ap.parse_args()

    params = load_params(args.profile)
    config = with_scenarios(config_from_params(params), args.scenarios)
    n_tasks = len(plan_tasks(config, args.replicates))
    # warm-up: imports, the first LightGBM fit and loky's worker start-up are not what we time
    # (loky keeps its workers between calls)
    for n_jobs in sorted(set(args.jobs)):
        run_study(config, n_jobs, n_jobs=n_jobs)
    rates = {}
    reference = None
    for n_jobs in args.jobs:
        t0 = time.perf_counter()
        res = run_study(config, args.replicates, n_jobs=n_jobs, backend="loky")
        seconds = time.perf_counter() - t0
        rates[n_jobs] = n_tasks / seconds
        same = reference is None or res.replicates.equals(reference)
        reference = res.replicates if reference is None else reference
        print(f"n_jobs={n_jobs}: {n_tasks} replicates in {seconds:.1f} s = {rates[n_jobs]:.3f} replicates/s"
              f"{'' if same else '  (RESULTS DIFFER from n_jobs=' + str(args.jobs[0]) + ')'}")
    if 1 in rates and 2 in rates:
        print(f"scaling ratio (n_jobs=2 / n_jobs=1): {rates[2] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
