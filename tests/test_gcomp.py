"""G-computation: counterfactual identities, the vectorized ridge refit, coverage of a known effect."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from recsys_causal.bootstrap import cluster_codes, draw_indices
from recsys_causal.inference import user_bootstrap_counts
from recsys_causal.longterm.gcomp import (
    COMPARISON_COLUMNS,
    COUNTERFACTUAL_COLUMNS,
    counterfactual_table,
    estimator_comparison,
    fit_outcome_oof,
    gcomp_estimates,
    make_outcome_model,
    refit_bootstrap_ate,
    ridge_refit_bootstrap,
)
from recsys_causal.longterm.msm import MSM_METHOD, ORACLE_METHOD, msm_estimates
from recsys_causal.longterm.weights import stabilized_weights
from recsys_causal.params import LongtermParams
from test_msm import make_panel

LT = LongtermParams(n_folds=3, n_bootstrap=200, lgbm_n_estimators=30, lgbm_min_child_samples=10,
                    n_refit_bootstrap=5)


def test_counterfactual_table_identities():
    p = make_panel(0, n_users=30, n_days=10)
    y1, y0, folds = fit_outcome_oof(p, "linear_ridge", LT, seed=1)
    cf = counterfactual_table(p, {"linear_ridge": (y1, y0)})
    assert list(cf.columns) == list(COUNTERFACTUAL_COLUMNS)
    a = cf.treatment.to_numpy()
    np.testing.assert_allclose(cf.pred_observed, np.where(a == 1, cf.pred_y1, cf.pred_y0))
    np.testing.assert_allclose(cf.cate_hat, cf.pred_y1 - cf.pred_y0)
    np.testing.assert_allclose(cf.residual, cf.outcome - cf.pred_observed)
    assert list(folds.fold) == [0, 1, 2] and folds.n_rows.sum() == len(p)
    assert {"rmse", "mae", "r2"} <= set(folds.columns)


def test_outcome_predictions_are_out_of_fold_and_deterministic():
    p = make_panel(1, n_users=30, n_days=10)
    a = fit_outcome_oof(p, "lightgbm", LT, seed=3)
    b = fit_outcome_oof(p, "lightgbm", LT, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    # an in-sample fit predicts its own training rows better than the out-of-fold fit does
    full = make_outcome_model("lightgbm", LT, 3).fit(p.drop(columns=["outcome"]), p.outcome)
    in_sample = np.where(p.treatment == 1, a[0], a[1])
    assert np.mean((full.predict(p) - p.outcome) ** 2) < np.mean((in_sample - p.outcome) ** 2)


def test_vectorized_ridge_refit_equals_sklearn_on_materialized_resamples():
    p = make_panel(2, n_users=25, n_days=8)
    codes, g = cluster_codes(p.user_id)
    idx = draw_indices(g, 3, 5)
    counts = np.stack([np.bincount(r, minlength=g) for r in idx]).astype(float)
    full, reps = ridge_refit_bootstrap(p, LT, counts)
    pipe = make_outcome_model("linear_ridge", LT)
    prep = pipe[:-1].fit(p)  # the refit keeps the full-sample scaler
    names = list(pipe.named_steps["encode"].get_feature_names_out())
    Z = prep.transform(p)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(g))
    sizes = np.bincount(codes, minlength=g)
    for r in range(3):
        rows = np.concatenate([order[starts[k]:starts[k] + sizes[k]] for k in idx[r]])
        m = Ridge(alpha=LT.ridge_alpha).fit(Z[rows], p.outcome.to_numpy()[rows])
        assert reps[r] == pytest.approx(m.coef_[names.index("treatment")], rel=1e-8)
    m = Ridge(alpha=LT.ridge_alpha).fit(Z, p.outcome)
    assert full == pytest.approx(m.coef_[names.index("treatment")], rel=1e-8)


@pytest.mark.parametrize("seed", [31, 32, 33, 34, 35])
def test_ridge_gcomputation_interval_covers_constant_effect(seed):
    tau = 5.0
    p = make_panel(seed, tau=tau)
    y1, y0, _ = fit_outcome_oof(p, "linear_ridge", LT, seed=seed)
    cf = counterfactual_table(p, {"linear_ridge": (y1, y0)})
    counts = user_bootstrap_counts(p.user_id, LT.n_bootstrap, seed)
    refit = {"linear_ridge": refit_bootstrap_ate(p, "linear_ridge", LT, counts)}
    est = gcomp_estimates(cf, LT.n_bootstrap, seed, truth=tau, counts=counts, refit=refit).iloc[0]
    assert est["ci_95_lower"] <= tau <= est["ci_95_upper"]
    assert est["covers_truth"]
    # holding the predictions fixed hides the model's own error: a much narrower interval
    assert (est["ci_fixed_upper"] - est["ci_fixed_lower"]) < 0.3 * (est["ci_95_upper"] - est["ci_95_lower"])


def test_lightgbm_refit_bootstrap_runs_on_same_draws():
    p = make_panel(4, n_users=30, n_days=10)
    counts = user_bootstrap_counts(p.user_id, 3, 0)
    full, reps = refit_bootstrap_ate(p, "lightgbm", LT, counts, seed=0)
    assert reps.shape == (3,) and np.isfinite(reps).all() and np.isfinite(full)
    with pytest.raises(ValueError, match="unknown outcome model"):
        refit_bootstrap_ate(p, "forest", LT, counts)


def test_estimator_comparison_rows_and_oracle():
    p = make_panel(5, n_users=40, n_days=10)
    p = p.assign(analysis_weight=stabilized_weights(p.treatment, p.true_propensity))
    msm = msm_estimates(p, 50, 0, truth=5.0)
    preds = {m: fit_outcome_oof(p, m, LT, seed=0)[:2] for m in ("linear_ridge", "lightgbm")}
    est = gcomp_estimates(counterfactual_table(p, preds), 50, 0, truth=5.0)
    comp = estimator_comparison(msm, est, truth=5.0)
    assert list(comp.columns) == list(COMPARISON_COLUMNS)
    assert list(comp.method) == [MSM_METHOD, "G-computation", "G-computation", ORACLE_METHOD]
    assert list(comp.model[1:3]) == ["lightgbm", "linear_ridge"]
    denom = msm.set_index("method").loc[MSM_METHOD, "weighted_control_mean"]
    np.testing.assert_allclose(comp.relative_lift_vs_msm_control_mean, comp.estimate / denom)
    assert ORACLE_METHOD not in set(estimator_comparison(msm, est, truth=None).method)


def test_agreement_and_cate_sentences():
    import pandas as pd

    from recsys_causal.longterm.gcomp import describe_agreement, describe_cate_spread

    comp = pd.DataFrame({"method": ["A", "B", ORACLE_METHOD], "model": ["x", "y", "sim"],
                         "estimate": [2.0, 3.0, 0.0], "ci_95_lower": [1.0, 1.5, np.nan],
                         "ci_95_upper": [4.0, 5.0, np.nan]})
    assert "share the range 1.5 to 4" in describe_agreement(comp)
    assert "excludes the simulation truth 0" in describe_agreement(comp, truth=0.0)
    assert "excludes" not in describe_agreement(comp, truth=2.0)
    apart = comp.assign(ci_95_lower=[1.0, 4.5, np.nan])
    assert "do not all overlap" in describe_agreement(apart)
    cf = pd.DataFrame({"model": ["t"] * 4 + ["r"] * 4, "cate_hat": [0, 0, 0, 1.0, 1, 2, 3, 4]})
    s = describe_cate_spread(cf)
    assert "t: SD" in s and "75% of rows exactly 0" in s and "The t model rarely splits" in s


def test_separate_arm_models_fit_each_arm_on_its_own_rows():
    """A per-arm LightGBM sees only its arm: on data whose arms differ by a constant 7 it recovers
    the contrast, and the pooled and the per-arm settings give different predictions."""
    p = make_panel(8, n_users=60, n_days=12)
    lt_sep = LT.model_copy(update={"outcome_arms": "separate", "lgbm_n_estimators": 30})
    lt_pool = lt_sep.model_copy(update={"outcome_arms": "pooled"})
    q = p.assign(outcome=p["prior_3day_interactions"] * 0.0 + 10.0 + 7.0 * p["treatment"])
    y1, y0, folds = fit_outcome_oof(q, "lightgbm", lt_sep, seed=0)
    np.testing.assert_allclose(y1 - y0, 7.0, atol=1e-6)
    assert len(folds) == lt_sep.n_folds
    a = fit_outcome_oof(p, "lightgbm", lt_sep, seed=0)[0]
    b = fit_outcome_oof(p, "lightgbm", lt_pool, seed=0)[0]
    assert not np.allclose(a, b)
