"""The builder of chapter interference_03: its eight artifacts, determinism and registration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.artifact_names import IF
from recsys_causal.artifacts import RunStore, get_builder
from recsys_causal.chapters import get_chapter
from recsys_causal.interference import build_advanced as B
from recsys_causal.params import load_params
from test_interference_features import make_experiment


@pytest.fixture(scope="module")
def results():
    exposure, component, params = make_experiment(n_slates=240)
    return exposure, component, params, B.advanced_results(exposure, component, params, seed=5)


def test_the_eight_artifacts_are_built_with_their_columns(results) -> None:
    *_, res = results
    assert tuple(res.tables) == B.OUTPUTS
    assert set(B.OUTPUTS) | set(B.CALIBRATION_OUTPUTS) == set(get_chapter("interference_03").outputs)
    t = res.tables
    assert {"model", "split", "rmse", "mae", "r2"} <= set(t[IF.MODEL_METRICS].columns)
    assert {"model", "feature", "importance", "rank"} <= set(t[IF.FEATURE_IMPORTANCE].columns)
    cf = t[IF.COUNTERFACTUALS]
    assert {"slate_id", "true_promote_lift", "pred_net_lift_LightGBM", "pred_net_lift_XGBoost", "policy_score",
            "crossfit_m1_hat", "crossfit_m0_hat", "aipw_score", "fold_id"} <= set(cf.columns)
    assert cf["slate_id"].is_unique and len(cf) == 240
    assert {"cate_rmse_vs_oracle", "cate_correlation_vs_oracle"} <= set(t[IF.COUNTERFACTUAL_SUMMARY].columns)
    assert t[IF.AIPW_ESTIMATES]["estimator"].str.contains("AIPW").any()
    assert len(t[IF.POLICY_TARGETING]) == 5
    assert {"segment_type", "segment", "slates", "mean_true_lift", "dim_estimate"} <= set(t[IF.HETEROGENEITY].columns)
    assert list(t[IF.TAKEAWAYS].columns) == ["area", "finding", "why_it_matters"]


def test_policy_and_aipw_use_the_same_crossfitted_scores(results) -> None:
    *_, params, res = results
    cf = res.tables[IF.COUNTERFACTUALS]
    aipw = res.tables[IF.AIPW_ESTIMATES].set_index("estimator")
    policy = res.tables[IF.POLICY_TARGETING].set_index("policy")
    aipw_est = aipw.loc[aipw.index.str.contains("AIPW"), "estimate"].iloc[0]
    assert cf["aipw_score"].mean() == pytest.approx(aipw_est)
    assert policy.loc["Promote all eligible slates", "dr_per_1000_eligible"] == pytest.approx(1000 * aipw_est)
    dim = aipw.loc["Randomized difference in means", "estimate"]
    assert policy.loc["Promote all eligible slates", "ipw_per_1000_eligible"] == pytest.approx(1000 * dim)
    assert set(cf["fold_id"]) == set(range(params.n_folds))


def test_results_are_deterministic(results) -> None:
    exposure, component, params, res = results
    again = B.advanced_results(exposure, component, params, seed=5)
    for name in B.OUTPUTS:
        pd.testing.assert_frame_equal(res.tables[name], again.tables[name])
    other = B.advanced_results(exposure, component, params, seed=6)
    assert not np.array_equal(other.tables[IF.COUNTERFACTUALS]["fold_id"], res.tables[IF.COUNTERFACTUALS]["fold_id"])


def test_calibration_of_the_policy_score(results) -> None:
    *_, res = results
    cf = res.tables[IF.COUNTERFACTUALS]
    cal = B.cate_calibration_tables(cf)
    tests = cal[IF.CATE_CALIBRATION_TESTS].set_index("key")
    # the BLP intercept is the AIPW estimate, and the truth is the mean true lift
    assert tests.loc["ate", "estimate"] == pytest.approx(cf["aipw_score"].mean())
    assert tests.loc["ate", "oracle"] == pytest.approx(cf["true_promote_lift"].mean())
    assert tests["clusters"].eq(cf["slate_id"].nunique()).all()
    gates = cal[IF.CATE_GATES]
    assert gates.loc[gates["group_order"] > 0, "rows"].sum() == len(cf)
    assert gates.loc[gates["group_order"] > 0, "mean_predicted_cate"].is_monotonic_increasing
    qini = cal[IF.CATE_QINI]
    assert qini["share_treated"].iloc[0] == 0 and qini["share_treated"].iloc[-1] == 1
    assert (qini["best_ranking_gain_over_random"] >= qini["oracle_gain_over_random"] - 1e-12).all()
    b = get_builder(IF.CATE_CALIBRATION_TESTS)
    assert b.func is B.build_cate_calibration and b.upstream == (IF.COUNTERFACTUALS,)


def test_builder_is_registered_with_its_knobs() -> None:
    b = get_builder(IF.TAKEAWAYS)
    assert b.func is B.build_advanced and b.outputs == B.OUTPUTS
    for key in ("click_focal_boost", "click_same_cluster_penalty", "n_folds", "model_n_estimators",
                "n_bootstrap", "segment_min_slates", "test_size"):
        assert key in b.keys


def test_builder_runs_through_the_run_store(tmp_path, project_root) -> None:
    params = load_params(project_root / "params" / "test.yaml")
    store = RunStore(tmp_path / "run", params)
    takeaways = store.get(IF.TAKEAWAYS)
    assert len(takeaways) >= 5
    for name in B.OUTPUTS:
        assert store.is_fresh(name), name
    changed = RunStore(tmp_path / "run", params.model_copy(update={"interference": params.interference.model_copy(
        update={"click_focal_boost": 1.0})}))
    assert not changed.is_fresh(IF.POLICY_TARGETING)
