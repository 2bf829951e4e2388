"""Freshness follows the parameters a computation reads: builders are refused undeclared keys, and
changing the bootstrap size leaves every model fit fresh."""

from __future__ import annotations

import pickle

import pandas as pd
import pytest

from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.chapters import CHAPTERS
from recsys_causal.parameter_reads import ReadLog, UndeclaredParameter, guarded, unwrap
from recsys_causal.params import build_params


@builder(outputs=("toy_undeclared.csv",), section="longterm", keys=("n_bootstrap",))
def _reads_an_undeclared_key(store: RunStore) -> dict[str, pd.DataFrame]:
    lt = store.params.longterm
    return {"toy_undeclared.csv": pd.DataFrame({"b": [lt.n_bootstrap], "c": [lt.clip_eps]})}


@builder(outputs=("toy_declared.csv",), section="longterm", keys=("n_bootstrap",))
def _reads_declared_and_free_keys(store: RunStore) -> dict[str, pd.DataFrame]:
    lt = store.params.longterm
    return {"toy_declared.csv": pd.DataFrame({"b": [lt.n_bootstrap], "jobs": [lt.n_jobs], "seed": [store.params.seed],
                                              "sim": [lt.sim_n_users]})}


def test_a_builder_reading_an_undeclared_key_fails_and_writes_nothing(tmp_path):
    store = RunStore(tmp_path / "run", build_params({}))
    with pytest.raises(UndeclaredParameter, match=r"longterm\.clip_eps.*declared keys \(longterm: n_bootstrap\)"):
        store.get("toy_undeclared.csv")
    assert not store.path("toy_undeclared.csv").exists()
    # its own keys, the seed, speed-only keys and what the data fingerprint hashes are free
    assert store.get("toy_declared.csv")["b"].iloc[0] == build_params({}).longterm.n_bootstrap


def test_guarded_view_refuses_whole_section_reads_and_other_sections():
    p = build_params({})
    view = guarded(p, "longterm", ("n_bootstrap",), "toy")
    assert view.longterm.n_bootstrap == p.longterm.n_bootstrap
    with pytest.raises(UndeclaredParameter, match="all of longterm"):
        view.longterm.model_dump()
    with pytest.raises(UndeclaredParameter, match="interference.slate_size"):
        _ = view.interference.slate_size
    copy = view.longterm.model_copy(update={"n_bootstrap": 7})  # a copy stays guarded
    assert copy.n_bootstrap == 7
    with pytest.raises(UndeclaredParameter):
        _ = copy.clip_eps
    with pytest.raises(AttributeError, match="read-only"):
        view.longterm.n_bootstrap = 3
    # a worker process gets the plain section
    assert pickle.loads(pickle.dumps(view.longterm)) == p.longterm
    assert unwrap(view) is p and unwrap(view.longterm) == p.longterm


def test_read_log_records_keys_and_whole_sections():
    p = build_params({})
    seen: list[frozenset[str]] = []
    log = ReadLog(p, on_new=seen.append)
    v = log.view()
    _ = v.longterm.n_bootstrap, v.longterm.n_bootstrap, v.seed, v.longterm.n_jobs
    assert log.reads == {"longterm.n_bootstrap", "seed"}  # n_jobs never shapes a number
    assert len(seen) == 2  # reported once per new key
    v.section("interference").model_dump()
    assert "interference.*" in log.reads
    log.record("validation.n_replicates")
    assert "validation.n_replicates" in log.reads


def _longterm_outputs() -> list[str]:
    return [n for ch in CHAPTERS if ch.track == "longterm" for n in ch.outputs]


def _changed(tmp_path, **longterm) -> set[str]:
    base = RunStore(tmp_path / "a", build_params({}))
    other = RunStore(tmp_path / "b", build_params({"longterm": longterm}))
    return {n for n in _longterm_outputs() if base.expected_key(n) != other.expected_key(n)}


def test_a_bootstrap_size_change_refits_no_model(tmp_path):
    summaries = {LT.MSM_ESTIMATES, LT.GCOMP_ESTIMATES, LT.ESTIMATOR_COMPARISON, LT.AIPW_RESULTS, LT.AIPW_BOOTSTRAP,
                 LT.COMPARISON_WITH_AIPW, LT.SEGMENT_EFFECTS, LT.SEGMENT_BOOTSTRAP, LT.EFFECT_BUCKETS}
    assert _changed(tmp_path, n_bootstrap=999) == summaries
    # the refit bootstraps are their own artifacts: their size touches them and what they feed
    refits = {LT.GCOMP_REFIT_BOOTSTRAP, LT.AIPW_REFIT_BOOTSTRAP}
    assert _changed(tmp_path, n_refit_bootstrap=77) == refits | {
        LT.GCOMP_ESTIMATES, LT.ESTIMATOR_COMPARISON, LT.AIPW_RESULTS, LT.AIPW_BOOTSTRAP, LT.COMPARISON_WITH_AIPW}
    # a model setting makes every artifact built on that model stale
    assert {LT.GCOMP_COUNTERFACTUALS, LT.AIPW_SCORES, LT.EFFECT_PREDICTIONS} <= _changed(tmp_path, ridge_alpha=3.0)
    assert _changed(tmp_path, n_jobs=2) == set()
