"""Propensity of a high-watch day given the recorded history, cross-fitted by user groups.

Two models estimate e(X) = P(treatment = 1 | pre-treatment history): a logistic regression on
standardized numerics plus one-hot day of week, and a LightGBM classifier on the same inputs.
Both are fitted out of fold with `GroupKFold` by user, so no user's rows are scored by a model
that saw that user (`recsys_causal.crossfit`).

Features are only the pre-treatment covariates of the panel (lag-1 and prior-3-day history,
calendar indices, day of week); `check_pre_treatment` rejects anything measured on or after the
treatment day.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recsys_causal.crossfit import cross_fit_predict, group_folds
from recsys_causal.longterm.panel import PRE_TREATMENT_COVARIATES as _PANEL_LIST
from recsys_causal.params import LongtermParams

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

#: Covariates measured strictly before the treatment day (the only allowed model inputs).
PRE_TREATMENT_COVARIATES: tuple[str, ...] = tuple(_PANEL_LIST)
CATEGORICAL_COVARIATES: tuple[str, ...] = tuple(c for c in PRE_TREATMENT_COVARIATES if c == "day_of_week")
NUMERIC_COVARIATES: tuple[str, ...] = tuple(c for c in PRE_TREATMENT_COVARIATES if c not in CATEGORICAL_COVARIATES)
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


def covariate_lists(drop: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """(numeric, categorical) pre-treatment covariates a nuisance model sees, without `drop`.

    `drop` lets an analysis (or the validation study's scenarios) withhold covariates, e.g. a
    confounder the analyst did not record.
    """
    unknown = [d for d in drop if d not in PRE_TREATMENT_COVARIATES]
    if unknown:
        raise ValueError(f"cannot drop {unknown}: not pre-treatment covariates")
    return ([c for c in NUMERIC_COVARIATES if c not in drop], [c for c in CATEGORICAL_COVARIATES if c not in drop])


def propensity_feature_names(drop: Sequence[str] = ()) -> list[str]:
    """Input columns of every propensity model (pre-treatment covariates only, less `drop`)."""
    num, cat = covariate_lists(drop)
    return check_pre_treatment([*num, *cat])


# ----------------------------------------------------------------------------------------------
# Parameters and model factories
# ----------------------------------------------------------------------------------------------
#: Heavy-tailed, non-negative history covariates (counts, seconds, replay-inflated ratios): a
#: linear model sees them as log1p, so that a few very active users do not extrapolate the
#: propensity to 0 or 1 (the simulator's own treatment logit is linear in log1p of the count).
LOG_SCALED_COVARIATES: tuple[str, ...] = tuple(
    c for c in PRE_TREATMENT_COVARIATES
    if c.endswith(("_interactions", "_total_play_duration_sec", "_avg_watch_ratio"))
)


def lgbm_kwargs(lt: LongtermParams, seed: int) -> dict[str, Any]:
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


def make_propensity_model(model: str, lt: LongtermParams, seed: int, drop: Sequence[str] = ()) -> Pipeline:
    """Unfitted propensity pipeline: 'logistic' or 'lightgbm', on the covariates less `drop`.

    The logistic model is solved by Newton-Cholesky (many rows, few columns): it reaches the
    optimum in a few iterations, where lbfgs stopped at its tolerance two decimals away.
    """
    from sklearn.linear_model import LogisticRegression

    from recsys_causal.longterm.encoding import model_pipeline

    num, cat = covariate_lists(drop)
    if model == "logistic":
        return model_pipeline(num, cat, True, LogisticRegression(solver="newton-cholesky", max_iter=200))
    if model == "lightgbm":
        from lightgbm import LGBMClassifier

        return model_pipeline(num, cat, False, LGBMClassifier(**lgbm_kwargs(lt, seed)))
    raise ValueError(f"unknown propensity model '{model}'; expected one of {PROPENSITY_MODELS}")


def logistic_design(panel: pd.DataFrame, drop: Sequence[str] = ()) -> np.ndarray:
    """The logistic propensity model's inputs (log1p, standardized, one-hot day) with an intercept
    column, on the whole panel: the span whose estimation the IPW sandwich accounts for."""
    from recsys_causal.longterm.encoding import model_pipeline

    num, cat = covariate_lists(drop)
    Z = model_pipeline(num, cat, True, "passthrough")[:-1].fit_transform(panel)
    return np.column_stack([np.ones(len(panel)), np.asarray(Z, dtype=float)])


PROPENSITY_BOUND = 1e-6


def fit_propensity_oof(panel: pd.DataFrame, model: str, lt: LongtermParams, seed: int,
                       drop: Sequence[str] = ()) -> np.ndarray:
    """Out-of-fold propensity scores e(X) for every panel row (GroupKFold by user).

    Uses `lt.n_folds` and `lt.lgbm_*`; `drop` withholds covariates (see `covariate_lists`).
    Scores are bounded to [1e-6, 1 - 1e-6]: a fitted probability that rounds to exactly 0 or 1
    would make a weight infinite; the analysis's own truncation and clipping handle the
    (much larger) practical extremes and are reported.
    """
    from recsys_causal.longterm.encoding import split_encoder

    Z, est, _ = split_encoder(make_propensity_model(model, lt, seed, drop), panel)
    return cross_fit_propensity(est, Z, panel, lt.n_folds)


def cross_fit_propensity(estimator: Any, X: pd.DataFrame | np.ndarray, panel: pd.DataFrame,
                         n_folds: int) -> np.ndarray:
    """Out-of-fold P(treatment = 1 | X) of an injected classifier, folds grouped by user, bounded
    to [1e-6, 1 - 1e-6]: the one routine behind every propensity of the long-term track."""
    folds = group_folds(panel[GROUP].to_numpy(), n_folds)
    oof = cross_fit_predict(estimator, X, panel[TREATMENT].to_numpy(int), folds, method="predict_proba").oof
    return np.clip(oof, PROPENSITY_BOUND, 1.0 - PROPENSITY_BOUND)


# ----------------------------------------------------------------------------------------------
# Diagnostics
# ----------------------------------------------------------------------------------------------
def propensity_metrics(treatment: np.ndarray, scores: dict[str, np.ndarray],
                       extreme: tuple[float, float] = (0.05, 0.95)) -> pd.DataFrame:
    """AUC, log loss, Brier score, mean score by arm and share of extreme scores, per model."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

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
