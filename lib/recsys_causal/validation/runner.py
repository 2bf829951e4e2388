"""The simulation study's runner: tasks, one replicate, and the joblib / Dask map.

A task is one data set of one setting (a replicate index), analysed under every scenario of that
setting. Replicate r's simulator and estimator seeds come from `recsys_causal.seeds.replicate_seed`
(``SeedSequence(seed).spawn(R)[r]`` and a named stream), so the same replicate index uses the
same simulator seed in every setting (common random numbers: settings differ only in their
knobs), and a task's result depends only on (seed, setting, replicate), never on which worker
ran it: results are identical whatever ``n_jobs`` and backend.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.params import Params, ValidationParams
from recsys_causal.seeds import replicate_seed
from recsys_causal.validation.cache import ReplicateCache, study_digest
from recsys_causal.validation.registry import EstimateRow, EstimatorSpec, World
from recsys_causal.validation.scenarios import SCENARIO_KEYS, SCENARIOS


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyConfig:
    """Everything a replicate needs (picklable: sent to every worker)."""

    seed: int
    validation: ValidationParams
    scenarios: tuple[str, ...] = SCENARIO_KEYS
    worlds: dict[str, World] | None = None  # None = the real worlds
    estimators: dict[str, list[EstimatorSpec]] | None = None  # None = each world's own list

    def world(self, name: str) -> World:
        worlds = self.worlds if self.worlds is not None else default_worlds()
        return worlds[name]

    def estimator_specs(self, world: str) -> list[EstimatorSpec]:
        if self.estimators is not None:
            return list(self.estimators.get(world, []))
        return list(self.world(world).estimators)


def config_from_params(params: Params) -> StudyConfig:
    """Study configuration from a run's `Params` (seed + validation section)."""
    v = params.validation
    return StudyConfig(seed=int(params.seed), validation=v, scenarios=tuple(v.scenarios))


# ----------------------------------------------------------------------------------------------
# One task: one data set of one setting, analysed under each of its scenarios
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    world: str
    setting: str
    scenarios: tuple[str, ...]
    replicate: int


def plan_tasks(config: StudyConfig, n_replicates: int) -> list[Task]:
    """Tasks in a fixed order: replicate-major, then settings in scenario order."""
    groups: dict[tuple[str, str], list[str]] = {}
    for key in config.scenarios:
        if key not in SCENARIOS:
            raise ValueError(f"unknown scenario '{key}'; expected some of {list(SCENARIOS)}")
        s = SCENARIOS[key]
        groups.setdefault((s.world, s.setting), []).append(key)
    return [Task(w, st, tuple(keys), r) for r in range(n_replicates) for (w, st), keys in groups.items()]


ROW_COLUMNS: tuple[str, ...] = (
    "world", "scenario", "setting", "replicate", "estimator", "inference", "estimand", "estimate",
    "se", "ci_lower", "ci_upper", "truth", "covers", "error", "sim_seed", "status",
)


def run_task(config: StudyConfig, task: Task) -> pd.DataFrame:
    """Simulate one data set and apply every scenario's estimators to it (runs in a worker)."""
    sim_seed = replicate_seed(config.seed, task.replicate, "replicate_simulation")
    est_seed = replicate_seed(config.seed, task.replicate, "replicate_estimation")
    world = config.world(task.world)
    scenarios = [SCENARIOS[k] for k in task.scenarios]
    data = world.simulate(config, task.setting, sim_seed)
    analyses = world.analyse(config, data, scenarios, est_seed)
    rows: list[dict[str, Any]] = []
    for scen in scenarios:
        an = analyses[scen.key]
        for spec in config.estimator_specs(task.world):
            try:
                results = spec.func(an)
                status = "ok"
            except Exception as exc:  # an estimator failing on one data set is a result, not a crash
                results = [EstimateRow(spec.name, "", np.nan, np.nan, np.nan, np.nan, np.nan)]
                status = f"failed: {type(exc).__name__}: {exc}"[:200]
            for r in results:
                rows.append({
                    "world": task.world, "scenario": scen.key, "setting": task.setting,
                    "replicate": task.replicate, "estimator": r.estimator, "inference": r.inference,
                    "estimand": r.estimand, "estimate": r.estimate, "se": r.se,
                    "ci_lower": r.ci_lower, "ci_upper": r.ci_upper, "truth": r.truth,
                    "sim_seed": sim_seed, "status": status,
                })
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=list(ROW_COLUMNS))
    out["covers"] = (out["ci_lower"] <= out["truth"]) & (out["truth"] <= out["ci_upper"])
    out["error"] = out["estimate"] - out["truth"]
    return out[list(ROW_COLUMNS)]


# ----------------------------------------------------------------------------------------------
# The runner
# ----------------------------------------------------------------------------------------------
@dataclass
class StudyResult:
    replicates: pd.DataFrame
    seconds: float
    n_tasks: int
    backend: str
    n_jobs: int
    n_computed: int = 0  # tasks computed in this call (the rest came from the cache)


def _parallel_map(config: StudyConfig, tasks: list[Task], n_jobs: int, backend: str,
                  scheduler_address: str = "", client: Any = None) -> list[pd.DataFrame]:
    from joblib import Parallel, delayed, parallel_config

    calls = [delayed(run_task)(config, t) for t in tasks]
    if backend == "loky":
        if n_jobs == 1:
            return [run_task(config, t) for t in tasks]
        with parallel_config(backend="loky", n_jobs=n_jobs, inner_max_num_threads=1):
            return Parallel(n_jobs=n_jobs)(calls)
    if backend == "dask":
        own = None
        if client is None:
            if not scheduler_address:
                raise ValueError("backend 'dask' needs scheduler_address (e.g. tcp://127.0.0.1:8786) or a client")
            from distributed import Client

            own = client = Client(scheduler_address, set_as_default=False)
        try:
            with client.as_current(), parallel_config(backend="dask", wait_for_workers_timeout=60):
                return Parallel(n_jobs=-1)(calls)
        finally:
            if own is not None:
                own.close()
    raise ValueError(f"unknown backend '{backend}'; expected 'loky' or 'dask'")


def run_study(
    config: StudyConfig,
    n_replicates: int,
    n_jobs: int = 1,
    backend: str = "loky",
    scheduler_address: str = "",
    client: Any = None,
    cache: ReplicateCache | None = None,
) -> StudyResult:
    """Run every (setting, replicate) task in parallel and stack the per-replicate estimates.

    With `cache`, tasks already stored are read back and only the others are computed (and
    stored). The table is sorted by (scenario order, replicate, registry order), so it is
    byte-identical whatever the backend, the number of workers and what came from the cache.
    """
    tasks = plan_tasks(config, n_replicates)
    t0 = time.perf_counter()
    found = {t: cache.get(t.world, t.setting, t.scenarios, t.replicate) for t in tasks} if cache else {}
    todo = [t for t in tasks if found.get(t) is None]
    fresh = _parallel_map(config, todo, n_jobs, backend, scheduler_address, client) if todo else []
    for t, part in zip(todo, fresh, strict=True):
        found[t] = cache.put(t.world, t.setting, t.scenarios, t.replicate, part) if cache else part
    parts = [found[t] for t in tasks]
    seconds = time.perf_counter() - t0
    reps = pd.concat([p for p in parts if len(p)], ignore_index=True) if parts else pd.DataFrame(columns=list(ROW_COLUMNS))
    reps = order_replicates(reps, config)
    return StudyResult(reps, seconds, len(tasks), backend, n_jobs, n_computed=len(todo))


def order_replicates(reps: pd.DataFrame, config: StudyConfig) -> pd.DataFrame:
    """Canonical row order: scenario (registry order), replicate, then first-seen estimator order."""
    if reps.empty:
        return reps
    scen_rank = {k: i for i, k in enumerate(SCENARIO_KEYS)}
    est_order = list(dict.fromkeys(zip(reps["estimator"], reps["inference"], reps["estimand"], strict=True)))
    est_rank = {k: i for i, k in enumerate(est_order)}
    key = pd.DataFrame({
        "s": reps["scenario"].map(scen_rank),
        "r": reps["replicate"],
        "e": [est_rank[k] for k in zip(reps["estimator"], reps["inference"], reps["estimand"], strict=True)],
    })
    order = np.lexsort((key["e"].to_numpy(), key["r"].to_numpy(), key["s"].to_numpy()))
    return reps.iloc[order].reset_index(drop=True)


def run_study_from_params(params: Params, client: Any = None, cache_dir: Path | None = None) -> StudyResult:
    """`run_study` with the run's validation parameters (n_replicates, n_jobs, backend, address),
    reusing the replicates stored in `cache_dir` (see `recsys_causal.validation.cache`)."""
    v = params.validation
    cache = ReplicateCache(cache_dir, study_digest(params.seed, v)) if cache_dir is not None else None
    return run_study(config_from_params(params), v.n_replicates, v.n_jobs, v.backend, v.scheduler_address, client,
                     cache)


# ----------------------------------------------------------------------------------------------
# The real worlds
# ----------------------------------------------------------------------------------------------
def default_worlds() -> dict[str, World]:
    """The two real worlds (long-term KuaiRec panel, interference slate experiment)."""
    from recsys_causal.validation import interference_world, longterm_world

    return {"longterm": longterm_world.WORLD, "interference": interference_world.WORLD}


def with_scenarios(config: StudyConfig, scenarios: Iterable[str]) -> StudyConfig:
    """A copy of `config` restricted to some scenarios."""
    return replace(config, scenarios=tuple(scenarios))
