"""The simulation study: scenarios, one replicate, and the joblib / Dask runner.

Vocabulary
----------
* A **world** is one of the two simulated tracks: ``longterm`` (the KuaiRec-format simulator,
  read back through the loader and turned into the user-day panel) and ``interference`` (the
  MovieLens-format simulator, slates, the randomized promotion experiment).
* A **setting** is one data-generating process of a world: the simulator's knobs. Settings of
  the long-term world: ``default``, ``weak_overlap`` (strong confounding) and ``unmeasured``
  (a latent confounder the logs do not carry).
* A **scenario** is a setting plus an analysis: scenarios (a), (b) and (c) analyse the *same*
  data sets of the default setting, with the full feature lists, without the strongest
  confounder in the propensity model (b), or without it in the outcome model (c). Scenario (d)
  is the weak-overlap setting, (e) the unmeasured-confounder setting, ``interference`` the
  slate experiment.
* An **estimator** is a registered function ``f(analysis) -> list[EstimateRow]``. The registry
  (`ESTIMATORS`) is the only place that lists them; the study, the tables and the figures
  read it. Tests run the harness with stand-in worlds and estimators (`World`,
  `register_estimator`).

Seeds
-----
``np.random.SeedSequence(seed).spawn(R)`` gives replicate r its own seed sequence; from it, fixed
streams derive the simulator's seed and the estimators' seed (bootstrap draws, model seeds). The
same replicate index uses the same simulator seed in every setting (common random numbers: the
settings differ only in their knobs). A task's result depends only on (seed, setting,
replicate), never on which worker ran it, so results are identical whatever ``n_jobs`` and
backend.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

# ----------------------------------------------------------------------------------------------
# Scenarios
# ----------------------------------------------------------------------------------------------
#: The strongest confounder of the KuaiRec simulator: the recorded activity history. Its
#: treatment logit is c * [1.6 (h - 1.35) + 0.5 (log1p(m) - ...)] with h the 3-day high-watch share
#: and m = prior_3day_interactions, and activity (m) also drives next week's activity, the
#: outcome. By its pull on treatment alone h leads, but h barely moves the outcome, so leaving it
#: out biases nothing; m moves both (`confounder_strengths` ranks covariates by the product of the
#: two pulls, and a test checks that m comes first on a default data set).
STRONGEST_CONFOUNDER = "prior_3day_interactions"
#: Near-copies of the strongest confounder (correlation >= 0.8 with it in the simulated panel):
#: a model that lost m alone would recover it from them, so scenarios (b) and (c) drop them too.
CONFOUNDER_PROXIES: tuple[str, ...] = (
    "prior_3day_total_play_duration_sec", "lag_1_interactions", "lag_1_total_play_duration_sec",
)
OMITTED_COVARIATES: tuple[str, ...] = (STRONGEST_CONFOUNDER, *CONFOUNDER_PROXIES)
#: Calendar position, not user history (and collinear with each other within the panel):
#: left out of the confounder ranking.
CALENDAR_COVARIATES: tuple[str, ...] = ("calendar_day_index", "panel_day_index")


@dataclass(frozen=True)
class Scenario:
    """A data-generating setting plus the analysis applied to its data sets."""

    key: str  # "a" .. "e", "interference"
    world: str
    setting: str
    title: str
    description: str
    propensity_drop: tuple[str, ...] = ()
    outcome_drop: tuple[str, ...] = ()
    short: str = ""  # panel title in figures


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in (
        Scenario("a", "longterm", "default", "(a) Default world",
                 "The simulator's default confounding; every nuisance model sees all pre-treatment covariates.",
                 short="(a) default"),
        Scenario("b", "longterm", "default", "(b) Propensity model omits the strongest confounder",
                 f"Same data as (a); `{STRONGEST_CONFOUNDER}` and its near-copies are dropped from both propensity models.",
                 propensity_drop=OMITTED_COVARIATES, short="(b) confounder\nnot in e(X)"),
        Scenario("c", "longterm", "default", "(c) Outcome model omits the strongest confounder",
                 f"Same data as (a); `{STRONGEST_CONFOUNDER}` and its near-copies are dropped from both outcome models.",
                 outcome_drop=OMITTED_COVARIATES, short="(c) confounder\nnot in m(a, X)"),
        Scenario("d", "longterm", "weak_overlap", "(d) Weak overlap",
                 "Confounding strong enough that many propensities fall outside [0.05, 0.95].",
                 short="(d) weak\noverlap"),
        Scenario("e", "longterm", "unmeasured", "(e) Unmeasured confounder",
                 "A user-day shock raises both the chance of a high-watch day and later activity; no log row carries it.",
                 short="(e) unmeasured\nconfounder"),
        Scenario("interference", "interference", "default", "Slate promotion experiment",
                 "Promotion randomized by slate with a known probability (the interference track's world).",
                 short="slate experiment"),
    )
}
SCENARIO_KEYS: tuple[str, ...] = tuple(SCENARIOS)


def setting_overrides(setting: str, vp: Any) -> dict[str, Any]:
    """Simulator knobs of a long-term setting (from the validation parameters)."""
    if setting == "default":
        return {}
    if setting == "weak_overlap":
        return {"sim_confounding": float(vp.lt_weak_overlap_confounding)}
    if setting == "unmeasured":
        return {"sim_unmeasured_confounding": float(vp.lt_unmeasured_confounding)}
    raise ValueError(f"unknown long-term setting '{setting}'")


# ----------------------------------------------------------------------------------------------
# Estimates and the estimator registry
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EstimateRow:
    """One estimate of one replicate: point, SE, interval and the truth it targets."""

    estimator: str
    inference: str
    estimate: float
    se: float
    ci_lower: float
    ci_upper: float
    truth: float
    estimand: str = "ATE"


@dataclass(frozen=True)
class EstimatorSpec:
    name: str
    world: str
    func: Callable[[Any], list[EstimateRow]]


ESTIMATORS: dict[str, list[EstimatorSpec]] = {"longterm": [], "interference": []}


def register_estimator(world: str, name: str,
                       registry: dict[str, list[EstimatorSpec]] | None = None) -> Callable[[Callable[[Any], list[EstimateRow]]], Callable[[Any], list[EstimateRow]]]:
    """Decorator: add `func(analysis) -> list[EstimateRow]` to the registry of `world`."""
    reg = ESTIMATORS if registry is None else registry

    def deco(func: Callable[[Any], list[EstimateRow]]) -> Callable[[Any], list[EstimateRow]]:
        specs = reg.setdefault(world, [])
        specs[:] = [s for s in specs if s.name != name]
        specs.append(EstimatorSpec(name, world, func))
        return func

    return deco


@dataclass(frozen=True)
class World:
    """How to draw one data set of a setting and turn it into analyses, one per scenario.

    `simulate(config, setting, sim_seed) -> data`; `analyse(config, data, scenarios, est_seed)
    -> {scenario key: analysis}` (analyses of one data set may share fitted nuisances).
    """

    name: str
    simulate: Callable[[StudyConfig, str, int], Any]
    analyse: Callable[[StudyConfig, Any, Sequence[Scenario], int], dict[str, Any]]


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyConfig:
    """Everything a replicate needs (picklable: sent to every worker)."""

    seed: int
    validation: Any  # ValidationParams
    scenarios: tuple[str, ...] = SCENARIO_KEYS
    worlds: dict[str, World] | None = None  # None = the real worlds
    estimators: dict[str, list[EstimatorSpec]] | None = None  # None = ESTIMATORS

    def world(self, name: str) -> World:
        worlds = self.worlds if self.worlds is not None else default_worlds()
        return worlds[name]

    def estimator_specs(self, world: str) -> list[EstimatorSpec]:
        if self.estimators is not None:
            return list(self.estimators.get(world, []))
        _register_default_estimators()
        return list(ESTIMATORS.get(world, []))


def config_from_params(params: Any) -> StudyConfig:
    """Study configuration from a run's `Params` (seed + validation section)."""
    v = params.validation
    return StudyConfig(seed=int(params.seed), validation=v, scenarios=tuple(v.scenarios))


# ----------------------------------------------------------------------------------------------
# Seeds
# ----------------------------------------------------------------------------------------------
SIM_STREAM = 0
ESTIMATION_STREAM = 1


def replicate_seed_sequences(seed: int, n_replicates: int) -> list[np.random.SeedSequence]:
    """One independent seed sequence per replicate: SeedSequence(seed).spawn(R)."""
    return np.random.SeedSequence(int(seed)).spawn(int(n_replicates))


def stream_seed(ss: np.random.SeedSequence, stream: int) -> int:
    """A 31-bit integer seed for one purpose of one replicate (independent of spawn counters)."""
    child = np.random.SeedSequence(entropy=ss.entropy, spawn_key=(*ss.spawn_key, int(stream)))
    return int(child.generate_state(1, dtype=np.uint32)[0] >> 1)


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
    ss = replicate_seed_sequences(config.seed, task.replicate + 1)[task.replicate]
    sim_seed = stream_seed(ss, SIM_STREAM)
    est_seed = stream_seed(ss, ESTIMATION_STREAM)
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
) -> StudyResult:
    """Run every (setting, replicate) task in parallel and stack the per-replicate estimates.

    The table is sorted by (scenario order, replicate, registry order), so it is byte-identical
    whatever the backend and the number of workers.
    """
    tasks = plan_tasks(config, n_replicates)
    t0 = time.perf_counter()
    parts = _parallel_map(config, tasks, n_jobs, backend, scheduler_address, client)
    seconds = time.perf_counter() - t0
    reps = pd.concat([p for p in parts if len(p)], ignore_index=True) if parts else pd.DataFrame(columns=list(ROW_COLUMNS))
    reps = order_replicates(reps, config)
    return StudyResult(reps, seconds, len(tasks), backend, n_jobs)


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


def run_study_from_params(params: Any, client: Any = None) -> StudyResult:
    """`run_study` with the run's validation parameters (n_replicates, n_jobs, backend, address)."""
    v = params.validation
    return run_study(config_from_params(params), v.n_replicates, v.n_jobs, v.backend, v.scheduler_address, client)


# ----------------------------------------------------------------------------------------------
# The real worlds
# ----------------------------------------------------------------------------------------------
def default_worlds() -> dict[str, World]:
    """The two real worlds (long-term KuaiRec panel, interference slate experiment)."""
    return {
        "longterm": World("longterm", simulate_longterm, analyse_longterm),
        "interference": World("interference", simulate_interference, analyse_interference),
    }


def _register_default_estimators() -> None:
    """The real estimators are registered at import time below; nothing to do."""


def estimator_names(world: str) -> list[str]:
    """Names of the registered estimators of a world, in registry order."""
    _register_default_estimators()
    return [s.name for s in ESTIMATORS.get(world, [])]


def with_scenarios(config: StudyConfig, scenarios: Iterable[str]) -> StudyConfig:
    """A copy of `config` restricted to some scenarios."""
    return replace(config, scenarios=tuple(scenarios))


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    """A private scratch folder for one replicate's simulated files."""
    return tempfile.TemporaryDirectory(prefix="recsys_causal_val_")



# ==============================================================================================
# The long-term world: KuaiRec-format simulator -> loader -> user-day panel -> estimators
# ==============================================================================================
PRIMARY_AIPW: tuple[str, str] = ("logistic", "lightgbm")
BOOTSTRAP_INFERENCE = "user-cluster bootstrap (nuisances fixed)"
IF_INFERENCE = "influence function, clustered by user"
PROPENSITY_LABELS = {"logistic": "logistic", "lightgbm": "LightGBM"}
OUTCOME_LABELS = {"linear_ridge": "ridge", "lightgbm": "LightGBM"}


def study_longterm_params(vp: Any, setting: str = "default") -> Any:
    """The `LongtermParams` of the study's long-term data sets: report defaults, study scale.

    What differs from the main chapters: `lt_n_users` x `lt_n_days` simulated users and days,
    `n_folds` cross-fitting folds and `lt_lgbm_n_estimators` trees per LightGBM model with the
    learning rate raised so that trees x rate equals the chapters' (200 x 0.05), plus the
    setting's simulator knobs.
    """
    from recsys_causal.params import LongtermParams

    base = LongtermParams()
    update = {
        "sim_n_users": int(vp.lt_n_users),
        "sim_n_days": int(vp.lt_n_days),
        "n_folds": int(vp.n_folds),
        "lgbm_n_estimators": int(vp.lt_lgbm_n_estimators),
        # fewer trees, same total shrinkage (trees x learning rate) as the chapters' models
        "lgbm_learning_rate": min(1.0, base.lgbm_learning_rate * base.lgbm_n_estimators / int(vp.lt_lgbm_n_estimators)),
        "n_bootstrap": int(vp.lt_n_bootstrap),
        **setting_overrides(setting, vp),
    }
    return base.model_copy(update=update)


@dataclass
class LongtermData:
    """One simulated long-term data set: the sorted panel and its oracle ATE."""

    panel: pd.DataFrame
    truth: float
    params: Any  # LongtermParams
    setting: str


def build_panel(interactions: pd.DataFrame, lt: Any) -> pd.DataFrame:
    """The user-day panel of chapter longterm_01 (`longterm.panel.build_user_day_panel`)."""
    from recsys_causal.longterm.panel import build_user_day_panel

    return build_user_day_panel(interactions, lt.high_watch_threshold, lt.treatment_cutoff,
                                lt.outcome_horizon_days).panel


def simulate_longterm(config: StudyConfig, setting: str, sim_seed: int) -> LongtermData:
    """Simulate KuaiRec-format logs, read them back through the loader, build the panel."""
    from recsys_causal.data.kuairec import load_interactions
    from recsys_causal.longterm.msm import oracle_ate
    from recsys_causal.simulate.kuairec import simulate_from_params

    lt = study_longterm_params(config.validation, setting)
    with temp_dir() as tmp:
        sim = simulate_from_params(lt, sim_seed, tmp)
        interactions, _ = load_interactions(tmp, lt.matrix, lt.duplicate_policy)
    panel = build_panel(interactions, lt)
    panel = panel.sort_values(["user_id", "event_date"], kind="mergesort").reset_index(drop=True)
    panel["event_date"] = pd.to_datetime(panel["event_date"])
    truth = oracle_ate(panel, sim.oracle)
    return LongtermData(panel, float(truth), lt, setting)


def _feature_lists(drop: Sequence[str]) -> tuple[list[str], list[str]]:
    from recsys_causal.longterm.propensity import CATEGORICAL_COVARIATES, NUMERIC_COVARIATES

    unknown = [d for d in drop if d not in (*NUMERIC_COVARIATES, *CATEGORICAL_COVARIATES)]
    if unknown:
        raise ValueError(f"cannot drop {unknown}: not pre-treatment covariates")
    return ([c for c in NUMERIC_COVARIATES if c not in drop], [c for c in CATEGORICAL_COVARIATES if c not in drop])


def propensity_model(model: str, lt: Any, seed: int, drop: Sequence[str] = ()) -> Any:
    """Chapter 02's propensity pipeline, with some covariates left out of its feature list.

    Built from the chapter's own pieces (`make_preprocessor`, `lgbm_kwargs`); with no `drop`
    it is the same model as `make_propensity_model`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from recsys_causal.longterm.propensity import lgbm_kwargs, make_preprocessor

    num, cat = _feature_lists(drop)
    if model == "logistic":
        return Pipeline([("prep", make_preprocessor(num, cat, scale=True)),
                         ("model", LogisticRegression(max_iter=2000))])
    if model == "lightgbm":
        from lightgbm import LGBMClassifier

        return Pipeline([("prep", make_preprocessor(num, cat, scale=False)),
                         ("model", LGBMClassifier(**lgbm_kwargs(lt, seed)))])
    raise ValueError(f"unknown propensity model '{model}'")


def outcome_model(model: str, lt: Any, seed: int, drop: Sequence[str] = ()) -> Any:
    """Chapter 04's outcome pipeline (treatment as a feature), some covariates left out."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    from recsys_causal.longterm.propensity import TREATMENT, lgbm_kwargs, make_preprocessor

    num, cat = _feature_lists(drop)
    if model == "linear_ridge":
        return Pipeline([("prep", make_preprocessor(num, cat, scale=True, passthrough=(TREATMENT,))),
                         ("model", Ridge(alpha=lt.ridge_alpha))])
    if model == "lightgbm":
        from lightgbm import LGBMRegressor

        return Pipeline([("prep", make_preprocessor(num, cat, scale=False, passthrough=(TREATMENT,))),
                         ("model", LGBMRegressor(**lgbm_kwargs(lt, seed)))])
    raise ValueError(f"unknown outcome model '{model}'")


@dataclass
class LongtermAnalysis:
    """One scenario's view of one data set; fitted nuisances are shared through `cache`."""

    data: LongtermData
    scenario: Scenario
    seed: int
    cache: dict[Any, Any]

    @property
    def panel(self) -> pd.DataFrame:
        return self.data.panel

    @property
    def lt(self) -> Any:
        return self.data.params

    @property
    def truth(self) -> float:
        return self.data.truth

    def _memo(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def counts(self) -> np.ndarray:
        """The user-cluster bootstrap count matrix shared by every estimator of this data set."""
        from recsys_causal.inference import user_bootstrap_counts

        return self._memo("counts", lambda: user_bootstrap_counts(
            self.panel["user_id"].to_numpy(), self.lt.n_bootstrap, self.seed))

    def propensity(self, model: str) -> np.ndarray:
        """Out-of-fold e(X) (GroupKFold by user) without the scenario's dropped covariates."""
        from recsys_causal.longterm.propensity import (
            GROUP,
            PROPENSITY_BOUND,
            TREATMENT,
            cross_fit_predict,
        )

        drop = self.scenario.propensity_drop

        def fit() -> np.ndarray:
            num, cat = _feature_lists(drop)
            est = propensity_model(model, self.lt, self.seed, drop)
            oof = cross_fit_predict(est, self.panel[[*num, *cat]], self.panel[TREATMENT].to_numpy(int),
                                    self.panel[GROUP].to_numpy(), self.lt.n_folds, method="predict_proba").oof
            return np.clip(oof, PROPENSITY_BOUND, 1.0 - PROPENSITY_BOUND)

        return self._memo(("propensity", model, drop), fit)

    def outcome(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold (m1, m0) without the scenario's dropped covariates."""
        from recsys_causal.longterm.propensity import GROUP, OUTCOME, TREATMENT, cross_fit_predict

        drop = self.scenario.outcome_drop

        def fit() -> tuple[np.ndarray, np.ndarray]:
            num, cat = _feature_lists(drop)
            X = self.panel[[*num, *cat, TREATMENT]].copy()
            X[TREATMENT] = X[TREATMENT].astype(float)
            est = outcome_model(model, self.lt, self.seed, drop)
            cf = cross_fit_predict(est, X, self.panel[OUTCOME].to_numpy(float), self.panel[GROUP].to_numpy(),
                                   self.lt.n_folds, method="predict",
                                   counterfactual_X=(X.assign(**{TREATMENT: 1.0}), X.assign(**{TREATMENT: 0.0})))
            return cf.extra[0], cf.extra[1]

        return self._memo(("outcome", model, drop), fit)

    def msm_table(self) -> pd.DataFrame:
        """Chapter 03's naive / weighted / MSM table with the scenario's primary propensity."""
        from recsys_causal.longterm.msm import msm_estimates
        from recsys_causal.longterm.weights import analysis_weights

        def make() -> pd.DataFrame:
            e = self.propensity(self.lt.primary_propensity)
            a = self.panel["treatment"].to_numpy(int)
            _, w = analysis_weights(a, e, self.lt.weight_truncation_lower, self.lt.weight_truncation_upper)
            wp = self.panel.assign(analysis_weight=w)
            return msm_estimates(wp, self.lt.n_bootstrap, self.seed, counts=self.counts())

        return self._memo(("msm", self.scenario.propensity_drop), make)


def analyse_longterm(config: StudyConfig, data: LongtermData, scenarios: Sequence[Scenario],
                     est_seed: int) -> dict[str, LongtermAnalysis]:
    """One analysis per scenario, sharing one nuisance cache (so (a), (b), (c) fit each model once)."""
    cache: dict[Any, Any] = {}
    return {s.key: LongtermAnalysis(data, s, est_seed, cache) for s in scenarios}


def _msm_row(an: LongtermAnalysis, method: str, name: str) -> list[EstimateRow]:
    t = an.msm_table()
    r = t[t["method"].eq(method)].iloc[0]
    return [EstimateRow(name, BOOTSTRAP_INFERENCE, float(r["estimate"]), float(r["se_bootstrap"]),
                        float(r["ci_95_lower"]), float(r["ci_95_upper"]), an.truth)]


@register_estimator("longterm", "Naive difference in means")
def naive_difference(an: LongtermAnalysis) -> list[EstimateRow]:
    """Chapter 03's naive contrast (the same bootstrap function), without touching propensities."""
    from recsys_causal.bootstrap import cluster_bootstrap_diff_in_means

    p = an.panel
    res = cluster_bootstrap_diff_in_means(p["outcome"].to_numpy(float), p["treatment"].to_numpy(float),
                                          p["user_id"].to_numpy(), counts=an.counts())
    return [EstimateRow("Naive difference in means", BOOTSTRAP_INFERENCE, float(res.estimate[0]), float(res.se[0]),
                        float(res.ci_lower[0]), float(res.ci_upper[0]), an.truth)]


@register_estimator("longterm", "IPW (Hájek)")
def ipw_hajek(an: LongtermAnalysis) -> list[EstimateRow]:
    from recsys_causal.longterm.msm import WEIGHTED_DIM_METHOD

    return _msm_row(an, WEIGHTED_DIM_METHOD, "IPW (Hájek)")


@register_estimator("longterm", "MSM")
def msm(an: LongtermAnalysis) -> list[EstimateRow]:
    from recsys_causal.longterm.msm import MSM_METHOD

    return _msm_row(an, MSM_METHOD, "MSM")


def _gcomp(an: LongtermAnalysis, model: str) -> list[EstimateRow]:
    from recsys_causal.bootstrap import cluster_bootstrap_mean

    m1, m0 = an.outcome(model)
    res = cluster_bootstrap_mean(m1 - m0, an.panel["user_id"].to_numpy(), counts=an.counts())
    return [EstimateRow(f"G-computation ({OUTCOME_LABELS[model]})", BOOTSTRAP_INFERENCE, float(res.estimate[0]),
                        float(res.se[0]), float(res.ci_lower[0]), float(res.ci_upper[0]), an.truth)]


@register_estimator("longterm", "G-computation (ridge)")
def gcomp_ridge(an: LongtermAnalysis) -> list[EstimateRow]:
    return _gcomp(an, "linear_ridge")


@register_estimator("longterm", "G-computation (LightGBM)")
def gcomp_lightgbm(an: LongtermAnalysis) -> list[EstimateRow]:
    return _gcomp(an, "lightgbm")


def aipw_label(propensity: str, outcome: str) -> str:
    return f"AIPW ({PROPENSITY_LABELS[propensity]} + {OUTCOME_LABELS[outcome]})"


PRIMARY_AIPW_LABEL = aipw_label(*PRIMARY_AIPW)


def _aipw(an: LongtermAnalysis, propensity: str, outcome: str) -> list[EstimateRow]:
    """Chapter 05's AIPW score for one nuisance pair: clustered IF SE and fixed-nuisance bootstrap."""
    from recsys_causal.bootstrap import cluster_bootstrap_mean
    from recsys_causal.inference import Z95
    from recsys_causal.longterm.aipw import influence_function_se
    from recsys_causal.scores import aipw_score

    e = an.propensity(propensity)
    m1, m0 = an.outcome(outcome)
    p = an.panel
    psi = aipw_score(p["outcome"], p["treatment"], e, m1, m0, an.lt.clip_eps)
    users = p["user_id"].to_numpy()
    est, se, _ = influence_function_se(psi, users)
    boot = cluster_bootstrap_mean(psi, users, counts=an.counts())
    name = aipw_label(propensity, outcome)
    return [
        EstimateRow(name, IF_INFERENCE, est, se, est - Z95 * se, est + Z95 * se, an.truth),
        EstimateRow(name, BOOTSTRAP_INFERENCE, float(boot.estimate[0]), float(boot.se[0]),
                    float(boot.ci_lower[0]), float(boot.ci_upper[0]), an.truth),
    ]


def _register_aipw(propensity: str, outcome: str) -> None:
    register_estimator("longterm", aipw_label(propensity, outcome))(
        lambda an, p=propensity, o=outcome: _aipw(an, p, o))


for _p in ("logistic", "lightgbm"):
    for _o in ("linear_ridge", "lightgbm"):
        _register_aipw(_p, _o)


def confounder_strengths(panel: pd.DataFrame) -> pd.DataFrame:
    """How strongly each numeric pre-treatment covariate confounds treatment and outcome.

    Per covariate: its standardized coefficient in a logistic model of treatment, in a linear
    model of the outcome (given treatment and the other covariates), and the product of the
    two absolute values (`confounding_score`, the rough size of the bias that omitting it
    would leave); sorted by that score.
    """
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from recsys_causal.longterm.propensity import NUMERIC_COVARIATES

    history = [c for c in NUMERIC_COVARIATES if c not in CALENDAR_COVARIATES]
    X = panel[history].to_numpy(float)
    keep = X.std(axis=0) > 0
    cols = [c for c, k in zip(history, keep, strict=True) if k]
    Xs = StandardScaler().fit_transform(X[:, keep])
    a = panel["treatment"].to_numpy(int)
    y = panel["outcome"].to_numpy(float)
    t_coef = LogisticRegression(max_iter=2000).fit(Xs, a).coef_[0]
    y_coef = LinearRegression().fit(np.column_stack([Xs, a]), (y - y.mean()) / y.std()).coef_[:-1]
    out = pd.DataFrame({"covariate": cols, "treatment_coef": t_coef, "outcome_coef": y_coef,
                        "confounding_score": np.abs(t_coef) * np.abs(y_coef)})
    return out.sort_values("confounding_score", ascending=False, kind="mergesort").reset_index(drop=True)


# ==============================================================================================
# The interference world: MovieLens-format simulator -> slates -> randomized experiment
# ==============================================================================================
NEYMAN_INFERENCE = "Neyman SE (normal interval)"
SCORE_INFERENCE = "SD of the scores / sqrt(n)"


def study_interference_params(vp: Any) -> Any:
    """The `InterferenceParams` of the study's data sets: report defaults at study scale."""
    from recsys_causal.params import InterferenceParams

    base = InterferenceParams()
    update = {
        "sim_n_users": int(vp.if_n_users),
        "sim_n_movies": int(vp.if_n_movies),
        "sim_n_ratings": int(vp.if_n_ratings),
        "n_slate_users": int(vp.if_n_slate_users),
        "n_folds": int(vp.n_folds),
        "model_n_estimators": int(vp.if_model_n_estimators),
        "model_learning_rate": min(1.0, base.model_learning_rate * base.model_n_estimators / int(vp.if_model_n_estimators)),
    }
    return base.model_copy(update=update)


@dataclass
class InterferenceData:
    exposure: pd.DataFrame
    component: pd.DataFrame
    params: Any  # InterferenceParams


def simulate_interference(config: StudyConfig, setting: str, sim_seed: int) -> InterferenceData:
    """Simulate ratings, read them back, build slates, randomize promotion and simulate clicks."""
    from recsys_causal.data.movielens import load_movielens
    from recsys_causal.interference.click_model import ClickModel
    from recsys_causal.interference.exposure import component_table, run_promotion_experiment
    from recsys_causal.interference.slates import slate_tables_from_params
    from recsys_causal.simulate.movielens import simulate_movielens

    ip = study_interference_params(config.validation)
    with temp_dir() as tmp:
        simulate_movielens(ip.sim_n_users, ip.sim_n_movies, ip.sim_n_ratings, sim_seed, tmp)
        data = load_movielens(tmp, "auto")
    tables = slate_tables_from_params(data.ratings, data.movies, ip, sim_seed)
    exposure = run_promotion_experiment(tables.slates, ClickModel.from_params(ip), ip.promotion_probability, sim_seed)
    return InterferenceData(exposure, component_table(exposure), ip)


@dataclass
class InterferenceAnalysis:
    data: InterferenceData
    scenario: Scenario
    seed: int
    cache: dict[Any, Any]

    def _memo(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def models(self) -> dict[str, Any]:
        """Model table, cross-fitted T-learner (m1, m0), S-learner policy score, folds, oracle."""
        from recsys_causal.interference.aipw import crossfit_arm_models, stratified_folds
        from recsys_causal.interference.features import (
            ORACLE,
            build_model_table,
            encode_features,
            oracle_slate_lift,
        )
        from recsys_causal.interference.outcome_models import (
            crossfit_predicted_lift,
            make_regressor,
        )

        def make() -> dict[str, Any]:
            ip = self.data.params
            oracle, _ = oracle_slate_lift(self.data.exposure, ip)
            table = build_model_table(self.data.exposure, self.data.component, oracle, ip)
            enc = encode_features(table)
            folds = stratified_folds(enc.treatment, ip.n_folds, self.seed)
            model = make_regressor("LightGBM", ip, self.seed)
            m1, m0 = _call_crossfit(crossfit_arm_models, enc, model, ip, self.seed, folds)
            score, _, _ = _call_crossfit(crossfit_predicted_lift, enc, model, ip, self.seed, folds)
            return {"y": enc.y.to_numpy(float), "t": enc.treatment.to_numpy(int), "m1": m1, "m0": m0,
                    "score": score, "folds": folds, "true_lift": table[ORACLE].to_numpy(float)}

        return self._memo("models", make)


def _call_crossfit(func: Callable[..., Any], enc: Any, model: Any, ip: Any, seed: int, folds: np.ndarray) -> Any:
    """Call a cross-fitting helper of the interference track with a LightGBM model.

    The helpers take an unfitted model (`func(enc, model, seed, folds)`); older versions took
    the parameters and a model kind, which this accepts too.
    """
    import inspect

    names = list(inspect.signature(func).parameters)
    if "model" in names:
        return func(enc, model, seed, folds)
    if names[:2] == ["enc", "kind"]:
        return func(enc, "LightGBM", ip, seed, folds)
    return func(enc, ip, seed, folds, kind="LightGBM")


def analyse_interference(config: StudyConfig, data: InterferenceData, scenarios: Sequence[Scenario],
                         est_seed: int) -> dict[str, InterferenceAnalysis]:
    cache: dict[Any, Any] = {}
    return {s.key: InterferenceAnalysis(data, s, est_seed, cache) for s in scenarios}


@register_estimator("interference", "Difference in means")
def interference_difference_in_means(an: InterferenceAnalysis) -> list[EstimateRow]:
    """Randomized difference in means of every component (Neyman SE), against the oracle lift."""
    from recsys_causal.interference.randomized import (
        EFFECT_ROWS,
        difference_in_means,
        effect_outcomes,
    )

    comp = an.data.component
    y, oracle = effect_outcomes(comp)
    dim = difference_in_means(y, comp["promotion_applied"].to_numpy().astype(bool))
    truth = oracle.mean(axis=0)
    return [EstimateRow("Difference in means", NEYMAN_INFERENCE, float(dim.estimate[j]), float(dim.se[j]),
                        float(dim.ci_lower[j]), float(dim.ci_upper[j]), float(truth[j]), estimand=key)
            for j, key in enumerate(EFFECT_ROWS)]


@register_estimator("interference", "Cross-fitted AIPW")
def interference_aipw(an: InterferenceAnalysis) -> list[EstimateRow]:
    """Horvitz-Thompson and cross-fitted LightGBM AIPW of the slate total, known propensity."""
    from recsys_causal.inference import Z95
    from recsys_causal.interference.aipw import aipw_scores, mean_with_se

    m = an.models()
    pi = an.data.params.promotion_probability
    truth = float(np.mean(m["true_lift"]))
    rows = []
    for name, m1, m0 in (("Horvitz-Thompson (known propensity)", np.zeros_like(m["m1"]), np.zeros_like(m["m0"])),
                         ("Cross-fitted AIPW (LightGBM, known propensity)", m["m1"], m["m0"])):
        est, se = mean_with_se(aipw_scores(m["y"], m["t"], m1, m0, pi))
        rows.append(EstimateRow(name, SCORE_INFERENCE, est, se, est - Z95 * se, est + Z95 * se, truth,
                                estimand="total_slate"))
    return rows


@register_estimator("interference", "Policy values (doubly robust)")
def interference_policy_values(an: InterferenceAnalysis) -> list[EstimateRow]:
    """Doubly robust value of each targeting policy (per eligible slate) against its true value."""
    from recsys_causal.inference import Z95
    from recsys_causal.interference.aipw import aipw_scores
    from recsys_causal.interference.policy import oracle_policy_value, policy_masks

    m = an.models()
    pi = an.data.params.promotion_probability
    psi = aipw_scores(m["y"], m["t"], m["m1"], m["m0"], pi)
    rows = []
    for policy, d in policy_masks(m["score"], m["folds"], m["true_lift"]).items():
        v = d.astype(float) * psi
        est, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))
        rows.append(EstimateRow("Policy value (doubly robust)", SCORE_INFERENCE, est, se, est - Z95 * se,
                                est + Z95 * se, oracle_policy_value(d, m["true_lift"]), estimand=policy))
    return rows


# ==============================================================================================
# Chapter helpers
# ==============================================================================================
def scenario_overview(params: Any) -> pd.DataFrame:
    """One row per scenario run: world, the simulator knobs that differ, what the analyst omits."""
    v = params.validation
    rows = []
    for key in v.scenarios:
        s = SCENARIOS[key]
        if s.world == "longterm":
            knobs = setting_overrides(s.setting, v)
            lt = study_longterm_params(v, s.setting)
            data = (f"{lt.sim_n_users} users x {lt.sim_n_days} days; sim_confounding={lt.sim_confounding:g}, "
                    f"sim_unmeasured_confounding={lt.sim_unmeasured_confounding:g}")
        else:
            knobs = {}
            ip = study_interference_params(v)
            data = (f"{ip.sim_n_users} users, {ip.sim_n_movies} movies, {ip.sim_n_ratings:,} ratings; "
                    f"{ip.n_slate_users} slates, promotion probability {ip.promotion_probability:g}")
        omitted = []
        if s.propensity_drop:
            omitted.append("propensity models: " + ", ".join(s.propensity_drop))
        if s.outcome_drop:
            omitted.append("outcome models: " + ", ".join(s.outcome_drop))
        rows.append({"scenario": s.title, "data set": data, "changed knobs": ", ".join(f"{k}={x:g}" for k, x in knobs.items()) or "none",
                     "omitted covariates": "; ".join(omitted) or "none", "description": s.description})
    return pd.DataFrame(rows)


def confounder_evidence(params: Any, replicate: int = 0) -> pd.DataFrame:
    """`confounder_strengths` on the first default data set of the study (seeded like replicate 0)."""
    cfg = config_from_params(params)
    ss = replicate_seed_sequences(cfg.seed, replicate + 1)[replicate]
    data = simulate_longterm(cfg, "default", stream_seed(ss, SIM_STREAM))
    out = confounder_strengths(data.panel)
    corr = data.panel[list(out["covariate"])].corrwith(data.panel[STRONGEST_CONFOUNDER])
    return out.assign(correlation_with_strongest=out["covariate"].map(corr))


def describe_confounder(evidence: pd.DataFrame) -> str:
    """Sentence naming the strongest confounder, the strongest pull on treatment, and the proxies."""
    top = evidence.iloc[0]
    by_t = evidence.loc[evidence["treatment_coef"].abs().idxmax()]
    proxies = evidence[evidence["correlation_with_strongest"].abs().ge(0.8) & evidence["covariate"].ne(top["covariate"])]
    text = (f"On a default data set, `{top['covariate']}` has the largest confounding score (standardized pull on "
            f"treatment {top['treatment_coef']:.2f} times pull on the outcome {top['outcome_coef']:.2f})")
    if by_t["covariate"] != top["covariate"]:
        text += (f"; `{by_t['covariate']}` pulls harder on treatment ({by_t['treatment_coef']:.2f}) but barely on the "
                 f"outcome ({by_t['outcome_coef']:.2f}), so leaving it out would bias little")
    if len(proxies):
        text += (". Its near-copies in the logs (correlation 0.8 or more): "
                 + ", ".join(f"`{c}` ({r:.2f})" for c, r in zip(proxies["covariate"], proxies["correlation_with_strongest"], strict=True)))
    return text + "."


def overlap_evidence(params: Any, replicate: int = 0) -> pd.DataFrame:
    """Propensity diagnostics (chapter 02's `propensity_metrics`) on the first data set of the
    default and the weak-overlap settings: how many rows fall outside [0.05, 0.95]."""
    from recsys_causal.longterm.propensity import propensity_metrics

    cfg = config_from_params(params)
    ss = replicate_seed_sequences(cfg.seed, replicate + 1)[replicate]
    frames = []
    for setting, key in (("default", "a"), ("weak_overlap", "d")):
        data = simulate_longterm(cfg, setting, stream_seed(ss, SIM_STREAM))
        an = analyse_longterm(cfg, data, [SCENARIOS[key]], stream_seed(ss, ESTIMATION_STREAM))[key]
        scores = {m: an.propensity(m) for m in ("logistic", "lightgbm")}
        m = propensity_metrics(data.panel["treatment"].to_numpy(int), scores)
        m.insert(0, "setting", f"{setting} (sim_confounding={data.params.sim_confounding:g})")
        frames.append(m[["setting", "model", "n_rows", "treated_share", "auc", "min_e", "max_e", "share_extreme"]])
    return pd.concat(frames, ignore_index=True)


def describe_overlap(evidence: pd.DataFrame) -> str:
    """Sentence: share of extreme propensities in the default and weak-overlap settings."""
    g = evidence.groupby("setting", sort=False)["share_extreme"].max()
    (s0, v0), (s1, v1) = list(g.items())[:2]
    return (f"Out of fold, at most {100 * v0:.1f}% of rows have an estimated propensity outside [0.05, 0.95] in the "
            f"{s0.split(' (')[0]} setting, against {100 * v1:.1f}% with weak overlap: those rows get inverse weights "
            "above 20, or are clipped and truncated.")
