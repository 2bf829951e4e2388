"""The one cross-fitting routine: held-out rows only, per-arm fits, per-fold seeds, stored folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression

from recsys_causal.crossfit import cross_fit_predict, group_folds, stratified_folds, with_seed


class _SeedEcho(BaseEstimator, RegressorMixin):
    """Predicts its own random_state: shows which seed each fold's model got."""

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X, y):
        return self

    def predict(self, X):
        return np.full(len(X), float(self.random_state))


def test_fit_mask_fits_one_arm_and_predicts_every_held_out_row() -> None:
    rng = np.random.default_rng(0)
    n = 120
    x = rng.normal(size=n)
    t = rng.permutation(np.repeat([0, 1], n // 2))
    y = 1.0 + 2.0 * x + t * (3.0 - x)
    X = pd.DataFrame({"x": x})
    folds = stratified_folds(t, 4, seed=1)
    cf = cross_fit_predict(LinearRegression(), X, y, folds, fit_mask=t == 1)
    np.testing.assert_allclose(cf.oof, 4.0 + 1.0 * x, atol=1e-9)  # the treated arm's line, for all rows
    np.testing.assert_array_equal(cf.fold, folds)


def test_fold_k_gets_seed_plus_k_and_counterfactual_frames_use_the_same_model() -> None:
    X = pd.DataFrame({"x": np.arange(30.0)})
    folds = np.repeat([0, 1, 2], 10)
    cf = cross_fit_predict(_SeedEcho(), X, np.zeros(30), folds, seed=40, counterfactual_X=(X + 1,))
    np.testing.assert_array_equal(cf.oof, 40.0 + folds)
    np.testing.assert_array_equal(cf.extra[0], cf.oof)
    unseeded = cross_fit_predict(_SeedEcho(random_state=7), X, np.zeros(30), folds)
    assert (unseeded.oof == 7.0).all()
    only_copies = cross_fit_predict(_SeedEcho(), X, np.zeros(30), folds, seed=40, counterfactual_X=(X + 1,),
                                    predict_X=False)
    assert np.isnan(only_copies.oof).all()
    np.testing.assert_array_equal(only_copies.extra[0], 40.0 + folds)


def test_folds_must_match_the_rows() -> None:
    with pytest.raises(ValueError, match="folds has 3 entries for 4 rows"):
        cross_fit_predict(LinearRegression(), pd.DataFrame({"x": range(4)}), np.zeros(4), np.array([0, 1, 0]))


def test_group_folds_keep_groups_together_and_stratified_folds_balance_arms() -> None:
    groups = np.repeat(np.arange(20), 3)
    folds = group_folds(groups, 5)
    assert (pd.Series(folds).groupby(groups).nunique() == 1).all()
    t = np.tile([0, 1], 50)
    sf = stratified_folds(t, 5, seed=3)
    assert all(t[sf == k].sum() == 10 for k in range(5))
    np.testing.assert_array_equal(sf, stratified_folds(t, 5, seed=3))


def test_with_seed_sets_random_state_only_when_the_model_has_one() -> None:
    assert with_seed(_SeedEcho(), 5).random_state == 5
    assert isinstance(with_seed(LinearRegression(), 5), LinearRegression)


def test_regression_metrics_known_answer():
    """RMSE, MAE and R² on a hand-checked case; R² undefined on one row."""
    from recsys_causal.crossfit import regression_metrics

    m = regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 5.0]))
    assert m == pytest.approx({"rmse": 0.5, "mae": 0.25, "r2": 0.8})
    one = regression_metrics(np.array([2.0]), np.array([3.0]))
    assert one["rmse"] == 1.0 and one["mae"] == 1.0 and np.isnan(one["r2"])
