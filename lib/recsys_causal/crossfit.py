"""Cross-fitting, once for both tracks: the folds of a sample and one out-of-fold predictor.

A nuisance model is cross-fitted by splitting the units into folds, fitting a clone of an
injected scikit-learn estimator on every fold but one and predicting the held-out fold, so no
unit is scored by a model that saw it. The folds are data (`group_folds` by user for the
long-term panel, `stratified_folds` by treatment for the slate experiment), computed once and
passed to every model of an analysis, as DoubleML stores its sample splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold predictions: `oof` on X, `extra[i]` on the i-th counterfactual copy of X."""

    oof: np.ndarray
    extra: tuple[np.ndarray, ...]
    fold: np.ndarray  # fold id of each row


def group_folds(groups: np.ndarray | pd.Series, n_folds: int) -> np.ndarray:
    """Fold id of each row from a deterministic GroupKFold (no group spans two folds)."""
    from sklearn.model_selection import GroupKFold

    g = np.asarray(groups)
    n_groups = len(pd.unique(g))
    if n_groups < n_folds:
        raise ValueError(f"need at least n_folds={n_folds} users to cross-fit, got {n_groups}")
    fold = np.full(len(g), -1, dtype=np.int64)
    for k, (_, test) in enumerate(GroupKFold(n_splits=n_folds).split(np.zeros(len(g)), groups=g)):
        fold[test] = k
    return fold


def stratified_folds(treatment: np.ndarray | pd.Series, n_folds: int, seed: int) -> np.ndarray:
    """Fold id (0..n_folds-1) of each unit; folds are shuffled with `seed` and stratified by treatment."""
    from sklearn.model_selection import StratifiedKFold

    t = np.asarray(treatment)
    folds = np.full(len(t), -1, dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, hold) in enumerate(skf.split(np.zeros(len(t)), t)):
        folds[hold] = k
    return folds


def with_seed(model: BaseEstimator, seed: int) -> BaseEstimator:
    """An unfitted clone of `model`, with `random_state=seed` when the model has one."""
    from sklearn.base import clone

    m = clone(model)
    return m.set_params(random_state=seed) if "random_state" in m.get_params() else m


def _rows(X: pd.DataFrame | np.ndarray, idx: np.ndarray) -> pd.DataFrame | np.ndarray:
    return X.iloc[idx] if isinstance(X, pd.DataFrame) else X[idx]


def _predict(est: Any, X: pd.DataFrame | np.ndarray, method: str) -> np.ndarray:
    if method == "predict_proba":
        return np.asarray(est.predict_proba(X))[:, 1]
    return np.asarray(getattr(est, method)(X), dtype=float)


def cross_fit_predict(
    estimator: BaseEstimator,
    X: pd.DataFrame | np.ndarray,
    y: np.ndarray | pd.Series,
    folds: np.ndarray,
    method: str = "predict",
    counterfactual_X: Sequence[pd.DataFrame | np.ndarray] = (),
    fit_mask: np.ndarray | None = None,
    seed: int | None = None,
    predict_X: bool = True,
) -> CrossFit:
    """Fit a clone of `estimator` on the other folds and predict each held-out fold.

    `X` is a frame or an already encoded matrix. `method` is 'predict' (regression) or
    'predict_proba' (P(class 1)). Each frame in
    `counterfactual_X` (same rows as X, some inputs changed, e.g. treatment set to 1) is
    predicted for the held-out rows by the same fold model. `fit_mask` restricts the rows a fold
    model is fitted on (one arm, for a T-learner); every held-out row is still predicted. With
    `seed`, the model of fold k gets `random_state = seed + k`. With `predict_X=False` only the
    counterfactual copies are predicted (`oof` stays NaN): an S-learner's lift needs no more.
    """
    from sklearn.base import clone

    y = np.asarray(y)
    folds = np.asarray(folds)
    if len(folds) != len(X):
        raise ValueError(f"folds has {len(folds)} entries for {len(X)} rows")
    usable = np.ones(len(X), dtype=bool) if fit_mask is None else np.asarray(fit_mask, dtype=bool)
    oof = np.full(len(X), np.nan)
    extra = [np.full(len(X), np.nan) for _ in counterfactual_X]
    for k in np.unique(folds):
        test = np.flatnonzero(folds == k)
        train = np.flatnonzero((folds != k) & usable)
        est = clone(estimator) if seed is None else with_seed(estimator, seed + int(k))
        est.fit(_rows(X, train), y[train])
        if predict_X:
            oof[test] = _predict(est, _rows(X, test), method)
        for j, Xc in enumerate(counterfactual_X):
            extra[j][test] = _predict(est, _rows(Xc, test), method)
    return CrossFit(oof, tuple(extra), folds)


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² of held-out predictions: the one scoring of every outcome and effect
    model's folds (R² is NaN on fewer than two rows, where it is undefined)."""
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": float(r2_score(y, pred)) if len(y) > 1 else np.nan,
    }
