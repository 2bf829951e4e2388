"""The modelling table of chapter interference_03: deny-list, oracle reconstruction, buckets, encoding."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.interference import features as F
from recsys_causal.interference.click_model import ClickModel
from recsys_causal.interference.exposure import (
    component_table,
    example_slates,
    run_promotion_experiment,
)
from recsys_causal.params import InterferenceParams


def make_experiment(n_slates: int = 240, seed: int = 0, params: InterferenceParams | None = None,
                    slate_seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, InterferenceParams]:
    """A synthetic promotion experiment in the upstream schema: (exposure, component, params)."""
    params = params or InterferenceParams(model_n_estimators=20, n_folds=3, n_bootstrap=50, segment_min_slates=10)
    slates = example_slates(n_slates, seed=slate_seed)
    exposure = run_promotion_experiment(slates, ClickModel.from_params(params), params.promotion_probability, seed)
    return exposure, component_table(exposure), params


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame, InterferenceParams]:
    return make_experiment()


DENIED = ["final_position", "visibility_gain", "visibility", "known_probability_lift", "true_promote_lift",
          "p_if_promoted", "p_no_promotion", "simulated_click", "total_simulated_clicks",
          "total_expected_clicks", "simulated_clicks_direct_focal", "oracle_lift_other_competitor"]


@pytest.mark.parametrize("column", DENIED)
def test_deny_list_rejects_post_treatment_columns(column: str) -> None:
    with pytest.raises(ValueError, match=column):
        F.assert_pre_treatment(["focal_seed_position", column])


def test_modelling_table_and_features_hold_no_post_treatment_column(world) -> None:
    exposure, component, params = world
    oracle, _ = F.oracle_slate_lift(exposure, params)
    table = F.build_model_table(exposure, component, oracle, params)
    kept_for_validation = {F.OUTCOME, *F.ORACLE_OUTPUTS}
    assert [c for c in table.columns if c not in kept_for_validation and F.is_post_treatment(c)] == []
    enc = F.encode_features(table)
    F.assert_pre_treatment(enc.X.columns)
    assert F.OUTCOME not in enc.X and F.ORACLE not in enc.X


def test_every_column_that_depends_on_the_assignment_is_denied() -> None:
    """Rerun the experiment with another assignment: a column that changes must be on the deny-list,
    and the encoded features may differ only in the treatment flag."""
    exp_a, comp_a, params = make_experiment(seed=0)
    exp_b, comp_b, _ = make_experiment(seed=1)
    assert not np.array_equal(comp_a["promotion_applied"], comp_b["promotion_applied"])
    treatment_cols = {"promotion_applied", "assignment_arm"}
    for a, b in ((exp_a, exp_b), (comp_a, comp_b)):
        changed = [c for c in a.columns if not a[c].equals(b[c])]
        assert changed, "the two runs should differ"
        assert [c for c in changed if c not in treatment_cols and not F.is_post_treatment(c)] == []
    xa = F.encode_features(F.build_model_table(exp_a, comp_a, None, params)).X
    xb = F.encode_features(F.build_model_table(exp_b, comp_b, None, params)).X
    assert list(xa.columns) == list(xb.columns)
    pd.testing.assert_frame_equal(xa.drop(columns=F.TREATMENT), xb.drop(columns=F.TREATMENT))


def test_encoding_refuses_a_denied_feature(world, monkeypatch) -> None:
    exposure, component, params = world
    table = F.build_model_table(exposure, component, None, params).assign(total_expected_clicks=1.0)
    monkeypatch.setattr(F, "NUMERIC_FEATURES", (*F.NUMERIC_FEATURES, "total_expected_clicks"))
    with pytest.raises(ValueError, match="post-treatment"):
        F.encode_features(table)


def test_oracle_reconstruction_matches_the_recorded_lift(world) -> None:
    exposure, component, params = world
    oracle, checks = F.oracle_slate_lift(exposure, params)
    c = checks.set_index("check")["value"]
    assert c["max_abs_difference_for_observed_promoted_slates"] < 1e-12
    assert c["max_abs_difference_independent_reconstruction"] < 1e-12
    truth = component.set_index("slate_id")["total_oracle_lift"]
    np.testing.assert_allclose(oracle.set_index("slate_id")[F.ORACLE], truth.loc[oracle["slate_id"]], atol=1e-12)
    assert c["mean_true_lift_if_all_promoted"] == pytest.approx(truth.mean())


def test_oracle_check_detects_a_wrong_click_model(world) -> None:
    exposure, _, params = world
    wrong = params.model_copy(update={"click_focal_boost": params.click_focal_boost + 0.3})
    _, checks = F.oracle_slate_lift(exposure, wrong)
    assert checks.set_index("check").loc["max_abs_difference_for_observed_promoted_slates", "value"] > 1e-3


def test_slate_composition_counts_by_hand() -> None:
    rows = pd.DataFrame({
        "slate_id": ["s"] * 4, "slate_position_seed": [1, 2, 3, 4], "is_focal_item": [0, 0, 1, 0],
        "focal_seed_position": [3] * 4, "spillover_cluster": ["A", "B", "A", "A"],
        "focal_spillover_cluster": ["A"] * 4, "observed_relevance": [4.0, 3.0, 5.0, 2.0],
        "high_relevance": [1, 0, 1, 0], "sample_liked_rate": [0.5] * 4, "log_item_popularity_z": [0.0] * 4,
        "baseline_visibility": [1.0] * 4,
    })
    comp = F.slate_composition(rows).iloc[0]
    assert comp["same_cluster_competitor_count"] == 2  # positions 1 and 4
    assert comp["displaced_candidate_count"] == 2  # positions 1 and 2 sit above the focal item
    assert comp["same_cluster_displaced_count"] == 1
    assert comp["same_cluster_share"] == pytest.approx(2 / 3)
    assert comp["slate_mean_relevance"] == pytest.approx(3.5)


def test_integer_buckets_are_ordered_and_sort_numerically() -> None:
    values = pd.Series([0, 1, 2, 5, 6, 11, 3])
    b = F.integer_buckets(values, [(0, 0), (1, 2), (3, 5), (6, None)])
    assert b.cat.ordered
    assert list(b.cat.categories) == ["0", "1–2", "3–5", "6+"]
    assert list(b.astype(str)) == ["0", "1–2", "1–2", "3–5", "6+", "6+", "3–5"]
    pos = F.integer_buckets(pd.Series([12, 5, 8]), F.position_bucket_edges(5, 12), prefix="positions ")
    assert list(pos.sort_values().astype(str)) == ["positions 5–6", "positions 7–9", "positions 10–12"]
    assert F.position_bucket_edges(8, 12) == [(8, 9), (10, 12)]


def test_encoding_is_numeric_complete_and_sanitized(world) -> None:
    exposure, component, params = world
    table = F.build_model_table(exposure, component, None, params)
    table.loc[0, "focal_sample_liked_rate"] = np.nan
    enc = F.encode_features(table)
    assert (enc.X.dtypes == np.float32).all()
    assert not enc.X.isna().any().any()
    assert all(c == F.sanitize(c) for c in enc.X.columns)
    assert "focal_spillover_cluster_Sci_Fi" in enc.X.columns
    cluster_cols = [c for c in enc.X if c.startswith("focal_spillover_cluster_")]
    assert (enc.X[cluster_cols].sum(axis=1) == 1).all()
    assert enc.X.loc[0, "focal_sample_liked_rate"] == pytest.approx(table["focal_sample_liked_rate"].median(), rel=1e-6)
    assert len(enc.X) == len(component) and enc.treatment.isin([0, 1]).all()
    M, M1, M0 = F.treatment_matrices(enc.X)
    for matrix, value in ((M1, 1), (M0, 0)):
        np.testing.assert_array_equal(matrix, F.with_treatment(enc.X, value).to_numpy())
    np.testing.assert_array_equal(M, enc.X.to_numpy())
    assert M.dtype == np.float32 and not np.shares_memory(M1, M)


def test_the_helpful_world_profile_mixes_positive_and_negative_lifts(project_root) -> None:
    from recsys_causal.params import load_params

    default = InterferenceParams()
    helpful = load_params(project_root / "params" / "world_helpful_promotions.yaml").interference
    shares = {}
    for name, params in (("default", default), ("helpful", helpful)):
        exposure, _, _ = make_experiment(n_slates=400, params=params)
        oracle, _ = F.oracle_slate_lift(exposure, params)
        shares[name] = float((oracle[F.ORACLE] > 0).mean())
    assert shares["default"] < 0.1
    assert 0.3 < shares["helpful"] < 0.9
