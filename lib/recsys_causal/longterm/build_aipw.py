"""Builders of chapter longterm_05's fourteen artifacts (doubly robust and heterogeneous effects).

- the primary pair's refit bootstrap (the expensive part: one nuisance refit per replicate, so
  it is an artifact of its own that `n_bootstrap` does not touch);
- AIPW scores, results (three kinds of intervals + E-value), bootstrap replicates and the
  estimator comparison with AIPW;
- segment effects and their bootstrap replicates;
- the DR-learner's predictions, moderator importance, fold metrics and effect buckets;
- the DR-learner's calibration tests (BLP, GATES, Qini curve; see `recsys_causal.calibration`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import RunStore, builder
from recsys_causal.longterm.aipw import (
    KEYS,
    PROPENSITY_COLUMN,
    RefitFn,
    aipw_base,
    aipw_refit_bootstrap,
    comparison_with_aipw,
    compute_scores,
    primary_scores,
    run_aipw,
)
from recsys_causal.longterm.effect_model import (
    PRE_TREATMENT_COVARIATES,
    EffectModelConfig,
    effect_buckets,
    fit_effect_model,
)
from recsys_causal.longterm.segments import (
    SEGMENT_SPECS,
    add_segment_columns,
    quantile_buckets,
    segment_effects,
)
from recsys_causal.longterm.sensitivity import primary_sensitivity
from recsys_causal.params import LongtermParams

ORACLE_METRICS = ("oracle_cate_corr", "oracle_cate_rmse", "constant_oracle_rmse")  # simulated data only

_LGBM_KEYS = ("lgbm_n_estimators", "lgbm_learning_rate", "lgbm_num_leaves", "lgbm_min_child_samples")
_NUISANCE_KEYS = ("n_folds", "ridge_alpha", "outcome_arms", *_LGBM_KEYS)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    out = df.assign(event_date=pd.to_datetime(df["event_date"]).astype("datetime64[ns]"))
    return out.sort_values(list(KEYS), kind="mergesort").reset_index(drop=True)


def user_counts(user_ids: np.ndarray | pd.Series, n_bootstrap: int, seed: int) -> np.ndarray:
    """The long-term track's shared user-bootstrap draws (paired with MSM and g-computation)."""
    try:
        from recsys_causal.inference import user_bootstrap_counts
    except ImportError:  # pragma: no cover - only before the shared helper exists
        from recsys_causal.bootstrap import cluster_codes, draw_counts

        return draw_counts(cluster_codes(user_ids)[1], n_bootstrap, seed)
    return user_bootstrap_counts(np.asarray(user_ids), n_bootstrap, seed)


def make_refit(lt: LongtermParams, seed: int) -> RefitFn:
    """Re-fit the primary nuisances (cross-fitted by user) on a panel subset: (e, m1, m0)."""
    from recsys_causal.longterm.gcomp import fit_outcome_oof
    from recsys_causal.longterm.propensity import fit_propensity_oof

    def refit(sub: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = fit_propensity_oof(sub, lt.primary_propensity, lt, seed)
        y1, y0, _ = fit_outcome_oof(sub, lt.primary_outcome_model, lt, seed)
        return e, y1, y0

    return refit


def aipw_tables(panel: pd.DataFrame, counterfactuals: pd.DataFrame, comparison: pd.DataFrame,
                lt: LongtermParams, seed: int, refit: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The four AIPW artifacts from the weighted panel, counterfactuals, upstream comparison and
    the primary pair's refit bootstrap (`aipw_refit_table`; None: no refit interval)."""
    panel = _sorted(panel)
    counts = user_counts(panel["user_id"], lt.n_bootstrap, seed)
    reps = None if refit is None else refit.sort_values("bootstrap_id", kind="mergesort")["estimate"].to_numpy(float)
    out = run_aipw(
        panel, counterfactuals,
        clip_eps=lt.clip_eps, primary=(lt.primary_propensity, lt.primary_outcome_model),
        n_bootstrap=lt.n_bootstrap, trim_alpha=lt.trim_alpha, seed=seed, refit_replicates=reps, counts=counts,
    )
    sens = primary_sensitivity(out.results, float(panel["outcome"].std()))
    results = out.results.copy()
    prim = results["is_primary_aipw"].astype(bool)
    for col in ("outcome_sd", "standardized_effect", "approx_risk_ratio", "evalue_estimate", "evalue_ci", "evalue_ci_source"):
        results[col] = pd.Series([sens[col].iloc[0] if p else None for p in prim], index=results.index,
                                 dtype=object if col == "evalue_ci_source" else float)
    comp = comparison_with_aipw(comparison, results, out.trimmed, lt.primary_propensity)
    return {
        LT.AIPW_RESULTS: results,
        LT.AIPW_SCORES: out.scores,
        LT.AIPW_BOOTSTRAP: out.bootstrap,
        LT.COMPARISON_WITH_AIPW: comp,
    }


def aipw_refit_table(panel: pd.DataFrame, lt: LongtermParams, seed: int, refit: RefitFn | None = None) -> pd.DataFrame:
    """The primary pair's refit bootstrap: `n_refit_bootstrap` user resamples, each re-fitting both
    nuisance models (cross-fitted by user) and re-scoring; one row per replicate."""
    refit = refit if refit is not None else make_refit(lt, seed)
    reps = (aipw_refit_bootstrap(_sorted(panel), refit, lt.n_refit_bootstrap, seed, lt.clip_eps, lt.n_jobs)
            if lt.n_refit_bootstrap > 0 else np.empty(0))
    return pd.DataFrame({"bootstrap_id": np.arange(len(reps), dtype=np.int64),
                         "propensity_model": lt.primary_propensity, "outcome_model": lt.primary_outcome_model,
                         "estimate": np.asarray(reps, dtype=float)})


@builder(
    outputs=(LT.AIPW_REFIT_BOOTSTRAP,),
    section="longterm",
    keys=("clip_eps", "n_refit_bootstrap", "primary_propensity", "primary_outcome_model", *_NUISANCE_KEYS),
    upstream=(LT.WEIGHTED_PANEL,),
)
def build_aipw_refit(store: RunStore) -> dict[str, pd.DataFrame]:
    return {LT.AIPW_REFIT_BOOTSTRAP: aipw_refit_table(store.get(LT.WEIGHTED_PANEL), store.params.longterm,
                                                      store.params.seed)}


@builder(
    outputs=(LT.AIPW_SCORES,),
    section="longterm",
    keys=("clip_eps", "primary_propensity", "primary_outcome_model"),
    upstream=(LT.WEIGHTED_PANEL, LT.GCOMP_COUNTERFACTUALS),
)
def build_aipw_scores(store: RunStore) -> dict[str, pd.DataFrame]:
    lt = store.params.longterm
    scores = compute_scores(aipw_base(_sorted(store.get(LT.WEIGHTED_PANEL)), store.get(LT.GCOMP_COUNTERFACTUALS)),
                            lt.clip_eps, (lt.primary_propensity, lt.primary_outcome_model))
    return {LT.AIPW_SCORES: scores}


@builder(
    outputs=(LT.AIPW_RESULTS, LT.AIPW_BOOTSTRAP, LT.COMPARISON_WITH_AIPW),
    section="longterm",
    keys=("clip_eps", "n_bootstrap", "trim_alpha", "primary_propensity", "primary_outcome_model"),
    upstream=(LT.WEIGHTED_PANEL, LT.GCOMP_COUNTERFACTUALS, LT.ESTIMATOR_COMPARISON, LT.AIPW_REFIT_BOOTSTRAP),
)
def build_aipw(store: RunStore) -> dict[str, pd.DataFrame]:
    """The results, bootstrap replicates and comparison (the scores are recomputed, cheaply, from
    the same inputs as `build_aipw_scores`, so a bootstrap change leaves the scores fresh)."""
    lt, seed = store.params.longterm, store.params.seed
    out = aipw_tables(store.get(LT.WEIGHTED_PANEL), store.get(LT.GCOMP_COUNTERFACTUALS), store.get(LT.ESTIMATOR_COMPARISON),
                      lt, seed, store.get(LT.AIPW_REFIT_BOOTSTRAP))
    return {name: out[name] for name in (LT.AIPW_RESULTS, LT.AIPW_BOOTSTRAP, LT.COMPARISON_WITH_AIPW)}


def primary_with_covariates(scores: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Primary-pair scores (sorted by user, date) joined to the panel's pre-treatment covariates."""
    prim = primary_scores(_sorted(scores))
    covs = [c for c in PRE_TREATMENT_COVARIATES if c not in prim.columns]
    out = prim.merge(_sorted(panel)[[*KEYS, *covs]], on=list(KEYS), how="left", validate="one_to_one")
    if out[covs].isna().any().any():
        raise ValueError("some AIPW score rows have no covariates in the weighted panel")
    return out


def segment_tables(scores: pd.DataFrame, panel: pd.DataFrame, lt: LongtermParams, seed: int) -> dict[str, pd.DataFrame]:
    """Segment effects (all five segment types) and their bootstrap replicates."""
    data = add_segment_columns(primary_with_covariates(scores, panel))
    counts = user_counts(data["user_id"], lt.n_bootstrap, seed)
    summary, boot = segment_effects(
        data, segment_types=tuple(SEGMENT_SPECS), propensity_col=PROPENSITY_COLUMN[lt.primary_propensity],
        min_rows=lt.segment_min_rows, min_users=lt.segment_min_users, n_bootstrap=lt.n_bootstrap,
        seed=seed, counts=counts, multiplicity=lt.multiplicity_method,
    )
    return {LT.SEGMENT_EFFECTS: summary, LT.SEGMENT_BOOTSTRAP: boot}


@builder(
    outputs=(LT.SEGMENT_EFFECTS, LT.SEGMENT_BOOTSTRAP),
    section="longterm",
    keys=("n_bootstrap", "segment_min_rows", "segment_min_users", "multiplicity_method", "primary_propensity"),
    upstream=(LT.AIPW_SCORES, LT.WEIGHTED_PANEL),
)
def build_segments(store: RunStore) -> dict[str, pd.DataFrame]:
    return segment_tables(store.get(LT.AIPW_SCORES), store.get(LT.WEIGHTED_PANEL), store.params.longterm, store.params.seed)


def effect_config(lt: LongtermParams) -> EffectModelConfig:
    """Smoother settings: the seed's regularized LightGBM (at most 120 trees, leaves 1.5 times the
    nuisance models' minimum size, since the pseudo-outcome is noisier than the outcome)."""
    return EffectModelConfig(
        n_estimators=min(120, lt.lgbm_n_estimators),
        min_child_samples=int(round(1.5 * lt.lgbm_min_child_samples)),
        n_folds=lt.n_folds,
    )


def oracle_cate(keys: pd.DataFrame, oracle: pd.DataFrame | None) -> np.ndarray | None:
    """y1 - y0 of the simulator for each (user_id, event_date) in `keys` (None on real data)."""
    if oracle is None or len(oracle) == 0:
        return None
    o = _sorted(oracle[[*KEYS, "y1", "y0"]])
    m = keys[list(KEYS)].merge(o, on=list(KEYS), how="left", validate="one_to_one")
    if m["y1"].isna().any():
        raise ValueError(f"oracle lacks {int(m['y1'].isna().sum())} panel user-days")
    return (m["y1"] - m["y0"]).to_numpy(dtype=float)


def effect_fit_tables(scores: pd.DataFrame, panel: pd.DataFrame, oracle: pd.DataFrame | None, lt: LongtermParams,
                      seed: int) -> dict[str, pd.DataFrame]:
    """DR-learner predictions (with their smoothed-effect bucket), moderator importance and fold metrics."""
    data = add_segment_columns(primary_with_covariates(scores, panel))
    cate = oracle_cate(data, oracle)
    res = fit_effect_model(data, features=PRE_TREATMENT_COVARIATES, config=effect_config(lt), seed=seed, oracle_cate=cate)
    pred = data[[*KEYS, "treatment", "outcome", "aipw_score", "prior_3day_interactions", "prior_3day_high_watch_share"]].assign(
        smoothed_aipw_effect=res.predictions,
        effect_model_fold=res.folds,
    )
    metrics = res.metrics
    if cate is not None:
        pred = pred.assign(oracle_cate=cate)
    else:  # real data: no truth, so no oracle column (absent rather than all NaN)
        metrics = metrics.drop(columns=[c for c in ORACLE_METRICS if c in metrics.columns])
    buckets = quantile_buckets(pred["smoothed_aipw_effect"], lt.n_effect_buckets, prefix="B")
    pred = pred.assign(smoothed_effect_bucket=buckets, **{c: data[c] for c in SEGMENT_SPECS if c not in pred.columns})
    return {LT.EFFECT_PREDICTIONS: pred, LT.EFFECT_IMPORTANCE: res.importance, LT.EFFECT_METRICS: metrics}


def effect_bucket_table(pred: pd.DataFrame, lt: LongtermParams, seed: int) -> pd.DataFrame:
    """The smoothed-effect buckets with the held-out AIPW score per bucket and its user-cluster
    bootstrap interval (`n_bootstrap` draws, shared with the track's other bootstraps)."""
    pred = pred.sort_values(list(KEYS), kind="mergesort").reset_index(drop=True)
    counts = user_counts(pred["user_id"], lt.n_bootstrap, seed)
    return effect_buckets(pred, lt.n_effect_buckets, lt.n_bootstrap, seed, counts)[1]


def effect_tables(scores: pd.DataFrame, panel: pd.DataFrame, oracle: pd.DataFrame | None, lt: LongtermParams,
                  seed: int) -> dict[str, pd.DataFrame]:
    """DR-learner predictions, moderator importance, fold metrics and smoothed-effect buckets."""
    out = effect_fit_tables(scores, panel, oracle, lt, seed)
    return {**out, LT.EFFECT_BUCKETS: effect_bucket_table(out[LT.EFFECT_PREDICTIONS], lt, seed)}


@builder(
    outputs=(LT.EFFECT_PREDICTIONS, LT.EFFECT_IMPORTANCE, LT.EFFECT_METRICS),
    section="longterm",
    keys=("n_folds", "n_effect_buckets", "lgbm_n_estimators", "lgbm_min_child_samples"),
    upstream=(LT.AIPW_SCORES, LT.WEIGHTED_PANEL, LT.ORACLE),
)
def build_effect_model(store: RunStore) -> dict[str, pd.DataFrame]:
    oracle = store.get(LT.ORACLE) if store.is_simulated("longterm") else None
    return effect_fit_tables(store.get(LT.AIPW_SCORES), store.get(LT.WEIGHTED_PANEL), oracle, store.params.longterm,
                             store.params.seed)


@builder(outputs=(LT.EFFECT_BUCKETS,), section="longterm", keys=("n_effect_buckets", "n_bootstrap"),
         upstream=(LT.EFFECT_PREDICTIONS,))
def build_effect_buckets(store: RunStore) -> dict[str, pd.DataFrame]:
    return {LT.EFFECT_BUCKETS: effect_bucket_table(store.get(LT.EFFECT_PREDICTIONS), store.params.longterm,
                                                   store.params.seed)}


def effect_calibration_tables(pred: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """BLP, GATES and Qini of the DR-learner: its out-of-fold smoothed effects against the
    cross-fitted AIPW scores, clustered by user; the oracle columns only when the truth is known."""
    from recsys_causal.calibration import calibration_tables

    pred = pred.sort_values(list(KEYS), kind="mergesort")
    truth = pred["oracle_cate"] if "oracle_cate" in pred.columns else None
    oracle = truth.to_numpy(dtype=float) if truth is not None and truth.notna().all() else None
    res = calibration_tables(pred["aipw_score"].to_numpy(dtype=float), pred["smoothed_aipw_effect"].to_numpy(dtype=float),
                             pred["user_id"].to_numpy(), oracle=oracle)
    return {LT.EFFECT_CALIBRATION_TESTS: res.tests, LT.EFFECT_GATES: res.gates, LT.EFFECT_QINI: res.qini}


@builder(outputs=(LT.EFFECT_CALIBRATION_TESTS, LT.EFFECT_GATES, LT.EFFECT_QINI), section="longterm", keys=(),
         upstream=(LT.EFFECT_PREDICTIONS,))
def build_effect_calibration(store: RunStore) -> dict[str, pd.DataFrame]:
    return effect_calibration_tables(store.get(LT.EFFECT_PREDICTIONS))


__all__ = [
    "build_aipw_refit", "build_aipw_scores", "build_aipw", "aipw_refit_table", "build_segments", "build_effect_model", "build_effect_buckets",
    "build_effect_calibration", "aipw_tables", "segment_tables", "effect_fit_tables", "effect_bucket_table", "effect_tables", "effect_calibration_tables", "make_refit", "user_counts", "oracle_cate",
    "primary_with_covariates",
]
