"""Smoothing the AIPW pseudo-outcome into conditional effects (a DR-learner).

The AIPW score is an unbiased but very noisy pseudo-outcome for the conditional effect
tau(x) = E[Y(1) - Y(0) | X = x]. Regressing it on pre-treatment covariates (Kennedy's
DR-learner) gives a smoothed effect per row. The regressor is a LightGBM model fitted with
GroupKFold by user, so every row's smoothed effect comes from a model that never saw that user;
the bucket table and the calibration plot compare predicted effects with the held-out AIPW
scores of the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys_causal.crossfit import regression_metrics
from recsys_causal.longterm.segments import quantile_buckets

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

try:  # the panel module owns the covariate list; keep a copy until it exists
    from recsys_causal.longterm.panel import PRE_TREATMENT_COVARIATES as _COVS
except ImportError:  # pragma: no cover - depends on build order
    _COVS = (
        "lag_1_active_day", "lag_1_interactions", "lag_1_total_play_duration_sec", "lag_1_avg_watch_ratio",
        "lag_1_high_watch_share", "prior_3day_active_day", "prior_3day_interactions",
        "prior_3day_total_play_duration_sec", "prior_3day_avg_watch_ratio", "prior_3day_high_watch_share",
        "calendar_day_index", "panel_day_index", "day_of_week",
    )
PRE_TREATMENT_COVARIATES: tuple[str, ...] = tuple(_COVS)
CATEGORICAL_FEATURES: tuple[str, ...] = ("day_of_week",)


@dataclass(frozen=True)
class EffectModelConfig:
    """LightGBM settings of the effect smoother (heavily regularized: the target is noisy)."""

    n_estimators: int = 120
    learning_rate: float = 0.04
    num_leaves: int = 10
    min_child_samples: int = 60
    colsample_bytree: float = 0.9
    n_folds: int = 5
    permutation_repeats: int = 3


def effect_pipeline(features: Sequence[str], config: EffectModelConfig, seed: int) -> Pipeline:
    """The long-term nuisance models' own encoder (numeric raw, day of week one-hot) + LightGBM:
    `model_pipeline`, so the smoother reads its covariates exactly as the nuisances do."""
    from lightgbm import LGBMRegressor

    from recsys_causal.longterm.encoding import model_pipeline

    cats = [c for c in features if c in CATEGORICAL_FEATURES]
    nums = [c for c in features if c not in CATEGORICAL_FEATURES]
    model = LGBMRegressor(
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_child_samples=config.min_child_samples,
        colsample_bytree=config.colsample_bytree,
        importance_type="gain",
        n_jobs=1,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
        random_state=seed,
    )
    return model_pipeline(nums, cats, False, model)


@dataclass(frozen=True)
class EffectModelResult:
    predictions: np.ndarray  # out-of-fold smoothed effect per row
    folds: np.ndarray  # fold number (1..K) of each row
    metrics: pd.DataFrame
    importance: pd.DataFrame


def _oracle_metrics(pred: np.ndarray, cate: np.ndarray | None) -> dict[str, float]:
    if cate is None or np.isnan(cate).all():
        return {"oracle_cate_corr": np.nan, "oracle_cate_rmse": np.nan, "constant_oracle_rmse": np.nan}
    corr = float(np.corrcoef(pred, cate)[0, 1]) if np.std(pred) > 0 and np.std(cate) > 0 else np.nan
    return {
        "oracle_cate_corr": corr,
        "oracle_cate_rmse": float(np.sqrt(np.mean((pred - cate) ** 2))),
        # baseline: predicting everyone's effect by the ATE of the truth (no heterogeneity)
        "constant_oracle_rmse": float(np.std(cate)),
    }


def fit_effect_model(
    data: pd.DataFrame,
    *,
    features: Sequence[str] = PRE_TREATMENT_COVARIATES,
    target: str = "aipw_score",
    group: str = "user_id",
    config: EffectModelConfig = EffectModelConfig(),
    seed: int = 0,
    oracle_cate: np.ndarray | None = None,
) -> EffectModelResult:
    """DR-learner: GroupKFold-by-user LightGBM of the AIPW score on pre-treatment covariates.

    Returns out-of-fold predictions, per-fold and overall metrics (plus correlation and RMSE
    against the oracle CATE when given), and moderator importance: LightGBM gain of a model fit
    on all rows, and permutation importance (increase in held-out MSE) averaged over the folds.
    """
    from sklearn.base import clone
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import GroupKFold

    features = list(features)
    missing = [c for c in [*features, target, group] if c not in data.columns]
    if missing:
        raise ValueError(f"effect model input lacks columns {missing}")
    X = data[features]
    y = data[target].to_numpy(dtype=float)
    groups = data[group].to_numpy()
    n_groups = len(pd.unique(groups))
    k = min(config.n_folds, n_groups)
    if k < 2:
        raise ValueError("the effect model needs at least two users for GroupKFold")
    base = effect_pipeline(features, config, seed)
    pred = np.zeros(len(data))
    folds = np.zeros(len(data), dtype=np.int64)
    rows = []
    perm = np.zeros((k, len(features)))
    cate = None if oracle_cate is None else np.asarray(oracle_cate, dtype=float)
    for fold, (tr, te) in enumerate(GroupKFold(n_splits=k).split(X, y, groups=groups), start=1):
        m = clone(base).fit(X.iloc[tr], y[tr])
        p = m.predict(X.iloc[te])
        pred[te] = p
        folds[te] = fold
        rows.append(
            {
                "fold": str(fold), "rows": len(te), "users": int(pd.unique(groups[te]).size),
                **regression_metrics(y[te], p), **_oracle_metrics(p, None if cate is None else cate[te]),
            }
        )
        pi = permutation_importance(
            m, X.iloc[te], y[te], scoring="neg_mean_squared_error",
            n_repeats=config.permutation_repeats, random_state=seed + fold,
        )
        perm[fold - 1] = pi.importances_mean
    rows.append(
        {"fold": "overall (out-of-fold)", "rows": len(data), "users": n_groups, **regression_metrics(y, pred), **_oracle_metrics(pred, cate)}
    )
    metrics = pd.DataFrame(rows)
    full = clone(base).fit(X, y)
    names = full.named_steps["encode"].get_feature_names_out()
    gain = pd.Series(full.named_steps["model"].booster_.feature_importance(importance_type="gain"), index=names)
    splits = pd.Series(full.named_steps["model"].booster_.feature_importance(importance_type="split"), index=names)
    # fold one-hot columns back into their source feature
    source = {n: next((c for c in CATEGORICAL_FEATURES if n.startswith(f"{c}_")), n) for n in names}
    gain = gain.groupby(pd.Series(source)).sum().reindex(features).fillna(0.0)
    splits = splits.groupby(pd.Series(source)).sum().reindex(features).fillna(0).astype(int)
    total_gain = float(gain.sum())
    imp = pd.DataFrame(
        {
            "feature": features,
            "gain_importance": gain.to_numpy(),
            "gain_share": gain.to_numpy() / total_gain if total_gain > 0 else np.zeros(len(features)),
            "split_count": splits.to_numpy(),
            "permutation_importance": perm.mean(axis=0),
            "permutation_importance_std": perm.std(axis=0, ddof=1) if k > 1 else np.zeros(len(features)),
        }
    )
    imp["rank_gain"] = imp["gain_importance"].rank(ascending=False, method="min").astype(int)
    imp["rank_permutation"] = imp["permutation_importance"].rank(ascending=False, method="min").astype(int)
    imp = imp.sort_values(["gain_importance", "feature"], ascending=[False, True]).reset_index(drop=True)
    return EffectModelResult(predictions=pred, folds=folds, metrics=metrics, importance=imp)


def effect_buckets(
    pred: pd.DataFrame,
    n_buckets: int = 5,
    n_bootstrap: int = 400,
    seed: int = 0,
    counts: np.ndarray | None = None,
) -> tuple[pd.Categorical, pd.DataFrame]:
    """Quantile buckets of the smoothed effect, in numeric order, with held-out AIPW per bucket.

    `pred` has user_id, treatment, outcome, aipw_score, smoothed_aipw_effect (and optionally
    oracle_cate, prior_3day_interactions, prior_3day_high_watch_share). The mean raw AIPW score
    of a bucket is the calibration target; its user-cluster bootstrap interval comes from one
    vectorized pass over all buckets.
    """
    from recsys_causal.longterm.segments import segment_bootstrap

    buckets = quantile_buckets(pred["smoothed_aipw_effect"], n_buckets, prefix="B")
    df = pred.assign(smoothed_effect_bucket=buckets)
    agg = {
        "rows": ("aipw_score", "size"),
        "users": ("user_id", "nunique"),
        "treatment_rate": ("treatment", "mean"),
        "observed_outcome_mean": ("outcome", "mean"),
        "mean_raw_aipw_score": ("aipw_score", "mean"),
        "mean_smoothed_effect": ("smoothed_aipw_effect", "mean"),
    }
    for col, name in (("prior_3day_interactions", "mean_prior_interactions"), ("prior_3day_high_watch_share", "mean_prior_high_watch_share")):
        if col in df.columns:
            agg[name] = (col, "mean")
    if "oracle_cate" in df.columns and df["oracle_cate"].notna().any():
        agg["mean_oracle_cate"] = ("oracle_cate", "mean")
    table = df.groupby("smoothed_effect_bucket", observed=True, sort=True).agg(**agg).reset_index()
    table["smoothed_effect_bucket"] = table["smoothed_effect_bucket"].astype(str)
    table.insert(1, "bucket_order", np.arange(1, len(table) + 1))
    res = segment_bootstrap(df["aipw_score"].to_numpy(), df["user_id"], buckets, n_bootstrap, seed, counts)
    present = np.asarray([c in set(table["smoothed_effect_bucket"]) for c in buckets.categories])
    table["raw_aipw_ci_95_lower"] = res.ci_lower[present]
    table["raw_aipw_ci_95_upper"] = res.ci_upper[present]
    return buckets, table


def ordered_buckets(table: pd.DataFrame) -> pd.DataFrame:
    """Bucket table (e.g. read back from CSV) sorted by bucket_order, labels as an ordered categorical."""
    t = table.sort_values("bucket_order", kind="mergesort").reset_index(drop=True)
    return t.assign(
        smoothed_effect_bucket=pd.Categorical(t["smoothed_effect_bucket"], categories=list(t["smoothed_effect_bucket"]), ordered=True)
    )


def describe_metrics(metrics: pd.DataFrame, digits: int = 3) -> str:
    """The out-of-fold fit of the smoother, and (on simulated data) how close it is to the truth."""
    is_overall = metrics["fold"].astype(str).str.startswith("overall")
    o = metrics[is_overall].iloc[0]
    folds = metrics.loc[~is_overall, "r2"]
    text = (
        f"Out of fold, the smoother reaches R² = {o['r2']:.{digits}f} against the raw AIPW scores "
        f"(folds: {folds.min():.{digits}f} to {folds.max():.{digits}f})"
    )
    text += (
        "; a value this close to zero is expected because the pseudo-outcome is mostly noise, and says little "
        "about whether the smoothed effects are right."
        if o["r2"] < 0.05
        else "."
    )
    if pd.notna(o.get("oracle_cate_corr", np.nan)):
        better = o["oracle_cate_rmse"] < o["constant_oracle_rmse"]
        text += (
            f" Against the simulator's true conditional effects, the smoothed effect has correlation "
            f"{o['oracle_cate_corr']:.{digits}f} and RMSE {o['oracle_cate_rmse']:.{digits}f}, "
            f"{'better' if better else 'worse'} than the RMSE of ignoring heterogeneity altogether "
            f"({o['constant_oracle_rmse']:.{digits}f}, the SD of the true effects)."
        )
    return text


def describe_buckets(table: pd.DataFrame, digits: int = 1) -> str:
    """Whether the buckets with higher predicted effects also have higher held-out AIPW scores."""
    t = ordered_buckets(table)
    lo, hi = t.iloc[0], t.iloc[-1]
    rho = float(pd.Series(t["mean_smoothed_effect"]).corr(pd.Series(t["mean_raw_aipw_score"]), method="spearman"))
    overlap = not (hi["raw_aipw_ci_95_lower"] > lo["raw_aipw_ci_95_upper"])
    text = (
        f"The lowest bucket ({lo['smoothed_effect_bucket']}) has a mean held-out AIPW score of {lo['mean_raw_aipw_score']:.{digits}f} "
        f"and the highest ({hi['smoothed_effect_bucket']}) {hi['mean_raw_aipw_score']:.{digits}f}; the rank correlation between "
        f"predicted and held-out bucket means is {rho:.2f}, and the two extreme buckets' intervals "
        f"{'overlap, so the ordering is not established' if overlap else 'do not overlap'}."
    )
    if "mean_oracle_cate" in t.columns:
        text += (
            f" The true mean effect rises from {lo['mean_oracle_cate']:.{digits}f} in the lowest to "
            f"{hi['mean_oracle_cate']:.{digits}f} in the highest bucket."
            if hi["mean_oracle_cate"] >= lo["mean_oracle_cate"]
            else f" The true mean effect is {lo['mean_oracle_cate']:.{digits}f} in the lowest and {hi['mean_oracle_cate']:.{digits}f} in the highest bucket, so the ordering is wrong."
        )
    return text


def describe_importance(importance: pd.DataFrame, top: int = 3) -> str:
    """The strongest moderators by gain and by permutation, with the usual caveat."""
    g = importance.sort_values("gain_importance", ascending=False).head(top)["feature"].tolist()
    p = importance.sort_values("permutation_importance", ascending=False).head(top)["feature"].tolist()
    common = [f for f in g if f in p]
    pos = int((importance["permutation_importance"] > 0).sum())
    return (
        f"By gain the top moderators are {', '.join(g)}; by held-out permutation importance {', '.join(p)} "
        f"({len(common)} in common; {pos} of {len(importance)} features raise held-out error when permuted). "
        "These rank how useful a covariate is for predicting the noisy pseudo-outcome, not causal effects of the covariate."
    )



def describe_distributions(pred: pd.DataFrame, digits: int = 1) -> str:
    """How much narrower the smoothed effects are than the raw scores (and than the truth, if known)."""
    raw_sd = float(pred["aipw_score"].std())
    sm = pred["smoothed_aipw_effect"]
    text = (
        f"The raw AIPW scores have SD {raw_sd:.{digits}f}; the smoothed effects have SD {sm.std():.{digits}f} "
        f"(5th to 95th percentile {sm.quantile(0.05):.{digits}f} to {sm.quantile(0.95):.{digits}f}), and "
        f"{100 * (sm > 0).mean():.1f}% of user-days get a positive smoothed effect."
    )
    if "oracle_cate" in pred.columns and pred["oracle_cate"].notna().any():
        text += (
            f" The simulator's true effects have SD {pred['oracle_cate'].std():.{digits}f} "
            f"({100 * (pred['oracle_cate'] > 0).mean():.1f}% positive)."
        )
    return text
