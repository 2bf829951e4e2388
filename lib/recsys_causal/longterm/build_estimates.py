"""Builders of the long-term estimation artifacts (chapters longterm_02 .. longterm_04).

- weighted panel + propensity metrics + covariate balance (chapter 02),
- MSM / difference-in-means estimates (chapter 03),
- g-computation counterfactuals, fold metrics, estimates and the estimator comparison (chapter 04).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.inference import user_bootstrap_counts
from recsys_causal.longterm.balance import standardized_mean_differences
from recsys_causal.longterm.gcomp import (
    OUTCOME_MODELS,
    counterfactual_table,
    estimator_comparison,
    fit_outcome_oof,
    gcomp_estimates,
    refit_bootstrap_ate,
)
from recsys_causal.longterm.msm import msm_estimates, msm_weight_columns, oracle_ate
from recsys_causal.longterm.propensity import (
    PROPENSITY_MODELS,
    fit_propensity_oof,
    group_folds,
    logistic_design,
    propensity_metrics,
)
from recsys_causal.longterm.weights import analysis_weights
from recsys_causal.params import LongtermParams

_LGBM_KEYS = ("lgbm_n_estimators", "lgbm_learning_rate", "lgbm_num_leaves", "lgbm_min_child_samples")


def sorted_panel(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel in (user_id, event_date) order with a clean index (the order every table uses)."""
    out = panel.sort_values(["user_id", "event_date"], kind="mergesort").reset_index(drop=True)
    out["event_date"] = pd.to_datetime(out["event_date"])
    return out


def truth_for(store: RunStore, panel: pd.DataFrame) -> float | None:
    """Oracle ATE over the panel's user-days on simulated data, None on real data."""
    if not store.is_simulated("longterm"):
        return None
    return oracle_ate(panel, store.get(LT.ORACLE))


def weighted_panel(panel: pd.DataFrame, lt: LongtermParams, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add out-of-fold propensities (both models), stabilized and truncated weights; metrics."""
    wp = sorted_panel(panel)
    scores = {m: fit_propensity_oof(wp, m, lt, seed) for m in PROPENSITY_MODELS}
    a = wp["treatment"].to_numpy(int)
    raw, trunc = analysis_weights(a, scores[lt.primary_propensity], lt.weight_truncation_lower,
                                  lt.weight_truncation_upper)
    wp = wp.assign(
        propensity_logistic=scores["logistic"],
        propensity_lightgbm=scores["lightgbm"],
        propensity_primary=scores[lt.primary_propensity],
        crossfit_fold=group_folds(wp["user_id"].to_numpy(), lt.n_folds),
        ipw_stabilized=raw,
        analysis_weight=trunc,
    )
    metrics = propensity_metrics(a, scores)
    metrics["primary"] = metrics["model"].eq(lt.primary_propensity)
    return wp, metrics


@builder(
    outputs=(LT.WEIGHTED_PANEL, LT.PROPENSITY_METRICS, LT.COVARIATE_BALANCE),
    section="longterm",
    keys=("n_folds", "primary_propensity", *_LGBM_KEYS, "weight_truncation_lower", "weight_truncation_upper"),
    upstream=(LT.PANEL,),
)
def build_weighted_panel(store: RunStore) -> dict[str, pd.DataFrame]:
    wp, metrics = weighted_panel(store.get(LT.PANEL), store.params.longterm, store.params.seed)
    balance = standardized_mean_differences(wp, wp["analysis_weight"].to_numpy(),
                                            raw_weights=wp["ipw_stabilized"].to_numpy())
    return {LT.WEIGHTED_PANEL: wp, LT.PROPENSITY_METRICS: metrics, LT.COVARIATE_BALANCE: balance}


@builder(outputs=(LT.MSM_ESTIMATES,), section="longterm", keys=("n_bootstrap", "msm_weights", "primary_propensity"),
         upstream=(LT.WEIGHTED_PANEL, LT.ORACLE))
def build_msm(store: RunStore) -> dict[str, pd.DataFrame]:
    wp = sorted_panel(store.get(LT.WEIGHTED_PANEL))
    truth = truth_for(store, wp)
    counts = user_bootstrap_counts(wp["user_id"].to_numpy(), store.params.longterm.n_bootstrap, store.params.seed)
    lt = store.params.longterm
    logistic = lt.primary_propensity == "logistic"  # the sandwich needs a parametric propensity
    return {LT.MSM_ESTIMATES: msm_estimates(
        wp, lt.n_bootstrap, store.params.seed, truth=truth, counts=counts, **msm_weight_columns(lt.msm_weights),
        propensity=wp["propensity_primary"].to_numpy(float) if logistic else None,
        propensity_design=logistic_design(wp) if logistic else None)}


def gcomp_fits(wp: pd.DataFrame, lt: LongtermParams, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counterfactual table, fold metrics) of both outcome models, cross-fitted by user."""
    preds, folds = {}, []
    for m in OUTCOME_MODELS:
        y1, y0, fm = fit_outcome_oof(wp, m, lt, seed)
        preds[m] = (y1, y0)
        folds.append(fm)
    return counterfactual_table(wp, preds), pd.concat(folds, ignore_index=True)


def gcomp_refit(wp: pd.DataFrame, lt: LongtermParams, seed: int) -> pd.DataFrame:
    """The LightGBM g-computation refit bootstrap (one fit per replicate) as a `refit_table`.

    Kept apart from the fits and the bootstrap summaries, so that neither `n_bootstrap` nor
    `n_refit_bootstrap` refits what the other needs. It uses the first `n_refit_bootstrap` user
    resamples of the track's shared draws (the count matrix is prefix-stable in its rows).
    """
    counts = user_bootstrap_counts(wp["user_id"].to_numpy(), lt.n_refit_bootstrap, seed)
    full, reps = refit_bootstrap_ate(wp, "lightgbm", lt, counts, seed)
    return refit_table("lightgbm", full, reps)


def refit_table(model: str, full: float, reps: np.ndarray) -> pd.DataFrame:
    """A refit bootstrap as a table: the full-sample refit (replicate -1), then one row per replicate."""
    return pd.DataFrame({"model": model, "replicate": np.arange(-1, len(reps), dtype=np.int64),
                         "estimate": np.concatenate([[full], np.asarray(reps, dtype=float)])})


def refit_from_table(table: pd.DataFrame) -> dict[str, tuple[float, np.ndarray]]:
    """{model: (full-sample estimate, replicates)} from `refit_table` rows (in replicate order)."""
    out = {}
    for model, g in table.groupby("model", sort=False):
        g = g.sort_values("replicate", kind="mergesort")
        out[str(model)] = (float(g["estimate"].iloc[0]), g["estimate"].iloc[1:].to_numpy(dtype=float))
    return out


def gcomp_summary(wp: pd.DataFrame, cf: pd.DataFrame, refit: pd.DataFrame, lt: LongtermParams, seed: int,
                  truth: float | None = None) -> pd.DataFrame:
    """Per-model g-computation estimates with the fixed-prediction bootstrap over `n_bootstrap`
    user resamples, the ridge refit bootstrap (vectorized, on the same draws) and the LightGBM
    refit bootstrap of `gcomp_fits`."""
    counts = user_bootstrap_counts(wp["user_id"].to_numpy(), lt.n_bootstrap, seed)
    reps = {"linear_ridge": refit_bootstrap_ate(wp, "linear_ridge", lt, counts, seed), **refit_from_table(refit)}
    return gcomp_estimates(cf, lt.n_bootstrap, seed, truth=truth, counts=counts, refit=reps)


@builder(
    outputs=(LT.GCOMP_COUNTERFACTUALS, LT.GCOMP_FOLD_METRICS),
    section="longterm",
    keys=("n_folds", "ridge_alpha", "outcome_arms", *_LGBM_KEYS),
    upstream=(LT.WEIGHTED_PANEL,),
)
def build_gcomp_fits(store: RunStore) -> dict[str, pd.DataFrame]:
    cf, folds = gcomp_fits(sorted_panel(store.get(LT.WEIGHTED_PANEL)), store.params.longterm, store.params.seed)
    return {LT.GCOMP_COUNTERFACTUALS: cf, LT.GCOMP_FOLD_METRICS: folds}


@builder(
    outputs=(LT.GCOMP_REFIT_BOOTSTRAP,),
    section="longterm",
    keys=("outcome_arms", *_LGBM_KEYS, "n_refit_bootstrap"),
    upstream=(LT.WEIGHTED_PANEL,),
)
def build_gcomp_refit(store: RunStore) -> dict[str, pd.DataFrame]:
    return {LT.GCOMP_REFIT_BOOTSTRAP: gcomp_refit(sorted_panel(store.get(LT.WEIGHTED_PANEL)), store.params.longterm,
                                                  store.params.seed)}


@builder(
    outputs=(LT.GCOMP_ESTIMATES, LT.ESTIMATOR_COMPARISON),
    section="longterm",
    keys=("ridge_alpha", "n_bootstrap"),
    upstream=(LT.WEIGHTED_PANEL, LT.GCOMP_COUNTERFACTUALS, LT.GCOMP_REFIT_BOOTSTRAP, LT.MSM_ESTIMATES, LT.ORACLE),
)
def build_gcomp(store: RunStore) -> dict[str, pd.DataFrame]:
    wp = sorted_panel(store.get(LT.WEIGHTED_PANEL))
    truth = truth_for(store, wp)
    est = gcomp_summary(wp, store.get(LT.GCOMP_COUNTERFACTUALS), store.get(LT.GCOMP_REFIT_BOOTSTRAP),
                        store.params.longterm, store.params.seed, truth)
    comparison = estimator_comparison(store.get(LT.MSM_ESTIMATES), est, truth)
    return {LT.GCOMP_ESTIMATES: est, LT.ESTIMATOR_COMPARISON: comparison}


__all__ = [
    "build_weighted_panel", "build_msm", "build_gcomp_fits", "build_gcomp_refit", "build_gcomp", "weighted_panel", "gcomp_fits",
    "gcomp_refit", "gcomp_summary", "refit_table", "refit_from_table",
    "sorted_panel", "truth_for",
]
