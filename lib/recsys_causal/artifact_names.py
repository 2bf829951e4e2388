"""Every artifact's file name, defined once: builders, notebooks, the registry and the book import them.

One namespace per track (`LT`, `IF`, `VAL`); a name is the artifact's role, its value the file in
the run's `processed/` folder. Renaming a file is a one-line change here.
"""

from __future__ import annotations


class LT:
    """Artifacts of the long-term (KuaiRec) track."""

    PREFIX = "kuairec_long_term_"
    # chapter longterm_01
    PANEL = f"{PREFIX}panel.parquet"
    ORACLE = f"{PREFIX}oracle.parquet"
    PANEL_SUMMARY = f"{PREFIX}panel_summary.csv"
    # chapter longterm_02
    WEIGHTED_PANEL = f"{PREFIX}weighted_panel.parquet"
    PROPENSITY_METRICS = f"{PREFIX}propensity_metrics.csv"
    COVARIATE_BALANCE = f"{PREFIX}covariate_balance.csv"
    # chapter longterm_03
    MSM_ESTIMATES = f"{PREFIX}msm_estimates.csv"
    # chapter longterm_04
    GCOMP_COUNTERFACTUALS = f"{PREFIX}gcomp_counterfactuals.parquet"
    GCOMP_FOLD_METRICS = f"{PREFIX}gcomp_fold_metrics.csv"
    GCOMP_REFIT_BOOTSTRAP = f"{PREFIX}gcomp_refit_bootstrap.csv"
    GCOMP_ESTIMATES = f"{PREFIX}gcomp_estimates.csv"
    ESTIMATOR_COMPARISON = f"{PREFIX}estimator_comparison.csv"
    # chapter longterm_05
    AIPW_RESULTS = f"{PREFIX}aipw_results.csv"
    AIPW_SCORES = f"{PREFIX}aipw_scores.parquet"
    AIPW_BOOTSTRAP = f"{PREFIX}aipw_bootstrap.csv"
    AIPW_REFIT_BOOTSTRAP = f"{PREFIX}aipw_refit_bootstrap.csv"
    COMPARISON_WITH_AIPW = f"{PREFIX}estimator_comparison_with_aipw.csv"
    SEGMENT_EFFECTS = f"{PREFIX}aipw_segment_effects.csv"
    SEGMENT_BOOTSTRAP = f"{PREFIX}aipw_segment_bootstrap.csv"
    EFFECT_PREDICTIONS = f"{PREFIX}effect_model_predictions.parquet"
    EFFECT_IMPORTANCE = f"{PREFIX}effect_moderator_importance.csv"
    EFFECT_METRICS = f"{PREFIX}effect_model_metrics.csv"
    EFFECT_BUCKETS = f"{PREFIX}smoothed_effect_buckets.csv"
    EFFECT_CALIBRATION_TESTS = f"{PREFIX}effect_calibration_tests.csv"
    EFFECT_GATES = f"{PREFIX}effect_calibration_gates.csv"
    EFFECT_QINI = f"{PREFIX}effect_calibration_qini.csv"


class IF:
    """Artifacts of the interference (MovieLens slates) track."""

    PREFIX = "movielens_interference_"
    # chapter interference_01
    SLATES = f"{PREFIX}slates.parquet"
    USER_FEATURES = f"{PREFIX}user_features.parquet"
    ITEM_FEATURES = f"{PREFIX}item_features.parquet"
    DATA_SUMMARY = f"{PREFIX}data_summary.csv"
    RATING_DISTRIBUTION = f"{PREFIX}rating_distribution.csv"
    # chapter interference_02
    EXPOSURE = f"{PREFIX}exposure_mapping.parquet"
    COMPONENT = f"{PREFIX}component_slate.parquet"
    OBSERVED_EFFECTS = f"{PREFIX}observed_effects.csv"
    PRODUCT_SUMMARY = f"{PREFIX}product_summary.csv"
    # chapter interference_03
    MODEL_METRICS = f"{PREFIX}advanced_model_metrics.csv"
    FEATURE_IMPORTANCE = f"{PREFIX}advanced_feature_importance.csv"
    COUNTERFACTUALS = f"{PREFIX}advanced_counterfactual_predictions.parquet"
    COUNTERFACTUAL_SUMMARY = f"{PREFIX}advanced_counterfactual_summary.csv"
    AIPW_ESTIMATES = f"{PREFIX}advanced_aipw_estimates.csv"
    POLICY_TARGETING = f"{PREFIX}advanced_policy_targeting.csv"
    HETEROGENEITY = f"{PREFIX}advanced_heterogeneity.csv"
    TAKEAWAYS = f"{PREFIX}advanced_takeaways.csv"
    CATE_CALIBRATION_TESTS = f"{PREFIX}advanced_cate_calibration_tests.csv"
    CATE_GATES = f"{PREFIX}advanced_cate_calibration_gates.csv"
    CATE_QINI = f"{PREFIX}advanced_cate_calibration_qini.csv"


class VAL:
    """Artifacts of the validation study."""

    REPLICATES = "validation_replicate_estimates.parquet"
    SUMMARY = "validation_summary.csv"
