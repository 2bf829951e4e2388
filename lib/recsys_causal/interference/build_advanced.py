"""Builder of chapter interference_03: outcome models, CATEs, AIPW, policies, heterogeneity, takeaways.

`advanced_results` does the whole computation from the exposure mapping and component slate
table (so tests can call it on a synthetic experiment); the registered builder feeds it the run's
artifacts and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recsys_causal.artifact_names import IF
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.interference.aipw import (
    AIPW_MODEL,
    aipw_table,
    crossfit_nuisances,
)
from recsys_causal.interference.build_effects import EXPERIMENT_KEYS
from recsys_causal.interference.experiment_log import with_assignment_probability
from recsys_causal.interference.features import (
    ORACLE,
    build_model_table,
    encode_features,
    has_oracle,
    oracle_slate_lift,
)
from recsys_causal.interference.heterogeneity import heterogeneity_table
from recsys_causal.interference.outcome_models import (
    cate_summary,
    counterfactual_predictions,
    feature_importance,
)
from recsys_causal.interference.policy import policy_targeting_table
from recsys_causal.interference.takeaways import advanced_takeaways
from recsys_causal.params import InterferenceParams
from recsys_causal.scores import aipw_score
from recsys_causal.seeds import stream_seed

OUTPUTS: tuple[str, ...] = (IF.MODEL_METRICS, IF.FEATURE_IMPORTANCE, IF.COUNTERFACTUALS, IF.COUNTERFACTUAL_SUMMARY,
                            IF.AIPW_ESTIMATES, IF.POLICY_TARGETING, IF.HETEROGENEITY, IF.TAKEAWAYS)
ADVANCED_KEYS: tuple[str, ...] = (
    *EXPERIMENT_KEYS,  # the oracle is reconstructed with the click model's coefficients
    "focal_min_position",
    "focal_max_position",
    "n_folds",
    "test_size",
    "model_n_estimators",
    "model_learning_rate",
    "model_max_depth",
    "segment_min_slates",
    "n_bootstrap",
    "experiment_probability",
)


@dataclass
class AdvancedResults:
    """The chapter's eight tables, plus the modelling table they came from."""

    model_table: pd.DataFrame
    oracle_checks: pd.DataFrame | None  # None without an oracle (a logged experiment)
    tables: dict[str, pd.DataFrame]
    best_model: str


def advanced_results(
    exposure: pd.DataFrame,
    component: pd.DataFrame,
    params: InterferenceParams,
    seed: int,
) -> AdvancedResults:
    """Everything chapter interference_03 reports.

    When clicks are simulated by the click model (on simulated or real MovieLens ratings), the
    oracle lift of every slate is known and is reported beside every estimate; a logged
    experiment has no oracle, and its randomization probability is `assignment_probability`'s.
    """
    params = with_assignment_probability(params, component)
    oracle, checks = oracle_slate_lift(exposure, params) if has_oracle(exposure) else (None, None)
    table = build_model_table(exposure, component, oracle, params)
    enc = encode_features(table)
    nuis = crossfit_nuisances(enc, params, seed)
    fitted, best, folds, m1, m0, score = nuis.fitted, nuis.best, nuis.folds, nuis.m1, nuis.m0, nuis.policy_score
    cf = counterfactual_predictions(fitted, enc, table)
    y, t = enc.y.to_numpy(), enc.treatment.to_numpy()
    propensity = params.promotion_probability
    cf = cf.assign(
        fold_id=folds,
        crossfit_m1_hat=m1,
        crossfit_m0_hat=m0,
        crossfit_cate_lgbm=m1 - m0,
        aipw_score=aipw_score(y, t, propensity, m1, m0, clip_eps=None),
        policy_score=score,
    )
    true_lift = table[ORACLE].to_numpy() if ORACLE in table else None
    summary = cate_summary(cf, {
        "LightGBM": "pred_net_lift_LightGBM",
        "XGBoost": "pred_net_lift_XGBoost",
        f"{best} cross-fitted (policy score)": "policy_score",
        f"{AIPW_MODEL} T-learner cross-fitted (AIPW)": "crossfit_cate_lgbm",
    })
    summary.insert(1, "selected_by_test_rmse", summary["model"].eq(best))
    aipw = aipw_table(y, t, m1, m0, propensity, true_lift, outcome_model=AIPW_MODEL)
    policy = policy_targeting_table(score, folds, y, t, m1, m0, propensity, true_lift,
                                    n_bootstrap=params.n_bootstrap, seed=stream_seed(seed, "interference_bootstrap"))
    het = heterogeneity_table(table, score, params.segment_min_slates)
    metrics = fitted.metrics.assign(selected=lambda d: d["model"].eq(best))
    tables = {
        IF.MODEL_METRICS: metrics,
        IF.FEATURE_IMPORTANCE: feature_importance(fitted.models, enc.X.columns),
        IF.COUNTERFACTUALS: cf,
        IF.COUNTERFACTUAL_SUMMARY: summary,
        IF.AIPW_ESTIMATES: aipw,
        IF.POLICY_TARGETING: policy,
        IF.HETEROGENEITY: het,
    }
    tables[IF.TAKEAWAYS] = advanced_takeaways(metrics, summary, aipw, policy, het)
    return AdvancedResults(table, checks, tables, best)


@builder(outputs=OUTPUTS, section="interference", keys=ADVANCED_KEYS, upstream=(IF.EXPOSURE, IF.COMPONENT))
def build_advanced(store: RunStore) -> dict[str, pd.DataFrame]:
    """Chapter interference_03's artifacts from the experiment's exposure mapping and slate table."""
    res = advanced_results(store.get(IF.EXPOSURE), store.get(IF.COMPONENT), store.params.interference, store.params.seed)
    return res.tables


CALIBRATION_OUTPUTS: tuple[str, ...] = (IF.CATE_CALIBRATION_TESTS, IF.CATE_GATES, IF.CATE_QINI)
CALIBRATED_SCORE = "policy_score"  # the cross-fitted CATE the promotion rules rank slates by
CALIBRATION_CLUSTER = "slate_id"  # randomized unit, and the cluster of the chapter's bootstrap


def cate_calibration_tables(cf: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """BLP, GATES and Qini of the policy score: cross-fitted CATE against cross-fitted AIPW scores,
    by slate, with the click model's true lift beside every statistic when it is known."""
    from recsys_causal.calibration import calibration_tables

    oracle = cf[ORACLE].to_numpy(dtype=float) if ORACLE in cf.columns and cf[ORACLE].notna().all() else None
    res = calibration_tables(cf["aipw_score"].to_numpy(dtype=float), cf[CALIBRATED_SCORE].to_numpy(dtype=float),
                             cf[CALIBRATION_CLUSTER].to_numpy(), oracle=oracle)
    return {IF.CATE_CALIBRATION_TESTS: res.tests, IF.CATE_GATES: res.gates, IF.CATE_QINI: res.qini}


@builder(outputs=CALIBRATION_OUTPUTS, section="interference", keys=(), upstream=(IF.COUNTERFACTUALS,))
def build_cate_calibration(store: RunStore) -> dict[str, pd.DataFrame]:
    """Chapter interference_03's calibration tests of the policy score."""
    return cate_calibration_tables(store.get(IF.COUNTERFACTUALS))
