"""The chapter-05 builders: the fourteen artifacts, their contracts, determinism and the refit wiring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.artifact_names import LT
from recsys_causal.artifacts import get_builder
from recsys_causal.chapters import get_chapter
from recsys_causal.longterm import build_aipw as b
from recsys_causal.params import Params

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def synthetic_inputs(n_users: int = 60, n_days: int = 12, seed: int = 0):
    """Frames with the upstream schemas: weighted panel, counterfactuals, comparison, oracle."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(100, 100 + n_users), n_days)
    d = np.tile(np.arange(n_days), n_users)
    act = rng.normal(size=n_users)[u - 100]
    x1 = rng.poisson(40 * np.exp(0.3 * act)).astype(float)
    x3 = rng.poisson(120 * np.exp(0.3 * act)).astype(float)
    hw = rng.uniform(0, 2, len(u))
    wr = rng.gamma(5, 0.5, len(u))
    e = 1 / (1 + np.exp(-(0.8 * act + 0.5 * (hw - 1))))
    a = rng.binomial(1, e)
    tau = 2 + 6 * act
    y0 = 300 + 40 * act + 0.5 * x1
    y = y0 + tau * a + rng.normal(0, 30, len(u))
    dates = pd.Timestamp("2020-07-06") + pd.to_timedelta(d, "D")
    panel = pd.DataFrame({
        "user_id": u, "event_date": dates, "treatment": a, "outcome": y,
        "propensity_logistic": np.clip(e + rng.normal(0, 0.02, len(u)), 0.001, 0.999),
        "propensity_lightgbm": np.clip(e + rng.normal(0, 0.05, len(u)), 0.001, 0.999),
        "analysis_weight": 1.0, "lag_1_active_day": 1.0, "lag_1_interactions": x1,
        "lag_1_total_play_duration_sec": 8 * x1, "lag_1_avg_watch_ratio": wr, "lag_1_high_watch_share": hw / 2,
        "prior_3day_active_day": 3.0, "prior_3day_interactions": x3, "prior_3day_total_play_duration_sec": 8 * x3,
        "prior_3day_avg_watch_ratio": 1.1 * wr, "prior_3day_high_watch_share": hw,
        "calendar_day_index": d, "panel_day_index": d,
        "day_of_week": pd.Series([DAYS[i % 7] for i in d], dtype="str"),
    })
    cfs = []
    for model, noise in (("linear_ridge", 5.0), ("lightgbm", 2.0)):
        p1 = y0 + tau + rng.normal(0, noise, len(u))
        p0 = y0 + rng.normal(0, noise, len(u))
        obs = np.where(a == 1, p1, p0)
        cfs.append(pd.DataFrame({"user_id": u, "event_date": dates, "model": model, "treatment": a, "outcome": y,
                                 "pred_observed": obs, "pred_y1": p1, "pred_y0": p0, "cate_hat": p1 - p0,
                                 "residual": y - obs}))
    cf = pd.concat(cfs, ignore_index=True).sample(frac=1.0, random_state=1)  # any row order
    comparison = pd.DataFrame({
        "method": ["MSM: weighted calendar-adjusted", "G-computation", "G-computation", "Oracle (simulation truth)"],
        "model": ["propensity_weighted_msm", "lightgbm", "linear_ridge", "simulator"],
        "estimate": [1.0, 2.0, 3.0, float(tau.mean())], "ci_95_lower": [-5.0, -2.0, -1.0, np.nan],
        "ci_95_upper": [6.0, 5.0, 7.0, np.nan], "source": ["a", "b", "c", "d"],
        "relative_lift_vs_msm_control_mean": [0.003, 0.006, 0.009, 0.006],
    })
    oracle = pd.DataFrame({"user_id": u, "event_date": dates, "treatment": a, "y1": y0 + tau, "y0": y0})
    return panel, cf, comparison, oracle


def _params(**kw) -> Params:
    p = Params(seed=3)
    lt = p.longterm
    lt.n_bootstrap = 60
    lt.n_refit_bootstrap = 3
    lt.segment_min_rows = 20
    lt.segment_min_users = 5
    lt.n_folds = 3
    lt.lgbm_n_estimators = 20
    lt.lgbm_min_child_samples = 10
    for k, v in kw.items():
        setattr(lt, k, v)
    return p


def fake_refit(sub: pd.DataFrame):
    """A cheap stand-in for the nuisance refit: noisy copies of the panel's predictions."""
    rng = np.random.default_rng(len(sub))
    e = np.clip(sub["propensity_logistic"].to_numpy() + rng.normal(0, 0.02, len(sub)), 0.01, 0.99)
    m = np.full(len(sub), sub["outcome"].mean())
    return e, m + 1.0, m


def test_builders_cover_exactly_the_chapter_outputs():
    outputs = get_chapter("longterm_05").outputs
    assert len(outputs) == 14
    owners = {get_builder(name).func.__module__ for name in outputs}
    assert owners == {"recsys_causal.longterm.build_aipw"}
    produced = set()
    for f in (b.build_aipw_refit, b.build_aipw_scores, b.build_aipw, b.build_segments, b.build_effect_model, b.build_effect_buckets,
              b.build_effect_calibration):
        produced |= {n for n in outputs if get_builder(n).func is f}
    assert produced == set(outputs)


def test_aipw_tables_contract_and_determinism():
    panel, cf, comp, _ = synthetic_inputs()
    p = _params()
    refit = b.aipw_refit_table(panel, p.longterm, p.seed, fake_refit)
    assert refit["bootstrap_id"].tolist() == [0, 1, 2] and refit["estimate"].notna().all()
    out = b.aipw_tables(panel, cf, comp, p.longterm, p.seed, refit)
    res = out[LT.AIPW_RESULTS]
    seed_cols = ["n_rows", "n_users", "mean_y1_hat", "mean_y0_hat", "gcomp_component", "aipw_ate", "aipw_score_std",
                 "aipw_p05", "aipw_median", "aipw_p95", "share_positive_score", "relative_lift_vs_y0", "is_primary_aipw"]
    assert set(seed_cols) <= set(res.columns)
    assert len(res) == 4 and res["is_primary_aipw"].sum() == 1
    prim = res[res["is_primary_aipw"]].iloc[0]
    assert (prim["propensity_model"], prim["outcome_model"]) == ("logistic", "lightgbm")
    for c in ("ci_95_lower", "if_ci_95_lower", "refit_ci_95_lower", "evalue_estimate", "trim_estimate"):
        assert np.isfinite(prim[c]), c
    assert prim["refit_reps"] == 3 and prim["bootstrap_reps"] == 60
    boot = out[LT.AIPW_BOOTSTRAP]
    assert boot.groupby("bootstrap_type").size().to_dict() == {"fixed_nuisance": 4 * 60, "refit": 3}
    scores = out[LT.AIPW_SCORES]
    assert len(scores) == 4 * len(panel)
    comp_out = out[LT.COMPARISON_WITH_AIPW]
    assert comp_out["role"].tolist() == ["estimate"] * 4 + ["robustness", "oracle"]
    assert prim["refit_std"] == pytest.approx(refit["estimate"].std())
    again = b.aipw_tables(panel, cf, comp, p.longterm, p.seed, b.aipw_refit_table(panel, p.longterm, p.seed, fake_refit))
    for name, df in out.items():
        pd.testing.assert_frame_equal(df, again[name])


def test_primary_pair_is_a_parameter():
    panel, cf, comp, _ = synthetic_inputs()
    p = _params(primary_propensity="lightgbm", primary_outcome_model="linear_ridge")
    res = b.aipw_tables(panel, cf, comp, p.longterm, p.seed, None)[LT.AIPW_RESULTS]
    prim = res[res["is_primary_aipw"]].iloc[0]
    assert prim["aipw_score_name"] == "aipw_lightgbm_propensity_linear_ridge_outcome"
    assert prim["refit_reps"] == 0 and np.isnan(prim["refit_ci_95_lower"])


def test_segment_and_effect_tables(tmp_path):
    panel, cf, comp, oracle = synthetic_inputs()
    p = _params()
    scores = b.aipw_tables(panel, cf, comp, p.longterm, p.seed, None)[LT.AIPW_SCORES]
    seg = b.segment_tables(scores, panel, p.longterm, p.seed)[LT.SEGMENT_EFFECTS]
    assert set(seg["segment_type"]) == {"prior_interactions_bucket", "prior_high_watch_bucket",
                                        "prior_watch_ratio_bucket", "lag_interactions_bucket", "day_of_week"}
    assert seg.loc[seg["segment_type"].eq("prior_interactions_bucket"), "segment"].str.startswith("Q").all()
    # the overall AIPW mean is the row-weighted mean of any segment type's means
    for _, g in seg.groupby("segment_type"):
        assert np.average(g["aipw_ate"], weights=g["rows"]) == pytest.approx(
            scores.loc[scores["is_primary_aipw"], "aipw_score"].mean())
    eff = b.effect_tables(scores, panel, oracle, p.longterm, p.seed)
    pred = eff[LT.EFFECT_PREDICTIONS]
    assert len(pred) == len(panel) and pred["oracle_cate"].notna().all()
    pred.to_parquet(tmp_path / "p.parquet")
    back = pd.read_parquet(tmp_path / "p.parquet")
    assert back["prior_interactions_bucket"].cat.ordered and back["smoothed_effect_bucket"].cat.ordered
    metrics = eff[LT.EFFECT_METRICS]
    assert metrics["fold"].tolist() == ["1", "2", "3", "overall (out-of-fold)"]
    assert eff[LT.EFFECT_BUCKETS]["bucket_order"].tolist() == [1, 2, 3, 4, 5]
    assert b.oracle_cate(pred, None) is None
    real = b.effect_tables(scores, panel, None, p.longterm, p.seed)  # real data: no oracle columns at all
    assert "oracle_cate" not in real[LT.EFFECT_PREDICTIONS].columns
    assert "mean_oracle_cate" not in real[LT.EFFECT_BUCKETS].columns
    assert not set(b.ORACLE_METRICS) & set(real[LT.EFFECT_METRICS].columns)
    assert set(b.ORACLE_METRICS) <= set(metrics.columns)
    # calibration tests of the DR-learner: oracle beside the estimates on simulated data only
    sim = b.effect_calibration_tables(pred)
    tests = sim[LT.EFFECT_CALIBRATION_TESTS].set_index("key")
    assert list(tests.index) == ["ate", "blp_heterogeneity", "gates_top_minus_bottom", "qini_coefficient"]
    assert tests.loc["ate", "oracle"] == pytest.approx(pred["oracle_cate"].mean())
    assert tests["clusters"].eq(pred["user_id"].nunique()).all()
    assert tests.loc["ate", "estimate"] == pytest.approx(pred["aipw_score"].mean())
    gates = sim[LT.EFFECT_GATES]
    assert gates["rows"].iloc[:4].sum() == len(pred) and "oracle_gates" in gates.columns
    assert sim[LT.EFFECT_QINI]["gain_over_random"].iloc[[0, -1]].abs().max() < 1e-9
    plain = b.effect_calibration_tables(real[LT.EFFECT_PREDICTIONS])
    for name, table in plain.items():
        assert not [c for c in table.columns if "oracle" in c], name
        assert not table.isna().all().any(), name


def test_make_refit_uses_the_upstream_nuisance_models():
    panel, _, _, _ = synthetic_inputs(n_users=30, n_days=8)
    p = _params()
    e, m1, m0 = b.make_refit(p.longterm, p.seed)(panel)
    assert len(e) == len(m1) == len(m0) == len(panel)
    assert ((e > 0) & (e < 1)).all()
    assert np.isfinite(m1).all() and np.isfinite(m0).all()


@pytest.mark.slow
def test_builders_run_through_the_store_on_the_test_profile(tmp_path, project_root):
    from recsys_causal.artifacts import RunStore
    from recsys_causal.params import load_params

    store = RunStore(tmp_path / "run", load_params(project_root / "params" / "test.yaml"))
    comp = store.get(LT.COMPARISON_WITH_AIPW)
    seg = store.get(LT.SEGMENT_EFFECTS)
    buckets = store.get(LT.EFFECT_BUCKETS)
    assert "Doubly robust AIPW" in set(comp["method"])
    assert seg["passes_size_filter"].dtype == bool
    assert len(buckets) >= 2
    assert store.is_fresh(LT.AIPW_RESULTS) and store.is_fresh(LT.EFFECT_PREDICTIONS)
