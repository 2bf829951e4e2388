"""The simulation-study harness: seeds, the estimator registry, loky / Dask equality, real worlds."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from recsys_causal.params import load_params
from recsys_causal.seeds import replicate_seed
from recsys_causal.validation import evidence, longterm_world, runner, scenarios
from recsys_causal.validation.registry import EstimateRow, World, register_estimator
from recsys_causal.validation.runner import StudyConfig, run_study


# ----------------------------------------------------------------------------------------------
# A stand-in world: normal data with a known mean, estimated by the sample mean
# ----------------------------------------------------------------------------------------------
def _toy_simulate(config: StudyConfig, setting: str, sim_seed: int) -> dict:
    rng = np.random.default_rng(sim_seed)
    shift = {"default": 0.0, "weak_overlap": 0.0, "unmeasured": 1.0}.get(setting, 0.0)
    return {"x": rng.normal(2.0 + shift, 1.0, 200), "truth": 2.0}


def _toy_analyse(config, data, scenarios, est_seed):
    return {s.key: {"data": data, "seed": est_seed} for s in scenarios}


def _toy_mean(an) -> list[EstimateRow]:
    x = an["data"]["x"]
    m, se = float(x.mean()), float(x.std(ddof=1) / np.sqrt(len(x)))
    return [EstimateRow("sample mean", "normal", m, se, m - 1.96 * se, m + 1.96 * se, an["data"]["truth"])]


def _toy_noisy(an) -> list[EstimateRow]:
    # uses the estimation seed: equal results across backends need it to be the task's own
    jitter = float(np.random.default_rng(an["seed"]).normal(0.0, 0.01))
    m = float(an["data"]["x"][:50].mean()) + jitter
    return [EstimateRow("subsample mean", "none", m, np.nan, np.nan, np.nan, an["data"]["truth"])]


TOY_REGISTRY: dict = {}
register_estimator("longterm", "sample mean", TOY_REGISTRY)(_toy_mean)
register_estimator("longterm", "subsample mean", TOY_REGISTRY)(_toy_noisy)


def toy_config(scenarios=("a", "b", "e")) -> StudyConfig:
    return StudyConfig(seed=11, validation=None, scenarios=tuple(scenarios),
                       worlds={"longterm": World("longterm", _toy_simulate, _toy_analyse)},
                       estimators=TOY_REGISTRY)


@pytest.fixture(autouse=True, scope="module")
def _pickle_this_module_by_value():
    # workers cannot import a test module; ship its functions by value (loky and Dask use cloudpickle)
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield


# ----------------------------------------------------------------------------------------------
# Seeds and tasks
# ----------------------------------------------------------------------------------------------
def test_replicate_seeds_are_spawned_and_streams_independent() -> None:
    import numpy as np

    ss = np.random.SeedSequence(5).spawn(4)[2]  # replicate 2's sequence, however many replicates run
    child = np.random.SeedSequence(entropy=ss.entropy, spawn_key=(*ss.spawn_key, 0))
    assert replicate_seed(5, 2, "replicate_simulation") == int(child.generate_state(1, dtype=np.uint32)[0] >> 1)
    seeds = {replicate_seed(5, r, k) for r in range(4) for k in ("replicate_simulation", "replicate_estimation")}
    assert len(seeds) == 8
    assert replicate_seed(6, 0, "replicate_simulation") != replicate_seed(5, 0, "replicate_simulation")


def test_plan_groups_scenarios_sharing_a_setting() -> None:
    tasks = runner.plan_tasks(toy_config(("a", "b", "c", "d")), 2)
    assert [(t.setting, t.scenarios, t.replicate) for t in tasks] == [
        ("default", ("a", "b", "c"), 0), ("weak_overlap", ("d",), 0),
        ("default", ("a", "b", "c"), 1), ("weak_overlap", ("d",), 1),
    ]
    with pytest.raises(ValueError, match="unknown scenario"):
        runner.plan_tasks(toy_config(("z",)), 1)


def test_toy_study_recovers_truth_and_flags_shifted_setting() -> None:
    res = run_study(toy_config(), 30, n_jobs=1)
    reps = res.replicates
    assert set(reps["scenario"]) == {"a", "b", "e"}
    mean = reps[reps["estimator"].eq("sample mean")]
    a = mean[mean["scenario"].eq("a")]
    e = mean[mean["scenario"].eq("e")]
    assert abs(a["error"].mean()) < 3 * a["error"].std() / np.sqrt(len(a))
    assert e["error"].mean() > 0.8  # the shifted setting's estimator is biased upward
    # scenarios of one setting analyse the same data set
    b = mean[mean["scenario"].eq("b")]
    assert np.array_equal(a["estimate"].to_numpy(), b["estimate"].to_numpy())


def test_results_identical_whatever_n_jobs() -> None:
    one = run_study(toy_config(), 6, n_jobs=1).replicates
    two = run_study(toy_config(), 6, n_jobs=2, backend="loky").replicates
    pd.testing.assert_frame_equal(one, two)
    other_seed = run_study(StudyConfig(**{**toy_config().__dict__, "seed": 12}), 6, n_jobs=1).replicates
    assert not one["estimate"].equals(other_seed["estimate"])


def test_failing_estimator_is_recorded_not_raised() -> None:
    reg: dict = {}
    register_estimator("longterm", "sample mean", reg)(_toy_mean)
    register_estimator("longterm", "broken", reg)(lambda an: 1 / 0)
    cfg = StudyConfig(**{**toy_config(("a",)).__dict__, "estimators": reg})
    reps = run_study(cfg, 2, n_jobs=1).replicates
    broken = reps[reps["estimator"].eq("broken")]
    assert len(broken) == 2 and broken["status"].str.startswith("failed: ZeroDivisionError").all()


def test_dask_backend_needs_an_address() -> None:
    with pytest.raises(ValueError, match="scheduler_address"):
        run_study(toy_config(), 1, backend="dask")


# ----------------------------------------------------------------------------------------------
# The real worlds at tiny scale
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_params():
    return load_params("params/test.yaml", overrides=["validation.n_replicates=2", "validation.n_jobs=1"])


def test_real_longterm_task_applies_each_scenarios_omission(tiny_params) -> None:
    cfg = runner.with_scenarios(runner.config_from_params(tiny_params), ["a", "b", "c"])
    reps = runner.run_task(cfg, runner.Task("longterm", "default", ("a", "b", "c"), 0))
    assert (reps["status"] == "ok").all(), reps.loc[reps["status"].ne("ok"), "status"].tolist()
    assert reps["truth"].nunique() == 1 and np.isfinite(reps["truth"]).all()
    expected = {"Naive difference in means", "IPW (Hájek)", "MSM", "G-computation (ridge)",
                "G-computation (LightGBM)", *(longterm_world.aipw_label(p, o) for p in ("logistic", "lightgbm")
                                              for o in ("linear_ridge", "lightgbm"))}
    assert set(reps["estimator"]) == expected
    est = reps.set_index(["scenario", "estimator", "inference"])["estimate"]
    boot = longterm_world.BOOTSTRAP_INFERENCE
    # (b) changes only what uses a propensity model; (c) what uses an outcome model and, through
    # its true-form logistic propensity, what uses the logistic model, never the LightGBM one
    assert est[("b", "G-computation (ridge)", boot)] == est[("a", "G-computation (ridge)", boot)]
    assert est[("b", "IPW (Hájek)", boot)] != est[("a", "IPW (Hájek)", boot)]
    assert est[("c", "IPW (Hájek)", boot)] != est[("a", "IPW (Hájek)", boot)]
    an = longterm_world.analyse_longterm(cfg, longterm_world.simulate_longterm(
        cfg, "default", replicate_seed(cfg.seed, 0, "replicate_simulation")),
        [scenarios.SCENARIOS["a"], scenarios.SCENARIOS["c"]], 5)
    np.testing.assert_array_equal(an["c"].propensity("lightgbm"), an["a"].propensity("lightgbm"))
    np.testing.assert_array_equal(an["c"].propensity("logistic"),
                                  longterm_world.true_form_propensity_oof(an["c"].panel, an["c"].lt, 5))
    assert est[("c", "G-computation (ridge)", boot)] != est[("a", "G-computation (ridge)", boot)]
    assert est[("a", "Naive difference in means", boot)] == est[("c", "Naive difference in means", boot)]


def test_strongest_confounder_and_its_proxies_hold_on_a_default_data_set() -> None:
    ev = evidence.confounder_evidence(load_params(None))
    assert ev["covariate"].iloc[0] == scenarios.STRONGEST_CONFOUNDER
    corr = ev.set_index("covariate")["correlation_with_strongest"]
    assert (corr[list(scenarios.CONFOUNDER_PROXIES)] >= 0.8).all()
    # the high-watch share pulls hardest on treatment, yet confounds less (it barely moves the outcome)
    assert ev.loc[ev["treatment_coef"].abs().idxmax(), "covariate"] != scenarios.STRONGEST_CONFOUNDER


def test_local_dask_cluster_equals_loky(tiny_params) -> None:
    distributed = pytest.importorskip("distributed")
    cfg = runner.with_scenarios(runner.config_from_params(tiny_params), ["a", "interference"])
    loky = run_study(cfg, 2, n_jobs=2, backend="loky").replicates
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        dask = run_study(cfg, 2, backend="dask", scheduler_address=cluster.scheduler_address).replicates
    assert len(loky) > 0 and (loky["status"] == "ok").all()
    pd.testing.assert_frame_equal(loky, dask)


def test_replicate_cache_reuses_stored_replicates_and_gives_the_same_table(tmp_path) -> None:
    from recsys_causal.validation.cache import ReplicateCache, study_digest

    cache = ReplicateCache(tmp_path / "cache", "d1")
    first = run_study(toy_config(), 3, n_jobs=1, cache=cache)
    assert first.n_computed == first.n_tasks == 6  # 2 settings x 3 replicates
    grown = run_study(toy_config(), 5, n_jobs=1, cache=cache)
    assert grown.n_computed == 4  # only replicates 3 and 4 of both settings
    pd.testing.assert_frame_equal(grown.replicates, run_study(toy_config(), 5, n_jobs=1).replicates)
    # another digest (other parameters or code) shares nothing
    assert run_study(toy_config(), 2, n_jobs=1, cache=ReplicateCache(tmp_path / "cache", "d2")).n_computed == 4
    # a damaged file is recomputed, not trusted
    next((tmp_path / "cache").glob("*r00000-d1.parquet")).write_bytes(b"not parquet")
    assert run_study(toy_config(), 5, n_jobs=1, cache=cache).n_computed == 1
    p = load_params(None)
    assert study_digest(p.seed, p.validation) == study_digest(p.seed, p.validation.model_copy(update={"n_jobs": 1,
                                                                                                       "n_replicates": 99}))
    assert study_digest(p.seed, p.validation) != study_digest(p.seed, p.validation.model_copy(update={"lt_n_users": 251}))
    assert study_digest(p.seed, p.validation) != study_digest(p.seed + 1, p.validation)
