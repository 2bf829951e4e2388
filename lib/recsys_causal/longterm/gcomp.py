"""G-computation: outcome models predicted under both arms.

m(a, X) = E[Y | A = a, X] is fitted out of fold (GroupKFold by user) by a ridge regression
(standardized numerics, one-hot day of week, treatment as a feature) and by LightGBM on the same
inputs: by default one regressor per arm (`outcome_arms = "separate"`, a T-learner), because a
single tree ensemble with treatment as one more feature splits on it only where it pays and so
shrinks the contrast (on the simulated world the pooled model overstated the effect by about
3 interactions, the per-arm models by about 2). For every row the fold models predict
y1 = m(1, X) and y0 = m(0, X); the ATE is mean(y1 - y0). Inference is a user-cluster bootstrap of that mean with
the outcome model re-fitted on every user resample (vectorized through per-user sums for the
ridge, one LightGBM fit per replicate for the trees); the bootstrap that holds the predictions
fixed is reported beside it to show how much too narrow it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys_causal.bootstrap import cluster_bootstrap_mean, cluster_codes, map_replicates
from recsys_causal.crossfit import cross_fit_predict, group_folds, regression_metrics
from recsys_causal.inference import normal_quantile, sd_mcse, user_bootstrap_counts
from recsys_causal.longterm.msm import MSM_METHOD, ORACLE_METHOD
from recsys_causal.longterm.propensity import (
    GROUP,
    OUTCOME,
    TREATMENT,
    check_pre_treatment,
    covariate_lists,
    lgbm_kwargs,
)
from recsys_causal.params import LongtermParams

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

OUTCOME_MODELS: tuple[str, ...] = ("linear_ridge", "lightgbm")
GCOMP_METHOD = "G-computation"
COMPARISON_COLUMNS: tuple[str, ...] = (
    "method", "model", "estimate", "ci_95_lower", "ci_95_upper", "source",
    "relative_lift_vs_msm_control_mean",
)
COUNTERFACTUAL_COLUMNS: tuple[str, ...] = (
    "user_id", "event_date", "model", "treatment", "outcome", "pred_observed", "pred_y1",
    "pred_y0", "cate_hat", "residual",
)


def outcome_feature_names(drop: Sequence[str] = ()) -> list[str]:
    """Inputs of every outcome model: pre-treatment covariates (less `drop`) plus the treatment."""
    num, cat = covariate_lists(drop)
    return check_pre_treatment([*num, *cat, TREATMENT], allowed_extra=(TREATMENT,))


def make_outcome_model(model: str, lt: LongtermParams, seed: int = 0, drop: Sequence[str] = ()) -> Pipeline:
    """Unfitted outcome pipeline: 'linear_ridge' or 'lightgbm' (treatment passed through),
    on the covariates less `drop`."""
    from sklearn.linear_model import Ridge

    from recsys_causal.longterm.encoding import model_pipeline

    num, cat = covariate_lists(drop)
    if model == "linear_ridge":
        return model_pipeline(num, cat, True, Ridge(alpha=lt.ridge_alpha), passthrough=(TREATMENT,))
    if model == "lightgbm":
        from lightgbm import LGBMRegressor

        return model_pipeline(num, cat, False, LGBMRegressor(**lgbm_kwargs(lt, seed)), passthrough=(TREATMENT,))
    raise ValueError(f"unknown outcome model '{model}'; expected one of {OUTCOME_MODELS}")


def fit_outcome_oof(
    panel: pd.DataFrame, model: str, lt: LongtermParams, seed: int, drop: Sequence[str] = ()
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Out-of-fold predictions (pred_y1, pred_y0) for every row, and per-fold RMSE/MAE/R².

    Uses `lt.n_folds`, `lt.ridge_alpha` and `lt.lgbm_*`; `drop` withholds covariates. Fold
    metrics score the prediction at the observed treatment on held-out users.
    """
    X, est, X1, X0 = _encoded_arms(panel, make_outcome_model(model, lt, seed, drop))
    y = panel[OUTCOME].to_numpy(dtype=float)
    groups = panel[GROUP].to_numpy()
    folds = group_folds(groups, lt.n_folds)
    if separate_arms(model, lt):
        # an arm's model is fitted on that arm's rows, where X and X1 (X0) agree, so it is
        # fitted on X1 (X0) and predicts it once per fold
        a = X[:, -1] == 1.0
        y1 = cross_fit_predict(est, X1, y, folds, fit_mask=a).oof
        y0 = cross_fit_predict(est, X0, y, folds, fit_mask=~a).oof
        observed = np.where(a, y1, y0)
    else:
        cf = cross_fit_predict(est, X, y, folds, method="predict", counterfactual_X=(X1, X0))
        (y1, y0), observed = cf.extra, cf.oof
    rows = []
    for k in range(lt.n_folds):
        m = folds == k
        rows.append({
            "model": model, "fold": k, "n_rows": int(m.sum()), "n_users": int(len(np.unique(groups[m]))),
            **regression_metrics(y[m], observed[m]),
        })
    return y1, y0, pd.DataFrame(rows)


def separate_arms(model: str, lt: LongtermParams) -> bool:
    """Whether `model` is fitted once per arm (LightGBM with `outcome_arms = "separate"`)."""
    return model == "lightgbm" and lt.outcome_arms == "separate"


def counterfactual_table(panel: pd.DataFrame, predictions: dict[str, tuple[np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """One row per user-day per model: observed, predicted y1 / y0, cate_hat and residual."""
    a = panel[TREATMENT].to_numpy(dtype=int)
    y = panel[OUTCOME].to_numpy(dtype=float)
    frames = []
    for model, (y1, y0) in predictions.items():
        obs = np.where(a == 1, y1, y0)
        frames.append(pd.DataFrame({
            "user_id": panel[GROUP].to_numpy(), "event_date": panel["event_date"].to_numpy(),
            "model": model, "treatment": a, "outcome": y, "pred_observed": obs,
            "pred_y1": y1, "pred_y0": y0, "cate_hat": y1 - y0, "residual": y - obs,
        }))
    return pd.concat(frames, ignore_index=True)[list(COUNTERFACTUAL_COLUMNS)]


def _encoded_arms(panel: pd.DataFrame, pipeline: Pipeline) -> tuple[np.ndarray, Pipeline, np.ndarray, np.ndarray]:
    """(encoded inputs, the steps fitted per fold, the inputs with treatment set to 1, to 0):
    the encoder's last column is the treatment, which `make_outcome_model` passes through."""
    from recsys_causal.longterm.encoding import split_encoder

    X, rest, names = split_encoder(pipeline, panel)
    if names[-1] != TREATMENT:
        raise ValueError(f"the outcome model's last input is {names[-1]!r}, expected {TREATMENT!r}")
    X1, X0 = X.copy(), X.copy()
    X1[:, -1], X0[:, -1] = 1.0, 0.0
    return X, rest, X1, X0


def ridge_refit_bootstrap(panel: pd.DataFrame, lt: LongtermParams, counts: np.ndarray) -> tuple[float, np.ndarray]:
    """Ridge g-computation re-fitted on every user resample, vectorized through per-user sums.

    For a linear outcome model mean(y1 - y0) is the treatment coefficient. Each user contributes
    Z'Z and Z'y of the preprocessed design Z (scaler fitted once on the full sample); replicate r
    solves (C_r S_zz + alpha D) b = C_r S_zy with D penalizing every term but the intercept,
    which is sklearn's Ridge on the resampled rows. Returns (full-sample estimate, replicates).
    """
    y = panel[OUTCOME].to_numpy(dtype=float)
    pipe = make_outcome_model("linear_ridge", lt)
    Z = np.asarray(pipe[:-1].fit_transform(panel), dtype=float)
    names = list(pipe.named_steps["encode"].get_feature_names_out())
    Z = np.column_stack([np.ones(len(Z)), Z])
    t = 1 + names.index(TREATMENT)
    p = Z.shape[1]
    codes, g = cluster_codes(panel[GROUP].to_numpy())
    if counts.shape[1] != g:
        raise ValueError(f"counts has {counts.shape[1]} clusters, data has {g}")
    szz = np.zeros((g, p * p))
    szy = np.zeros((g, p))
    for start in range(0, len(Z), 20_000):  # chunks bound the n x p^2 memory
        z = Z[start:start + 20_000]
        c = codes[start:start + 20_000]
        np.add.at(szz, c, (z[:, :, None] * z[:, None, :]).reshape(len(z), p * p))
        np.add.at(szy, c, z * y[start:start + 20_000, None])
    pen = np.eye(p) * lt.ridge_alpha
    pen[0, 0] = 0.0

    def solve(czz: np.ndarray, czy: np.ndarray) -> np.ndarray:
        a = czz.reshape(-1, p, p) + pen
        return np.linalg.solve(a, czy[..., None])[..., 0][:, t]

    full = float(solve(szz.sum(0)[None], szy.sum(0)[None])[0])
    reps = solve(counts @ szz, counts @ szy)
    return full, reps


def lgbm_refit_bootstrap(panel: pd.DataFrame, lt: LongtermParams, counts: np.ndarray,
                         seed: int) -> tuple[float, np.ndarray]:
    """LightGBM g-computation re-fitted on every user resample (counts as frequency weights).

    Replicate r fits the regressor on the drawn users' rows with sample_weight = draw count,
    predicts y1 and y0 for those rows and takes their count-weighted mean difference. Returns
    (full-sample estimate, replicates); costs one LightGBM fit per replicate.
    """
    from sklearn.base import clone

    X, est, X1, X0 = _encoded_arms(panel, make_outcome_model("lightgbm", lt, seed))
    y = panel[OUTCOME].to_numpy(dtype=float)
    codes, g = cluster_codes(panel[GROUP].to_numpy())
    a = X[:, -1] == 1.0

    def fit(rows: np.ndarray, w: np.ndarray) -> Pipeline:
        return clone(est).fit(X[rows], y[rows], model__sample_weight=w[rows])

    def one(w: np.ndarray) -> float:
        keep = np.flatnonzero(w > 0)
        if separate_arms("lightgbm", lt):
            m1, m0 = fit(keep[a[keep]], w), fit(keep[~a[keep]], w)
        else:
            m1 = m0 = fit(keep, w)
        d = m1.predict(X1[keep]) - m0.predict(X0[keep])
        return float(np.sum(w[keep] * d) / np.sum(w[keep]))

    full = one(np.ones(len(y)))
    reps = map_replicates(lambda r: one(counts[r][codes]), counts.shape[0], lt.n_jobs)
    return full, reps


def refit_bootstrap_ate(panel: pd.DataFrame, model: str, lt: LongtermParams, counts: np.ndarray,
                        seed: int = 0) -> tuple[float, np.ndarray]:
    """(full-sample ATE, refit replicates) for `model` ('linear_ridge' or 'lightgbm')."""
    if model == "linear_ridge":
        return ridge_refit_bootstrap(panel, lt, counts)
    if model == "lightgbm":
        return lgbm_refit_bootstrap(panel, lt, counts, seed)
    raise ValueError(f"unknown outcome model '{model}'; expected one of {OUTCOME_MODELS}")


def gcomp_estimates(
    counterfactuals: pd.DataFrame, n_bootstrap: int, seed: int, truth: float | None = None,
    counts: np.ndarray | None = None,
    refit: dict[str, tuple[float, np.ndarray]] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """ATE = mean(y1 - y0) per model (cross-fitted predictions) with two user-cluster bootstraps.

    * fixed: the mean of the row-level predicted effects resampled by user, predictions held
      fixed (`ci_fixed_*`; ignores the outcome model's estimation error, so it is too narrow);
    * refit (when `refit[model]` is given): replicates that re-fit the model on each user
      resample; the reported `ci_95_*` is est +/- z * SD(replicates). A normal interval is used
      because refit replicates are few (LightGBM refits cost one fit each) and their tails are
      unreliable; the full-sample refit can also sit off-centre from the cross-fitted
      estimate, and a shifted percentile interval then need not contain the estimate.
    """
    rows = []
    for model, g in counterfactuals.groupby("model", sort=False):
        users = g[GROUP].to_numpy()
        c = counts if counts is not None else user_bootstrap_counts(users, n_bootstrap, seed)
        boot = cluster_bootstrap_mean(g[["cate_hat", "pred_y1", "pred_y0"]].to_numpy(float), users, counts=c)
        est = float(boot.estimate[0])
        row = {"method": GCOMP_METHOD, "model": model, "estimate": est,
               "mean_pred_y1": float(boot.estimate[1]), "mean_pred_y0": float(boot.estimate[2]),
               "n_rows": len(g), "n_users": int(c.shape[1]),
               "se_fixed": float(boot.se[0]), "ci_fixed_lower": float(boot.ci_lower[0]),
               "ci_fixed_upper": float(boot.ci_upper[0]), "fixed_reps": int(c.shape[0])}
        if refit is not None and model in refit:
            full, reps = refit[model]
            se = float(np.nanstd(reps, ddof=1))
            z = normal_quantile(level)
            row.update({"full_sample_estimate": full, "se_bootstrap": se,
                        "se_bootstrap_mc_error": float(sd_mcse(se, len(reps))),
                        "ci_95_lower": est - z * se, "ci_95_upper": est + z * se,
                        "bootstrap_reps": int(len(reps)), "interval": "refit"})
        else:
            row.update({"full_sample_estimate": np.nan, "se_bootstrap": row["se_fixed"],
                        "se_bootstrap_mc_error": float(sd_mcse(row["se_fixed"], row["fixed_reps"])),
                        "ci_95_lower": row["ci_fixed_lower"], "ci_95_upper": row["ci_fixed_upper"],
                        "bootstrap_reps": row["fixed_reps"], "interval": "fixed"})
        rows.append(row)
    out = pd.DataFrame(rows)
    if truth is not None:
        out["covers_truth"] = (out["ci_95_lower"] <= truth) & (truth <= out["ci_95_upper"])
        out["fixed_covers_truth"] = (out["ci_fixed_lower"] <= truth) & (truth <= out["ci_fixed_upper"])
    return out


def estimator_comparison(msm: pd.DataFrame, gcomp: pd.DataFrame, truth: float | None = None) -> pd.DataFrame:
    """The MSM row, one g-computation row per model and (on simulated data) the oracle row."""
    m = msm[msm["method"].eq(MSM_METHOD)].iloc[0]
    denom = float(m["weighted_control_mean"])
    rows = [{"method": MSM_METHOD, "model": m["model"], "estimate": m["estimate"],
             "ci_95_lower": m["ci_95_lower"], "ci_95_upper": m["ci_95_upper"],
             "source": f"chapter 03: {m['source']}"}]
    for r in gcomp.sort_values("model").itertuples(index=False):
        rows.append({"method": GCOMP_METHOD, "model": r.model, "estimate": r.estimate,
                     "ci_95_lower": r.ci_95_lower, "ci_95_upper": r.ci_95_upper,
                     "source": ("chapter 04: user-cluster bootstrap re-fitting the outcome model"
                        if getattr(r, "interval", "fixed") == "refit" else
                        "chapter 04: user-cluster bootstrap, predictions held fixed")})
    if truth is not None:
        rows.append({"method": ORACLE_METHOD, "model": "simulator", "estimate": truth,
                     "ci_95_lower": np.nan, "ci_95_upper": np.nan,
                     "source": "simulator oracle: mean of y1 - y0 over panel user-days"})
    out = pd.DataFrame(rows)
    out["relative_lift_vs_msm_control_mean"] = out["estimate"].astype(float) / denom
    return out[list(COMPARISON_COLUMNS)]


def fold_metrics_summary(fold_metrics: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD across folds of RMSE, MAE and R², per model."""
    g = fold_metrics.groupby("model", sort=True)
    out = g[["rmse", "mae", "r2"]].agg(["mean", "std"])
    out.columns = [f"{a}_{b}" for a, b in out.columns]
    return out.reset_index()


def describe_fold_metrics(fold_metrics: pd.DataFrame) -> str:
    """Which outcome model predicts held-out users better, and how stable that is across folds."""
    s = fold_metrics_summary(fold_metrics).set_index("model")
    best = s["rmse_mean"].idxmin()
    parts = [f"{m}: RMSE {r.rmse_mean:.4g} (fold SD {r.rmse_std:.2g}), R² {r.r2_mean:.3f}"
             for m, r in s.iterrows()]
    return (f"On held-out users, {'; '.join(parts)}. The {best} model predicts next-7-day interactions "
            "better; a good outcome fit is necessary for g-computation but says nothing about whether "
            "the treatment contrast inside the model is right.")


def describe_refit_widths(estimates: pd.DataFrame) -> str:
    """How much narrower the fixed-prediction interval is than the refit one, with the refit SE's
    Monte Carlo error (few replicates)."""
    parts = []
    for r in estimates.itertuples(index=False):
        if getattr(r, "interval", "fixed") != "refit":
            continue
        w_refit = r.ci_95_upper - r.ci_95_lower
        w_fixed = r.ci_fixed_upper - r.ci_fixed_lower
        parts.append(f"{r.model}: {w_fixed:.3g} with predictions fixed vs {w_refit:.3g} when the model is "
                     f"re-fitted ({r.bootstrap_reps} replicates; refit SE {r.se_bootstrap:.3g} ± "
                     f"{r.se_bootstrap_mc_error:.2g} Monte Carlo error)")
    if not parts:
        return "Only the fixed-prediction bootstrap was run."
    return ("Interval widths, " + "; ".join(parts) + ". Holding the predictions fixed ignores the "
            "uncertainty of the fitted model itself, which for g-computation is nearly all of it.")


def describe_cate_spread(counterfactuals: pd.DataFrame) -> str:
    """How much each outcome model lets the predicted effect vary across user-days."""
    parts, flat = [], []
    for model, g in counterfactuals.groupby("model", sort=True):
        c = g["cate_hat"].to_numpy(dtype=float)
        zero = float(np.mean(np.isclose(c, 0.0)))
        parts.append(f"{model}: SD {np.std(c):.3g}, {100 * zero:.0f}% of rows exactly 0")
        if zero > 0.5:
            flat.append(model)
    text = "Row-level predicted effects: " + "; ".join(parts) + "."
    if flat:
        text += (f" The {', '.join(flat)} model rarely splits on treatment, so it predicts no effect for "
                 "most rows, which pulls its average effect toward zero.")
    return text


def describe_agreement(comparison: pd.DataFrame, truth: float | None = None) -> str:
    """Do the estimators agree with each other, and (with a truth) is the agreement correct?"""
    est = comparison.dropna(subset=["ci_95_lower", "ci_95_upper"])
    lo, hi = float(est["ci_95_lower"].max()), float(est["ci_95_upper"].min())
    text = (f"The {len(est)} estimates range from {est['estimate'].min():.3g} to "
            f"{est['estimate'].max():.3g}; ")
    if lo <= hi:
        text += f"their intervals share the range {lo:.3g} to {hi:.3g}, so the estimators agree with each other"
        if truth is not None and not (lo <= truth <= hi):
            text += (f", but that common range excludes the simulation truth {truth:.3g}: agreement "
                     "between weighting and outcome modelling is not evidence of correctness when both "
                     "lean on the same history")
        text += "."
    else:
        text += ("their intervals do not all overlap, so at least one nuisance model (or its "
                 "truncation / regularization) is likely misspecified.")
    return text
