"""Builders of chapters longterm_02..04 on a synthetic panel: contract, oracle row, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal import artifacts
from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import Builder, RunStore
from recsys_causal.longterm import build_estimates as be
from recsys_causal.longterm.gcomp import COMPARISON_COLUMNS, COUNTERFACTUAL_COLUMNS
from recsys_causal.longterm.msm import MSM_METHOD, ORACLE_METHOD
from recsys_causal.longterm.propensity import PRE_TREATMENT_COVARIATES
from recsys_causal.params import build_params
from test_msm import make_oracle, make_panel

TAU = 5.0
SMALL = {"seed": 3, "longterm": {"n_folds": 3, "n_bootstrap": 60, "n_refit_bootstrap": 3,
                                 "lgbm_n_estimators": 20, "lgbm_min_child_samples": 10}}


@pytest.fixture()
def fake_upstream(monkeypatch):
    """Register stand-in builders for the panel and the oracle (restored after the test)."""
    panel = make_panel(8, n_users=40, n_days=12, tau=TAU).drop(columns=["true_propensity"])

    def build(store):
        return {LT.PANEL: panel, LT.ORACLE: make_oracle(panel, TAU)}

    b = Builder((LT.PANEL, LT.ORACLE), "longterm", build, keys=(), upstream=())
    monkeypatch.setitem(artifacts._BUILDERS, LT.PANEL, b)
    monkeypatch.setitem(artifacts._BUILDERS, LT.ORACLE, b)
    return panel


def test_builders_write_the_seed_artifacts(tmp_path, fake_upstream):
    store = RunStore(tmp_path / "run", build_params(SMALL))
    wp = store.get(LT.WEIGHTED_PANEL)
    assert {"propensity_logistic", "propensity_lightgbm", "analysis_weight",
            *PRE_TREATMENT_COVARIATES} <= set(wp.columns)
    assert len(wp) == len(fake_upstream)
    assert wp[["propensity_logistic", "propensity_lightgbm"]].apply(lambda s: s.between(0, 1).all()).all()
    assert (wp.groupby("user_id").crossfit_fold.nunique() == 1).all()
    metrics = store.get(LT.PROPENSITY_METRICS)
    assert set(metrics.model) == {"logistic", "lightgbm"} and metrics.primary.sum() == 1

    cf = store.get(LT.GCOMP_COUNTERFACTUALS)
    assert list(cf.columns) == list(COUNTERFACTUAL_COLUMNS)
    assert len(cf) == 2 * len(wp) and set(cf.model) == {"linear_ridge", "lightgbm"}
    assert not cf.duplicated(["user_id", "event_date", "model"]).any()

    comp = store.get(LT.ESTIMATOR_COMPARISON)
    assert list(comp.columns) == list(COMPARISON_COLUMNS)
    assert list(comp.method) == [MSM_METHOD, "G-computation", "G-computation", ORACLE_METHOD]
    assert comp.set_index("method").loc[ORACLE_METHOD, "estimate"] == pytest.approx(TAU)
    msm = store.get(LT.MSM_ESTIMATES).set_index("method")
    assert msm.loc[MSM_METHOD, "estimate"] == pytest.approx(comp.estimate.iloc[0])
    folds = store.get(LT.GCOMP_FOLD_METRICS)
    assert len(folds) == 2 * 3


def test_same_parameters_give_byte_identical_tables(tmp_path, fake_upstream):
    out = []
    for name in ("a", "b"):
        store = RunStore(tmp_path / name, build_params(SMALL))
        store.get(LT.ESTIMATOR_COMPARISON)
        out.append({f: store.path(f).read_bytes() for f in
                    (LT.ESTIMATOR_COMPARISON, LT.MSM_ESTIMATES, LT.PROPENSITY_METRICS, LT.GCOMP_ESTIMATES)})
    assert out[0] == out[1]


def test_real_data_has_no_oracle_row(tmp_path, fake_upstream, monkeypatch):
    monkeypatch.setattr(RunStore, "is_simulated", lambda self, section: False)
    store = RunStore(tmp_path / "real", build_params(SMALL))
    comp = store.get(LT.ESTIMATOR_COMPARISON)
    assert ORACLE_METHOD not in set(comp.method)
    assert "covers_truth" not in store.get(LT.MSM_ESTIMATES).columns


def test_primary_propensity_and_truncation_drive_the_weights(tmp_path, fake_upstream):
    params = build_params({**SMALL, "longterm": {**SMALL["longterm"], "primary_propensity": "lightgbm",
                                                   "weight_truncation_lower": 0.1,
                                                   "weight_truncation_upper": 0.9}})
    wp, _ = be.weighted_panel(fake_upstream, params.longterm, params.seed)
    a = wp.treatment.to_numpy()
    e = wp.propensity_lightgbm.to_numpy()
    raw = np.where(a == 1, a.mean() / e, (1 - a.mean()) / (1 - e))
    np.testing.assert_allclose(wp.ipw_stabilized, raw)
    lo, hi = np.quantile(raw, [0.1, 0.9])
    np.testing.assert_allclose(wp.analysis_weight, np.clip(raw, lo, hi))
    assert isinstance(wp.event_date.iloc[0], pd.Timestamp)
