"""The long-term nuisance models' inputs: one covariate encoder and the pipelines built on it.

Every long-term nuisance model (propensity, outcome, effect smoother) is encode -> (scale) ->
model (`model_pipeline`). The encoder is stateless, so cross-fitting encodes the panel once and
fits only the later steps per fold (`split_encoder`). The scikit-learn estimators live here, apart
from the modules whose text and tables the chapters import, so that a chapter reading finished
artifacts never imports scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from recsys_causal.longterm.panel import DAYS_OF_WEEK
from recsys_causal.longterm.propensity import LOG_SCALED_COVARIATES, check_pre_treatment


class CovariateEncoder(TransformerMixin, BaseEstimator):
    """The covariates as one float matrix, a stateless step that runs once per panel.

    Columns, in order: the `numeric` columns raw, then the `log_scaled` ones as log1p, then
    day of week one-hot on the fixed `DAYS_OF_WEEK` categories (an unknown or missing day is
    all zeros), then the `passthrough` columns. Nothing is learned from the rows, so
    cross-fitting encodes the panel once and fits only the steps after it in each fold
    (`split_encoder`), which gives the same numbers as fitting the whole pipeline per fold.
    """

    def __init__(self, numeric: Sequence[str] = (), log_scaled: Sequence[str] = (),
                 categorical: Sequence[str] = (), passthrough: Sequence[str] = ()) -> None:
        self.numeric = numeric
        self.log_scaled = log_scaled
        self.categorical = categorical
        self.passthrough = passthrough

    @property
    def input_columns(self) -> list[str]:
        """Every panel column the encoder reads."""
        return [*self.numeric, *self.log_scaled, *self.categorical, *self.passthrough]

    def fit(self, X: pd.DataFrame, y: Any = None) -> CovariateEncoder:
        """Check the categorical columns (nothing is learned)."""
        unknown = [c for c in self.categorical if c != "day_of_week"]
        if unknown:
            raise ValueError(f"no fixed categories for {unknown}; only day_of_week is one-hot encoded")
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The float matrix of `X`'s covariates, in `get_feature_names_out` order."""
        missing = [c for c in self.input_columns if c not in X.columns]
        if missing:
            raise ValueError(f"covariates {missing} are not in the model input")
        blocks = [X[list(self.numeric)].to_numpy(dtype=float),
                  np.log1p(X[list(self.log_scaled)].to_numpy(dtype=float))]
        for c in self.categorical:
            codes = pd.Categorical(X[c], categories=list(DAYS_OF_WEEK)).codes
            blocks.append((codes[:, None] == np.arange(len(DAYS_OF_WEEK))[None, :]).astype(float))
        blocks.append(X[list(self.passthrough)].to_numpy(dtype=float))
        return np.hstack(blocks)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names (one-hot columns as `day_of_week_Monday`, ...)."""
        onehot = [f"{c}_{d}" for c in self.categorical for d in DAYS_OF_WEEK]
        return np.asarray([*self.numeric, *self.log_scaled, *onehot, *self.passthrough], dtype=object)


def make_encoder(numeric: Sequence[str], categorical: Sequence[str], linear: bool,
                 passthrough: Sequence[str] = ()) -> CovariateEncoder:
    """The encoder of a linear model (`LOG_SCALED_COVARIATES` as log1p) or a tree model (all raw:
    a monotone transform changes nothing for trees)."""
    logged = [c for c in numeric if linear and c in LOG_SCALED_COVARIATES]
    return CovariateEncoder(tuple(c for c in numeric if c not in logged), tuple(logged), tuple(categorical),
                            tuple(passthrough))


class LeadingColumnsScaler(TransformerMixin, BaseEstimator):
    """StandardScaler on the first `n_columns` columns of a matrix; the others pass unchanged.

    The encoder puts the numeric and log1p blocks first, so this is a linear model's
    standardization without a ColumnTransformer's per-call bookkeeping (the same numbers:
    StandardScaler is column by column).
    """

    def __init__(self, n_columns: int = 0) -> None:
        self.n_columns = n_columns

    def fit(self, X: np.ndarray, y: Any = None) -> LeadingColumnsScaler:
        """Learn the leading columns' means and standard deviations on these rows."""
        self.scaler_ = StandardScaler().fit(np.asarray(X)[:, : self.n_columns])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The leading columns standardized, the rest as they are."""
        X = np.asarray(X)
        return np.hstack([self.scaler_.transform(X[:, : self.n_columns]), X[:, self.n_columns:]])


def make_scaler(encoder: CovariateEncoder) -> LeadingColumnsScaler | str:
    """A linear model's standardization of the encoder's numeric and log1p blocks (fitted on the
    training rows of each fold); one-hot and passthrough columns are left as they are."""
    n = len(encoder.numeric) + len(encoder.log_scaled)
    return LeadingColumnsScaler(n) if n else "passthrough"


def model_pipeline(numeric: Sequence[str], categorical: Sequence[str], linear: bool, model: Any,
                   passthrough: Sequence[str] = ()) -> Pipeline:
    """encode -> (scale, linear models only) -> model: every long-term nuisance model's shape.
    Its covariates must be pre-treatment (`check_pre_treatment`); `passthrough` names the extras."""
    check_pre_treatment([*numeric, *categorical, *passthrough], allowed_extra=passthrough)
    enc = make_encoder(numeric, categorical, linear, passthrough)
    steps: list[tuple[str, Any]] = [("encode", enc)]
    if linear:
        steps.append(("scale", make_scaler(enc)))
    return Pipeline([*steps, ("model", model)])


def split_encoder(pipeline: Pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, Pipeline, list[str]]:
    """(encoded matrix of `frame`, the pipeline's remaining steps, the matrix's column names):
    what cross-fitting and the refit bootstraps fit fold by fold."""
    enc = pipeline.named_steps["encode"]
    return enc.fit(frame).transform(frame), pipeline[1:], list(enc.get_feature_names_out())
