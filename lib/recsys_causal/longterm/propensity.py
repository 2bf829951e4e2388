"""Propensity of a high-watch day given the recorded history, cross-fitted by user groups.

Two models estimate e(X) = P(treatment = 1 | pre-treatment history): a logistic regression on
standardized numerics plus one-hot day of week, and a LightGBM classifier on the same inputs.
Both are fitted out of fold with `GroupKFold` by user, so no user's rows are scored by a model
that saw that user. `cross_fit_predict` is the one cross-fitting helper; the outcome models of
g-computation (`recsys_causal.longterm.gcomp`) use it as well.

Features are only the pre-treatment covariates of the panel (lag-1 and prior-3-day history,
calendar indices, day of week); `check_pre_treatment` rejects anything measured on or after the
treatment day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

_FALLBACK_PRE_TREATMENT: tuple[str, ...] = (
    "lag_1_active_day",
    "lag_1_interactions",
    "lag_1_total_play_duration_sec",
    "lag_1_avg_watch_ratio",
    "lag_1_high_watch_share",
    "prior_3day_active_day",
    "prior_3day_interactions",
    "prior_3day_total_play_duration_sec",
    "prior_3day_avg_watch_ratio",
    "prior_3day_high_watch_share",
    "calendar_day_index",
    "panel_day_index",
    "day_of_week",
)
try:  # the panel module owns the list once it exists
    from recsys_causal.longterm.panel import PRE_TREATMENT_COVARIATES as _PANEL_LIST
except ImportError:  # pragma: no cover - only before the panel module lands
    _PANEL_LIST = _FALLBACK_PRE_TREATMENT

#: Covariates measured strictly before the treatment day (the only allowed model inputs).
PRE_TREATMENT_COVARIATES: tuple[str, ...] = tuple(_PANEL_LIST)
#: The treatment day's own measurements and the outcome: never model inputs.
POST_TREATMENT_COLUMNS: tuple[str, ...] = (
    "interactions",
    "total_play_duration_sec",
    "avg_watch_ratio",
    "high_watch_share",
    "treatment",
    "outcome",
)
CATEGORICAL_COVARIATES: tuple[str, ...] = tuple(c for c in PRE_TREATMENT_COVARIATES if c == "day_of_week")
NUMERIC_COVARIATES: tuple[str, ...] = tuple(c for c in PRE_TREATMENT_COVARIATES if c not in CATEGORICAL_COVARIATES)
DAYS_OF_WEEK: tuple[str, ...] = (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
)
PROPENSITY_MODELS: tuple[str, ...] = ("logistic", "lightgbm")
TREATMENT = "treatment"
OUTCOME = "outcome"
GROUP = "user_id"


def check_pre_treatment(features: Sequence[str], allowed_extra: Sequence[str] = ()) -> list[str]:
    """Return `features` as a list, raising if any is not a pre-treatment covariate.

    `allowed_extra` names inputs that are legitimately not covariates (the treatment indicator
    of an outcome model).
    """
    allowed = set(PRE_TREATMENT_COVARIATES) | set(allowed_extra)
    bad = [f for f in features if f not in allowed]
    if bad:
        raise ValueError(
            f"features {bad} are not pre-treatment covariates; allowed: {sorted(allowed)}"
        )
    return list(features)


def propensity_feature_names() -> list[str]:
    """Input columns of every propensity model (pre-treatment covariates only)."""
    return check_pre_treatment([*NUMERIC_COVARIATES, *CATEGORICAL_COVARIATES])


# ----------------------------------------------------------------------------------------------
# Parameters and model factories
# ----------------------------------------------------------------------------------------------
def split_params(params: Any, seed: int | None = None) -> tuple[Any, int]:
    """Accept a full `Params` (uses .longterm and .seed) or a `LongtermParams` plus `seed`."""
    if hasattr(params, "longterm"):
        return params.longterm, int(params.seed if seed is None else seed)
    return params, int(0 if seed is None else seed)


def make_preprocessor(numeric: Sequence[str], categorical: Sequence[str], scale: bool,
                      passthrough: Sequence[str] = ()) -> ColumnTransformer:
    """Standardize (or pass) numerics, one-hot day of week with fixed categories, pass extras."""
    transformers: list[tuple[str, Any, list[str]]] = [
        ("numeric", StandardScaler() if scale else "passthrough", list(numeric)),
    ]
    if categorical:
        cats = [list(DAYS_OF_WEEK) if c == "day_of_week" else "auto" for c in categorical]
        transformers.append(
            ("categorical", OneHotEncoder(categories=cats, handle_unknown="ignore", sparse_output=False),
             list(categorical))
        )
    if passthrough:
        transformers.append(("passthrough", "passthrough", list(passthrough)))
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def lgbm_kwargs(lt: Any, seed: int) -> dict[str, Any]:
    """Deterministic LightGBM settings from the long-term parameters."""
    return {
        "n_estimators": lt.lgbm_n_estimators,
        "learning_rate": lt.lgbm_learning_rate,
        "num_leaves": lt.lgbm_num_leaves,
        "min_child_samples": lt.lgbm_min_child_samples,
        "n_jobs": 1,
        "deterministic": True,
        "force_col_wise": True,
        "verbose": -1,
        "random_state": seed,
    }


def make_propensity_model(model: str, params: Any, seed: int | None = None) -> Pipeline:
    """Unfitted propensity pipeline: 'logistic' or 'lightgbm'."""
    lt, seed = split_params(params, seed)
    if model == "logistic":
        return Pipeline([
            ("prep", make_preprocessor(NUMERIC_COVARIATES, CATEGORICAL_COVARIATES, scale=True)),
            ("model", LogisticRegression(max_iter=2000)),
        ])
    if model == "lightgbm":
        from lightgbm import LGBMClassifier

        return Pipeline([
            ("prep", make_preprocessor(NUMERIC_COVARIATES, CATEGORICAL_COVARIATES, scale=False)),
            ("model", LGBMClassifier(**lgbm_kwargs(lt, seed))),
        ])
    raise ValueError(f"unknown propensity model '{model}'; expected one of {PROPENSITY_MODELS}")


# ----------------------------------------------------------------------------------------------
# Cross-fitting
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold predictions: `oof` on X, `extra[i]` on the i-th counterfactual copy of X."""

    oof: np.ndarray
    extra: tuple[np.ndarray, ...]
    fold: np.ndarray  # fold id of each row (-1 never occurs: every row is held out once)


def group_folds(groups: np.ndarray | pd.Series, n_folds: int) -> np.ndarray:
    """Fold id of each row from a deterministic GroupKFold (no group spans two folds)."""
    g = np.asarray(groups)
    n_groups = len(pd.unique(g))
    if n_groups < n_folds:
        raise ValueError(f"need at least n_folds={n_folds} users to cross-fit, got {n_groups}")
    fold = np.full(len(g), -1, dtype=np.int64)
    for k, (_, test) in enumerate(GroupKFold(n_splits=n_folds).split(np.zeros(len(g)), groups=g)):
        fold[test] = k
    return fold


def _predict(est: Any, X: pd.DataFrame, method: str) -> np.ndarray:
    if method == "predict_proba":
        return np.asarray(est.predict_proba(X))[:, 1]
    return np.asarray(getattr(est, method)(X), dtype=float)


def cross_fit_predict(
    estimator: Any,
    X: pd.DataFrame,
    y: np.ndarray | pd.Series,
    groups: np.ndarray | pd.Series,
    n_folds: int,
    method: str = "predict",
    counterfactual_X: Sequence[pd.DataFrame] = (),
) -> CrossFit:
    """Fit a clone of `estimator` per GroupKFold fold and predict the held-out rows.

    `method` is 'predict' (regression) or 'predict_proba' (P(class 1)). Each frame in
    `counterfactual_X` (same rows as X, some inputs changed, e.g. treatment set to 1) is
    predicted for the held-out rows by the same fold model.
    """
    y = np.asarray(y)
    fold = group_folds(groups, n_folds)
    oof = np.full(len(X), np.nan)
    extra = [np.full(len(X), np.nan) for _ in counterfactual_X]
    for k in range(n_folds):
        test = np.flatnonzero(fold == k)
        train = np.flatnonzero(fold != k)
        est = clone(estimator).fit(X.iloc[train], y[train])
        oof[test] = _predict(est, X.iloc[test], method)
        for j, Xc in enumerate(counterfactual_X):
            extra[j][test] = _predict(est, Xc.iloc[test], method)
    return CrossFit(oof, tuple(extra), fold)


PROPENSITY_BOUND = 1e-6


def fit_propensity_oof(panel: pd.DataFrame, model: str, params: Any, seed: int | None = None) -> np.ndarray:
    """Out-of-fold propensity scores e(X) for every panel row (GroupKFold by user).

    `params` is the run's `Params` (or `LongtermParams` with `seed`); uses n_folds and lgbm_*.
    Scores are bounded to [1e-6, 1 - 1e-6]: a fitted probability that rounds to exactly 0 or 1
    would make a weight infinite; the analysis's own truncation and clipping handle the
    (much larger) practical extremes and are reported.
    """
    lt, seed = split_params(params, seed)
    X = panel[propensity_feature_names()]
    est = make_propensity_model(model, lt, seed)
    oof = cross_fit_predict(est, X, panel[TREATMENT].to_numpy(int), panel[GROUP].to_numpy(),
                            lt.n_folds, method="predict_proba").oof
    return np.clip(oof, PROPENSITY_BOUND, 1.0 - PROPENSITY_BOUND)


# ----------------------------------------------------------------------------------------------
# Diagnostics
# ----------------------------------------------------------------------------------------------
def propensity_metrics(treatment: np.ndarray, scores: dict[str, np.ndarray],
                       extreme: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """AUC, log loss, Brier score, mean score by arm and share of extreme scores, per model."""
    a = np.asarray(treatment, dtype=int)
    rows = []
    for name, e in scores.items():
        e = np.asarray(e, dtype=float)
        ec = np.clip(e, 1e-6, 1 - 1e-6)
        rows.append({
            "model": name,
            "n_rows": len(a),
            "treated_share": float(a.mean()),
            "auc": float(roc_auc_score(a, e)) if 0 < a.sum() < len(a) else float("nan"),
            "log_loss": float(log_loss(a, ec, labels=[0, 1])),
            "brier": float(brier_score_loss(a, e)),
            "mean_e_treated": float(e[a == 1].mean()) if (a == 1).any() else float("nan"),
            "mean_e_control": float(e[a == 0].mean()) if (a == 0).any() else float("nan"),
            "min_e": float(e.min()),
            "max_e": float(e.max()),
            "share_e_below_lo": float((e < extreme[0]).mean()),
            "share_e_above_hi": float((e > extreme[1]).mean()),
            "share_extreme": float(((e < extreme[0]) | (e > extreme[1])).mean()),
        })
    return pd.DataFrame(rows)


def calibration_table(treatment: np.ndarray, scores: dict[str, np.ndarray], n_bins: int = 10) -> pd.DataFrame:
    """Observed treatment rate against mean predicted score in quantile bins, per model."""
    a = np.asarray(treatment, dtype=float)
    frames = []
    for name, e in scores.items():
        e = np.asarray(e, dtype=float)
        ranks = pd.Series(e).rank(method="first").to_numpy()
        bins = np.minimum((ranks - 1) * n_bins // len(e), n_bins - 1).astype(int)
        df = pd.DataFrame({"bin": bins, "e": e, "a": a})
        g = df.groupby("bin", sort=True).agg(mean_predicted=("e", "mean"), observed_rate=("a", "mean"),
                                             n_rows=("a", "size")).reset_index()
        g.insert(0, "model", name)
        frames.append(g)
    return pd.concat(frames, ignore_index=True)


def describe_propensity_models(metrics: pd.DataFrame) -> str:
    """One sentence on discrimination and extreme scores of the propensity models."""
    parts = []
    for r in metrics.itertuples(index=False):
        parts.append(f"{r.model}: AUC {r.auc:.3f}, Brier {r.brier:.3f}, "
                     f"{100 * r.share_extreme:.1f}% of rows with e < 0.05 or e > 0.95")
    best = metrics.loc[metrics["log_loss"].idxmin(), "model"]
    auc = metrics["auc"].max()
    strength = ("history predicts treatment only weakly" if auc < 0.6 else
                "history predicts treatment moderately" if auc < 0.75 else
                "history predicts treatment strongly, so weights will be uneven")
    return (f"Out of fold, {'; '.join(parts)}. The {best} model has the lower log loss; "
            f"{strength} (AUC {auc:.2f}).")


def describe_overlap(metrics: pd.DataFrame, primary: str) -> str:
    """One sentence on positivity: range of the primary scores and the share of extreme ones."""
    r = metrics.set_index("model").loc[primary]
    verdict = ("practical positivity holds: almost every user-day could have gone either way"
               if r["share_extreme"] < 0.01 else
               "positivity holds for most user-days, but these rows' weights rest on very few "
               "comparable days in the other arm"
               if r["share_extreme"] < 0.10 else
               "positivity is badly violated: a large share of user-days is (almost) always or never treated")
    return (f"Under the primary {primary} model the out-of-fold scores range from {r['min_e']:.3f} to "
            f"{r['max_e']:.3f}; {100 * r['share_e_below_lo']:.1f}% of rows have e < 0.05 and "
            f"{100 * r['share_e_above_hi']:.1f}% have e > 0.95, so {verdict}.")
