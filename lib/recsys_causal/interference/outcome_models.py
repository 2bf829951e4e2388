"""LightGBM and XGBoost outcome models of total slate clicks, and the CATEs they imply.

Each model predicts a slate's total simulated clicks from its pre-promotion features plus the
treatment flag (an "S-learner"). Setting the flag to 1 and to 0 for every slate gives two
counterfactual predictions; their difference is the model's conditional net lift of promotion,
which on simulated data is compared with the oracle lift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.crossfit import cross_fit_predict, regression_metrics
from recsys_causal.interference.features import (
    ORACLE,
    TREATMENT,
    EncodedFeatures,
    treatment_matrices,
    with_treatment,
)
from recsys_causal.params import InterferenceParams

MODEL_KINDS: tuple[str, ...] = ("LightGBM", "XGBoost")


def make_regressor(kind: str, params: InterferenceParams, seed: int) -> Any:
    """A deterministic, single-threaded gradient-boosted regressor of the given kind."""
    if kind == "LightGBM":
        import lightgbm as lgb

        return lgb.LGBMRegressor(
            n_estimators=params.model_n_estimators,
            learning_rate=params.model_learning_rate,
            max_depth=params.model_max_depth,
            num_leaves=min(15, 2 ** params.model_max_depth - 1) if params.model_max_depth > 1 else 2,
            min_child_samples=20,
            colsample_bytree=0.9,
            n_jobs=1,
            deterministic=True,
            force_col_wise=True,
            verbose=-1,
            random_state=seed,
        )
    if kind == "XGBoost":
        import xgboost as xgb

        return xgb.XGBRegressor(
            n_estimators=params.model_n_estimators,
            learning_rate=params.model_learning_rate,
            max_depth=params.model_max_depth,
            subsample=0.9,
            colsample_bytree=0.9,
            objective="reg:squarederror",
            n_jobs=1,
            tree_method="hist",
            random_state=seed,
            verbosity=0,
        )
    raise ValueError(f"unknown model kind '{kind}'; expected one of {MODEL_KINDS}")


@dataclass
class OutcomeModels:
    """Fitted outcome models with their train/test split and metrics."""

    models: dict[str, Any]
    train_idx: np.ndarray
    test_idx: np.ndarray
    metrics: pd.DataFrame

    @property
    def best_model(self) -> str:
        """The model with the lowest held-out RMSE (a choice made without the oracle)."""
        return best_model_name(self.metrics)


def best_model_name(metrics: pd.DataFrame) -> str:
    """Model with the lowest test RMSE (ties broken by name)."""
    test = metrics[metrics["split"].eq("test")].sort_values(["rmse", "model"], kind="stable")
    return str(test.iloc[0]["model"])


def fit_outcome_models(
    enc: EncodedFeatures, params: InterferenceParams, seed: int, kinds: tuple[str, ...] = MODEL_KINDS
) -> OutcomeModels:
    """Split stratified by treatment (`params.test_size` held out), fit each model, score both splits."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(enc.X))
    train_idx, test_idx = train_test_split(
        idx, test_size=params.test_size, random_state=seed, stratify=enc.treatment.to_numpy()
    )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    X_tr, y_tr = enc.X.iloc[train_idx], enc.y.iloc[train_idx]
    models: dict[str, Any] = {}
    rows = []
    for i, kind in enumerate(kinds):
        model = make_regressor(kind, params, seed + 1 + i).fit(X_tr, y_tr)
        models[kind] = model
        for split, part in (("train", train_idx), ("test", test_idx)):
            pred = model.predict(enc.X.iloc[part])
            rows.append({"model": kind, "split": split, "slates": len(part),
                         **regression_metrics(enc.y.iloc[part].to_numpy(), pred)})
    return OutcomeModels(models, train_idx, test_idx, pd.DataFrame(rows))


def feature_importance(models: dict[str, Any], columns: list[str] | pd.Index) -> pd.DataFrame:
    """Each model's feature importance (LightGBM: split counts, XGBoost: gain share) with ranks."""
    frames = []
    for kind, model in models.items():
        imp = pd.DataFrame({"model": kind, "feature": list(columns),
                            "importance": np.asarray(model.feature_importances_, dtype=float)})
        imp = imp.sort_values(["importance", "feature"], ascending=[False, True], kind="stable")
        imp["rank"] = np.arange(1, len(imp) + 1)
        frames.append(imp)
    return pd.concat(frames, ignore_index=True)


def predict_lift(model: Any, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Predicted total clicks if every slate is promoted and if every slate is left unchanged."""
    return (np.asarray(model.predict(with_treatment(X, 1)), dtype=float),
            np.asarray(model.predict(with_treatment(X, 0)), dtype=float))


def counterfactual_predictions(fitted: OutcomeModels, enc: EncodedFeatures, table: pd.DataFrame) -> pd.DataFrame:
    """Per slate and model: predicted clicks if promoted / if unchanged and their difference."""
    keep = ["slate_id", "userId", TREATMENT, "focal_seed_position", "focal_spillover_cluster",
            "total_simulated_clicks", *([ORACLE] if ORACLE in table else [])]
    out = table[keep].copy()
    split = np.full(len(out), "train", dtype=object)
    split[fitted.test_idx] = "test"
    out["model_split"] = pd.Series(split, index=out.index, dtype="string")
    for kind, model in fitted.models.items():
        p1, p0 = predict_lift(model, enc.X)
        out[f"pred_promote_clicks_{kind}"] = p1
        out[f"pred_control_clicks_{kind}"] = p0
        out[f"pred_net_lift_{kind}"] = p1 - p0
    return out


def cate_summary(cf: pd.DataFrame, columns: dict[str, str] | None = None) -> pd.DataFrame:
    """Per CATE column (label -> column of `cf`): mean / median / share-positive predicted lift
    and, with the oracle, RMSE, MAE and correlation against it. Default: every `pred_net_lift_*`."""
    if columns is None:
        columns = {c.removeprefix("pred_net_lift_"): c for c in cf.columns if c.startswith("pred_net_lift_")}
    rows = []
    for label, col in columns.items():
        pred = cf[col].to_numpy(dtype=float)
        row: dict[str, Any] = {
            "model": label,
            "mean_predicted_lift": float(pred.mean()),
            "median_predicted_lift": float(np.median(pred)),
            "share_predicted_positive": float((pred > 0).mean()),
        }
        if ORACLE in cf:
            true = cf[ORACLE].to_numpy(dtype=float)
            corr = np.corrcoef(true, pred)[0, 1] if pred.std() > 0 and true.std() > 0 else np.nan
            row.update(
                true_mean_lift=float(true.mean()),
                true_median_lift=float(np.median(true)),
                true_share_positive=float((true > 0).mean()),
                cate_rmse_vs_oracle=float(np.sqrt(np.mean((true - pred) ** 2))),
                cate_mae_vs_oracle=float(np.mean(np.abs(true - pred))),
                cate_correlation_vs_oracle=float(corr),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def crossfit_predicted_lift(
    enc: EncodedFeatures, model: Any, seed: int, folds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold S-learner predictions: for each fold, a clone of `model` fitted on the other
    folds predicts that fold's clicks if promoted and if unchanged. Returns (lift, mu1, mu0)."""
    M, M1, M0 = treatment_matrices(enc.X)
    cf = cross_fit_predict(model, M, enc.y, folds, seed=seed + 10, counterfactual_X=(M1, M0), predict_X=False)
    mu1, mu0 = cf.extra
    return mu1 - mu0, mu1, mu0


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def plot_model_metrics(metrics: pd.DataFrame) -> Any:
    """Held-out RMSE, MAE and R² of each outcome model (one panel per metric)."""
    from recsys_causal.style import PALETTE, new_figure

    test = metrics[metrics["split"].eq("test")]
    fig, axes = new_figure(1, 3, height=3.0)
    for ax, metric in zip(axes, ["rmse", "mae", "r2"], strict=True):
        ax.bar(test["model"], test[metric], color=[PALETTE[i % len(PALETTE)] for i in range(len(test))])
        ax.set_title({"rmse": "RMSE (clicks)", "mae": "MAE (clicks)", "r2": "R²"}[metric])
        ax.axhline(0, color="black", linewidth=0.8)
    fig.suptitle("Held-out performance of the slate outcome models", y=1.02)
    fig.tight_layout()
    return fig


def plot_feature_importance(importance: pd.DataFrame, top: int = 15) -> Any:
    """Top features of each model, one panel per model (importance scales differ by model)."""
    from recsys_causal.style import PALETTE, new_figure

    kinds = list(dict.fromkeys(importance["model"]))
    fig, axes = new_figure(1, len(kinds), height=0.28 * top + 1.2, squeeze=False)
    for j, (ax, kind) in enumerate(zip(axes[0], kinds, strict=True)):
        part = importance[importance["model"].eq(kind) & importance["rank"].le(top)].sort_values("rank", ascending=False)
        ax.barh(part["feature"], part["importance"], color=PALETTE[j % len(PALETTE)])
        ax.set_title(kind)
        ax.set_xlabel("split count" if kind == "LightGBM" else "gain share")
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle("Top features of the advanced outcome models", y=1.01)
    fig.tight_layout()
    return fig


def plot_predicted_vs_oracle(cf: pd.DataFrame, kind: str, column: str | None = None) -> Any:
    """Predicted net lift against the oracle lift, one point per slate, with the diagonal (without
    an oracle: the predicted lift's histogram by arm)."""
    from recsys_causal.style import ARM_COLORS, ORACLE_COLOR, new_figure

    col = column or f"pred_net_lift_{kind}"
    fig, ax = new_figure(height=4.2, width=5.2)
    if ORACLE not in cf:  # a logged experiment: no truth to plot against, so the predictions' spread
        for arm, flag in (("control", 0), ("treated", 1)):
            ax.hist(cf.loc[cf[TREATMENT].eq(flag), col], bins=30, alpha=0.55, color=ARM_COLORS[arm],
                    label="promoted" if flag else "left unchanged")
        ax.axvline(0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_xlabel(f"Predicted lift ({kind})")
        ax.set_ylabel("Slates")
        ax.legend(title="Assignment", loc="best")
        fig.tight_layout()
        return fig
    for arm, flag in (("control", 0), ("treated", 1)):
        part = cf[cf[TREATMENT].eq(flag)]
        ax.scatter(part[ORACLE], part[col], s=10, alpha=0.45, color=ARM_COLORS[arm],
                   label="promoted" if flag else "left unchanged")
    lo = float(min(cf[ORACLE].min(), cf[col].min()))
    hi = float(max(cf[ORACLE].max(), cf[col].max()))
    ax.plot([lo, hi], [lo, hi], color=ORACLE_COLOR, linewidth=1, label="perfect prediction")
    ax.axhline(0, color="grey", linewidth=0.8, linestyle="--")
    ax.axvline(0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("Oracle expected click lift if promoted")
    ax.set_ylabel(f"Predicted lift ({kind})")
    ax.legend(title="Assignment", loc="best")
    fig.tight_layout()
    return fig
