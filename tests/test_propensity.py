"""Propensity models: pre-treatment features only, user-grouped cross-fitting, diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin

from recsys_causal.crossfit import cross_fit_predict, group_folds
from recsys_causal.longterm.gcomp import make_outcome_model, outcome_feature_names
from recsys_causal.longterm.panel import POST_TREATMENT_COLUMNS
from recsys_causal.longterm.propensity import (
    PRE_TREATMENT_COVARIATES,
    calibration_table,
    check_pre_treatment,
    describe_propensity_models,
    fit_propensity_oof,
    make_propensity_model,
    propensity_feature_names,
    propensity_metrics,
)
from recsys_causal.params import LongtermParams
from test_msm import make_panel

# The panel's pre-treatment list, written out: everything measured before the treatment day.
PANEL_PRE_TREATMENT = [
    "lag_1_active_day", "lag_1_interactions", "lag_1_total_play_duration_sec",
    "lag_1_avg_watch_ratio", "lag_1_high_watch_share", "prior_3day_active_day",
    "prior_3day_interactions", "prior_3day_total_play_duration_sec", "prior_3day_avg_watch_ratio",
    "prior_3day_high_watch_share", "calendar_day_index", "panel_day_index", "day_of_week",
]
# Measured on the treatment day or after it.
ON_OR_AFTER = ["interactions", "total_play_duration_sec", "avg_watch_ratio", "high_watch_share", "outcome"]
LT = LongtermParams(n_folds=3, lgbm_n_estimators=30, lgbm_min_child_samples=10)


def test_module_list_matches_the_panel_list():
    assert sorted(PRE_TREATMENT_COVARIATES) == sorted(PANEL_PRE_TREATMENT)
    try:
        from recsys_causal.longterm.panel import PRE_TREATMENT_COVARIATES as from_panel
    except ImportError:
        pytest.skip("panel module not present")
    assert sorted(from_panel) == sorted(PANEL_PRE_TREATMENT)


@pytest.mark.parametrize("kind,model", [("propensity", "logistic"), ("propensity", "lightgbm"),
                                        ("outcome", "linear_ridge"), ("outcome", "lightgbm")])
def test_models_consume_only_pre_treatment_columns(kind, model):
    p = make_panel(0, n_users=20, n_days=8)
    if kind == "propensity":
        names = propensity_feature_names()
        pipe = make_propensity_model(model, LT, 0).fit(p, p.treatment)
        allowed = set(PANEL_PRE_TREATMENT)
    else:
        names = outcome_feature_names()
        pipe = make_outcome_model(model, LT).fit(p, p.outcome)
        allowed = set(PANEL_PRE_TREATMENT) | {"treatment"}
    used = set(pipe.named_steps["encode"].get_feature_names_out()) | set(names)
    used_inputs = set(pipe.named_steps["encode"].input_columns)
    assert set(names) <= allowed and used_inputs <= allowed
    assert not (used_inputs & set(ON_OR_AFTER)) and not (set(names) & set(ON_OR_AFTER))
    assert used  # something was used
    # the whole panel was passed in: the post-treatment columns were dropped, not consumed
    assert set(ON_OR_AFTER) <= set(p.columns)


def test_check_pre_treatment_rejects_same_day_measurements():
    for col in ON_OR_AFTER:
        with pytest.raises(ValueError, match="not pre-treatment"):
            check_pre_treatment(["lag_1_interactions", col])
    assert set(POST_TREATMENT_COLUMNS) >= set(ON_OR_AFTER)


class _Memorizer(BaseEstimator, RegressorMixin):
    """Predicts a user's training mean when it has seen the user, -1 otherwise."""

    def fit(self, X, y):
        self.means_ = pd.Series(y).groupby(X["user_id"].to_numpy()).mean().to_dict()
        return self

    def predict(self, X):
        return np.array([self.means_.get(u, -1.0) for u in X["user_id"]])


def test_cross_fitting_never_predicts_a_user_it_has_seen():
    p = make_panel(1, n_users=17, n_days=5)
    cf = cross_fit_predict(_Memorizer(), p[["user_id"]], p.outcome, group_folds(p.user_id, 4))
    assert (cf.oof == -1.0).all()
    folds = group_folds(p.user_id, 4)
    assert (pd.Series(folds).groupby(p.user_id.to_numpy()).nunique() == 1).all()
    assert set(folds) == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="at least"):
        group_folds(np.array([1, 1, 2]), 3)


def test_out_of_fold_propensities_recover_the_known_ones():
    p = make_panel(2, n_users=200, n_days=15)
    e_log = fit_propensity_oof(p, "logistic", LT, seed=0)
    e_gbm = fit_propensity_oof(p, "lightgbm", LT, seed=0)
    np.testing.assert_array_equal(e_gbm, fit_propensity_oof(p, "lightgbm", LT, seed=0))
    assert np.corrcoef(e_log, p.true_propensity)[0, 1] > 0.95
    assert np.abs(e_log - p.true_propensity).mean() < 0.05
    m = propensity_metrics(p.treatment, {"logistic": e_log, "lightgbm": e_gbm}).set_index("model")
    assert m.loc["logistic", "auc"] > 0.65
    assert m.loc["logistic", "log_loss"] < m.loc["lightgbm", "log_loss"] + 0.02
    assert "AUC" in describe_propensity_models(m.reset_index())


def test_metrics_by_hand():
    a = np.array([1, 0, 1, 0])
    e = np.array([0.9, 0.2, 0.6, 0.97])
    m = propensity_metrics(a, {"m": e}).iloc[0]
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.16 + 0.9409) / 4)
    assert m["auc"] == pytest.approx(0.5)  # pairs (0.9>0.2, 0.9<0.97, 0.6>0.2, 0.6<0.97)
    assert m["share_extreme"] == pytest.approx(0.25)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.6, 0.03])))
    cal = calibration_table(a, {"m": e}, n_bins=2)
    assert list(cal.observed_rate) == [0.5, 0.5] and list(cal.n_rows) == [2, 2]


def test_linear_models_see_heavy_tailed_history_as_log1p_trees_see_it_raw():
    """Counts, seconds and watch ratios are log1p-transformed (then standardized) for the
    logistic model, so a few heavy users cannot push e(X) to 0 or 1; LightGBM gets raw values."""
    from recsys_causal.longterm.propensity import LOG_SCALED_COVARIATES

    assert "prior_3day_interactions" in LOG_SCALED_COVARIATES
    assert "prior_3day_high_watch_share" not in LOG_SCALED_COVARIATES  # a share in [0, 3]: kept linear
    p = make_panel(1, n_users=30, n_days=10)
    p["prior_3day_interactions"] = p["prior_3day_interactions"].abs()
    logistic = make_propensity_model("logistic", LT, 0).fit(p, p.treatment)
    prep = logistic[:-1]
    names = list(logistic.named_steps["encode"].get_feature_names_out())
    col = prep.transform(p)[:, names.index("prior_3day_interactions")]
    x = np.log1p(p["prior_3day_interactions"].to_numpy(float))
    np.testing.assert_allclose(col, (x - x.mean()) / x.std(), atol=1e-9)
    trees = make_propensity_model("lightgbm", LT, 0).fit(p, p.treatment).named_steps["encode"]
    raw = trees.transform(p)[:, list(trees.get_feature_names_out()).index("prior_3day_interactions")]
    np.testing.assert_allclose(raw, p["prior_3day_interactions"].to_numpy(float))


@pytest.mark.parametrize("kind,model", [("propensity", "logistic"), ("propensity", "lightgbm"),
                                        ("outcome", "linear_ridge"), ("outcome", "lightgbm")])
def test_encoding_once_gives_the_predictions_of_the_whole_pipeline_fitted_per_fold(kind, model):
    """The encoder learns nothing, so cross-fitting the encoded matrix (what `fit_*_oof` do) equals
    fitting the whole pipeline on each fold's frame."""
    from recsys_causal.longterm.gcomp import fit_outcome_oof

    p = make_panel(4, n_users=40, n_days=10)
    folds = group_folds(p["user_id"].to_numpy(), LT.n_folds)
    if kind == "propensity":
        fast = fit_propensity_oof(p, model, LT, 5)
        slow = cross_fit_predict(make_propensity_model(model, LT, 5), p, p["treatment"].to_numpy(int), folds,
                                 method="predict_proba").oof
        np.testing.assert_allclose(fast, np.clip(slow, 1e-6, 1 - 1e-6), rtol=1e-9, atol=1e-12)
    else:
        y1, y0, _ = fit_outcome_oof(p, model, LT, 5)
        X = p.copy()
        X["treatment"] = X["treatment"].astype(float)
        arms = (X["treatment"].to_numpy() == 1.0, X["treatment"].to_numpy() == 0.0) if model == "lightgbm" else (None, None)
        for value, mask, fast in ((1.0, arms[0], y1), (0.0, arms[1], y0)):
            slow = cross_fit_predict(make_outcome_model(model, LT, 5), X, p["outcome"].to_numpy(float), folds,
                                     counterfactual_X=(X.assign(treatment=value),), fit_mask=mask).extra[0]
            np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-9)


def test_encoder_matches_sklearn_one_hot_and_log1p_and_zeroes_an_unknown_day():
    from sklearn.preprocessing import OneHotEncoder

    from recsys_causal.longterm.encoding import make_encoder
    from recsys_causal.longterm.panel import DAYS_OF_WEEK

    p = make_panel(2, n_users=10, n_days=9)
    p["prior_3day_interactions"] = p["prior_3day_interactions"].abs()
    enc = make_encoder(["lag_1_high_watch_share", "prior_3day_interactions"], ["day_of_week"], linear=True,
                       passthrough=("treatment",)).fit(p)
    names = list(enc.get_feature_names_out())
    Z = enc.transform(p)
    assert names[:2] == ["lag_1_high_watch_share", "prior_3day_interactions"] and names[-1] == "treatment"
    np.testing.assert_array_equal(Z[:, 1], np.log1p(p["prior_3day_interactions"].to_numpy(float)))
    ohe = OneHotEncoder(categories=[list(DAYS_OF_WEEK)], handle_unknown="ignore", sparse_output=False)
    np.testing.assert_array_equal(Z[:, 2:9], ohe.fit_transform(p[["day_of_week"]]))
    assert names[2:9] == list(ohe.get_feature_names_out())
    odd = p.head(3).copy()
    odd["day_of_week"] = pd.array(["Funday", None, "Monday"], dtype="str")
    onehot = enc.transform(odd)[:, 2:9]
    assert onehot[:2].sum() == 0 and onehot[2, 0] == 1.0
    with pytest.raises(ValueError, match="prior_3day_interactions"):
        enc.transform(p.drop(columns=["prior_3day_interactions"]))


def test_the_leading_columns_scaler_is_standard_scaling_of_those_columns_with_the_rest_passed_through():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    from recsys_causal.longterm.encoding import LeadingColumnsScaler

    rng = np.random.default_rng(3)
    X = np.column_stack([rng.normal(5.0, 2.0, size=(50, 3)), np.full(50, 7.0), rng.integers(0, 2, size=(50, 2))])
    new = rng.normal(size=(9, 6))
    ours = LeadingColumnsScaler(4).fit(X)
    ref = ColumnTransformer([("lead", StandardScaler(), slice(0, 4))], remainder="passthrough").fit(X)
    for M in (X, new):
        np.testing.assert_array_equal(ours.transform(M), ref.transform(M))
    Z = ours.transform(X)
    np.testing.assert_allclose(Z[:, :3].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z[:, :3].std(axis=0), 1.0)
    assert (Z[:, 3] == 0.0).all()  # a constant column is centred, not divided by zero
    np.testing.assert_array_equal(Z[:, 4:], X[:, 4:])


def test_a_model_pipeline_on_a_same_day_measurement_is_refused():
    from sklearn.linear_model import Ridge

    from recsys_causal.longterm.encoding import model_pipeline

    for col in ON_OR_AFTER:
        with pytest.raises(ValueError, match="not pre-treatment"):
            model_pipeline(["lag_1_interactions", col], ["day_of_week"], True, Ridge())
    assert model_pipeline(["lag_1_interactions"], [], True, Ridge(), passthrough=("treatment",))
