"""Outcome models, counterfactual predictions and the CATE summary of chapter interference_03."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression

from recsys_causal.crossfit import stratified_folds
from recsys_causal.interference import features as F
from recsys_causal.interference import outcome_models as OM
from test_interference_features import make_experiment


@pytest.fixture(scope="module")
def fitted():
    exposure, component, params = make_experiment()
    oracle, _ = F.oracle_slate_lift(exposure, params)
    table = F.build_model_table(exposure, component, oracle, params)
    enc = F.encode_features(table)
    return table, enc, params, OM.fit_outcome_models(enc, params, seed=3)


def test_split_is_stratified_and_metrics_are_complete(fitted) -> None:
    table, enc, params, fit = fitted
    assert len(fit.test_idx) == pytest.approx(params.test_size * len(table), abs=1)
    t = enc.treatment.to_numpy()
    assert abs(t[fit.test_idx].mean() - t.mean()) < 0.02
    assert set(fit.metrics["model"]) == {"LightGBM", "XGBoost"}
    assert set(fit.metrics["split"]) == {"train", "test"}
    test = fit.metrics[fit.metrics["split"].eq("test")]
    assert fit.best_model == test.loc[test["rmse"].idxmin(), "model"]
    # the metrics are those of the model's own predictions
    lgbm = fit.models["LightGBM"]
    pred = lgbm.predict(enc.X.iloc[fit.test_idx])
    y = enc.y.iloc[fit.test_idx].to_numpy()
    row = test.set_index("model").loc["LightGBM"]
    assert row["rmse"] == pytest.approx(np.sqrt(np.mean((y - pred) ** 2)))
    assert row["mae"] == pytest.approx(np.mean(np.abs(y - pred)))


def test_fits_are_deterministic(fitted) -> None:
    _, enc, params, fit = fitted
    again = OM.fit_outcome_models(enc, params, seed=3)
    pd.testing.assert_frame_equal(fit.metrics, again.metrics)
    for kind in OM.MODEL_KINDS:
        np.testing.assert_array_equal(fit.models[kind].predict(enc.X), again.models[kind].predict(enc.X))


def test_counterfactual_lift_is_promote_minus_control(fitted) -> None:
    table, enc, _, fit = fitted
    cf = OM.counterfactual_predictions(fit, enc, table)
    for kind in OM.MODEL_KINDS:
        np.testing.assert_allclose(cf[f"pred_net_lift_{kind}"],
                                   cf[f"pred_promote_clicks_{kind}"] - cf[f"pred_control_clicks_{kind}"])
        p1 = fit.models[kind].predict(F.with_treatment(enc.X, 1))
        np.testing.assert_allclose(cf[f"pred_promote_clicks_{kind}"], p1)
    assert cf["model_split"].eq("test").sum() == len(fit.test_idx)
    imp = OM.feature_importance(fit.models, enc.X.columns)
    assert imp.groupby("model")["rank"].apply(lambda r: sorted(r) == list(range(1, len(enc.X.columns) + 1))).all()


def test_cate_summary_by_hand() -> None:
    cf = pd.DataFrame({F.ORACLE: [0.0, 1.0, -1.0, 2.0], "pred_net_lift_M": [0.5, 1.0, -2.0, 1.0]})
    s = OM.cate_summary(cf).iloc[0]
    err = np.array([0.5, 0.0, -1.0, -1.0])
    assert s["model"] == "M"
    assert s["cate_rmse_vs_oracle"] == pytest.approx(np.sqrt(np.mean(err**2)))
    assert s["cate_mae_vs_oracle"] == pytest.approx(np.mean(np.abs(err)))
    assert s["cate_correlation_vs_oracle"] == pytest.approx(np.corrcoef(cf[F.ORACLE], cf["pred_net_lift_M"])[0, 1])
    assert s["share_predicted_positive"] == 0.75 and s["true_share_positive"] == 0.5
    assert s["mean_predicted_lift"] == pytest.approx(0.125)


def test_crossfit_predictions_come_from_other_folds(fitted) -> None:
    _, enc, _, _ = fitted
    folds = stratified_folds(enc.treatment, 3, seed=1)
    # A model predicting its training mean: each fold's prediction is the mean of the other folds.
    lift, mu1, mu0 = OM.crossfit_predicted_lift(enc, DummyRegressor(), seed=0, folds=folds)
    y = enc.y.to_numpy()
    for k in range(3):
        assert np.allclose(mu1[folds == k], y[folds != k].mean())
    assert np.allclose(lift, 0.0)
    # A linear model recovers a known treatment coefficient as the lift of every slate.
    X = enc.X.astype(float)
    y_lin = 2.0 + 0.7 * X[F.TREATMENT] + 0.1 * X["focal_seed_position"]
    enc_lin = F.EncodedFeatures(enc.X, y_lin.rename(F.OUTCOME), enc.treatment)
    lift, _, _ = OM.crossfit_predicted_lift(enc_lin, LinearRegression(), seed=0, folds=folds)
    np.testing.assert_allclose(lift, 0.7, atol=1e-4)
