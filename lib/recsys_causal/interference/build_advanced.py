"""Builder of chapter interference_03: outcome models, CATEs, AIPW, policies, heterogeneity, takeaways.

`advanced_results` does the whole computation from the exposure mapping and component slate
table (so tests can call it on a synthetic experiment); the registered builder feeds it the run's
artifacts and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_causal.artifacts import RunStore, builder
from recsys_causal.interference.aipw import (
    aipw_scores,
    aipw_table,
    crossfit_arm_models,
    stratified_folds,
)
from recsys_causal.interference.build_effects import COMPONENT, EXPERIMENT_KEYS, EXPOSURE
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
    crossfit_predicted_lift,
    feature_importance,
    fit_outcome_models,
    make_regressor,
)
from recsys_causal.interference.policy import policy_targeting_table
from recsys_causal.interference.takeaways import advanced_takeaways
from recsys_causal.params import InterferenceParams

IF = "movielens_interference_"
MODEL_METRICS = f"{IF}advanced_model_metrics.csv"
FEATURE_IMPORTANCE = f"{IF}advanced_feature_importance.csv"
COUNTERFACTUALS = f"{IF}advanced_counterfactual_predictions.parquet"
COUNTERFACTUAL_SUMMARY = f"{IF}advanced_counterfactual_summary.csv"
AIPW_ESTIMATES = f"{IF}advanced_aipw_estimates.csv"
POLICY_TARGETING = f"{IF}advanced_policy_targeting.csv"
HETEROGENEITY = f"{IF}advanced_heterogeneity.csv"
TAKEAWAYS = f"{IF}advanced_takeaways.csv"
OUTPUTS: tuple[str, ...] = (MODEL_METRICS, FEATURE_IMPORTANCE, COUNTERFACTUALS, COUNTERFACTUAL_SUMMARY,
                            AIPW_ESTIMATES, POLICY_TARGETING, HETEROGENEITY, TAKEAWAYS)
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
# Fixed streams that derive independent sub-seeds from the run's one seed.
SPLIT_STREAM, FOLD_STREAM, CROSSFIT_STREAM, BOOTSTRAP_STREAM = 3_001, 3_002, 3_003, 3_004
AIPW_MODEL = "LightGBM"


def sub_seed(seed: int, stream: int) -> int:
    """A 31-bit integer seed for one purpose, derived from the run's seed."""
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1)[0] >> 1)


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
    fitted = fit_outcome_models(enc, params, sub_seed(seed, SPLIT_STREAM))
    best = fitted.best_model
    cf = counterfactual_predictions(fitted, enc, table)

    # Cross-fitting on one set of folds: the T-learner behind AIPW / DR and the policy score.
    folds = stratified_folds(enc.treatment, params.n_folds, sub_seed(seed, FOLD_STREAM))
    cf_seed = sub_seed(seed, CROSSFIT_STREAM)
    m1, m0 = crossfit_arm_models(enc, make_regressor(AIPW_MODEL, params, cf_seed), cf_seed, folds)
    score, _, _ = crossfit_predicted_lift(enc, make_regressor(best, params, cf_seed), cf_seed, folds)
    y, t = enc.y.to_numpy(), enc.treatment.to_numpy()
    propensity = params.promotion_probability
    cf = cf.assign(
        fold_id=folds,
        crossfit_m1_hat=m1,
        crossfit_m0_hat=m0,
        crossfit_cate_lgbm=m1 - m0,
        aipw_score=aipw_scores(y, t, m1, m0, propensity),
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
                                    n_bootstrap=params.n_bootstrap, seed=sub_seed(seed, BOOTSTRAP_STREAM))
    het = heterogeneity_table(table, score, params.segment_min_slates)
    metrics = fitted.metrics.assign(selected=lambda d: d["model"].eq(best))
    tables = {
        MODEL_METRICS: metrics,
        FEATURE_IMPORTANCE: feature_importance(fitted.models, enc.X.columns),
        COUNTERFACTUALS: cf,
        COUNTERFACTUAL_SUMMARY: summary,
        AIPW_ESTIMATES: aipw,
        POLICY_TARGETING: policy,
        HETEROGENEITY: het,
    }
    tables[TAKEAWAYS] = advanced_takeaways(metrics, summary, aipw, policy, het)
    return AdvancedResults(table, checks, tables, best)


@builder(outputs=OUTPUTS, section="interference", keys=ADVANCED_KEYS, upstream=(EXPOSURE, COMPONENT))
def build_advanced(store: RunStore) -> dict[str, pd.DataFrame]:
    """Chapter interference_03's artifacts from the experiment's exposure mapping and slate table."""
    res = advanced_results(store.get(EXPOSURE), store.get(COMPONENT), store.params.interference, store.params.seed)
    return res.tables
