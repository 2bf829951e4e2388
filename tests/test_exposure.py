"""Assignment, exposure mapping and the component table, checked against hand-worked slates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.interference.click_model import ClickModel, click_probabilities
from recsys_causal.interference.exposure import (
    ARM_CONTROL,
    ARM_PROMOTE,
    COMPONENTS,
    EXPOSURE_ADDED_COLUMNS,
    assignment_balance,
    complete_randomization,
    component_columns,
    component_table,
    example_slates,
    item_lift_by_exposure,
    map_exposure,
    n_promoted,
    run_promotion_experiment,
)


def three_slates() -> pd.DataFrame:
    """Three 5-item slates. A: focal at 3 (Drama); B: focal at 5 (Comedy); C: focal at 2 (Action)."""
    clusters = {
        "A": ["Drama", "Comedy", "Drama", "Drama", "Action"],
        "B": ["Comedy", "Comedy", "Action", "Drama", "Comedy"],
        "C": ["Action", "Action", "Action", "Drama", "Comedy"],
    }
    focal = {"A": 3, "B": 5, "C": 2}
    rows = []
    for s, cl in clusters.items():
        for pos, c in enumerate(cl, start=1):
            rows.append({
                "slate_id": s, "userId": ord(s), "movieId": 10 * ord(s) + pos, "title": f"{s}{pos}",
                "slate_position_seed": pos, "is_focal_item": int(pos == focal[s]),
                "focal_seed_position": focal[s], "spillover_cluster": c,
                "focal_spillover_cluster": cl[focal[s] - 1],
            })
    return pd.DataFrame(rows).astype({"slate_id": "string", "spillover_cluster": "string",
                                      "focal_spillover_cluster": "string", "title": "string"})


# Worked out by hand; A and C promoted, B left unchanged.
SC, OC, F = "same_cluster_competitor", "other_competitor", "direct_focal"
HAND = {
    "exposure_label": [SC, OC, F, SC, OC] + [SC, SC, OC, OC, F] + [SC, F, SC, OC, OC],
    "would_be_displaced": [1, 1, 0, 0, 0] + [1, 1, 1, 1, 0] + [1, 0, 0, 0, 0],
    "is_displaced": [1, 1, 0, 0, 0] + [0, 0, 0, 0, 0] + [1, 0, 0, 0, 0],
    "promoted_position": [2, 3, 1, 4, 5] + [2, 3, 4, 5, 1] + [2, 1, 3, 4, 5],
    "final_position": [2, 3, 1, 4, 5] + [1, 2, 3, 4, 5] + [2, 1, 3, 4, 5],
    "same_cluster_as_focal": [1, 0, 0, 1, 0] + [1, 1, 0, 0, 0] + [1, 0, 1, 0, 0],
}


def test_hand_built_exposure_mapping():
    e = map_exposure(three_slates(), np.array([1, 0, 1]))
    for col, expected in HAND.items():
        assert e[col].tolist() == expected, col
    assert e["assignment_arm"].tolist() == [ARM_PROMOTE] * 5 + [ARM_CONTROL] * 5 + [ARM_PROMOTE] * 5
    np.testing.assert_allclose(e["visibility"], 1 / np.log2(np.array(HAND["final_position"]) + 1))


def test_hand_built_component_table():
    e = map_exposure(three_slates(), np.array([1, 0, 1]))
    p0 = np.full(15, 0.1)
    p1 = np.where(e["exposure_label"].eq(F), 0.4, 0.05)
    t = e["promotion_applied"].to_numpy() == 1
    clicks = np.zeros(15, dtype=np.int8)
    clicks[[0, 2, 9, 10]] = 1  # A: same-cluster + focal; B: focal; C: same-cluster
    e = e.assign(p_no_promotion=p0, p_if_promoted=p1, click_probability=np.where(t, p1, p0),
                 simulated_click=clicks, known_probability_lift=np.where(t, p1 - p0, 0.0), oracle_item_lift=p1 - p0)
    c = component_table(e).set_index("slate_id")
    assert list(c.reset_index().columns) == component_columns()
    assert c.loc["A", "simulated_clicks_direct_focal"] == 1
    assert c.loc["A", "simulated_clicks_same_cluster_competitor"] == 1
    assert c.loc["B", "simulated_clicks_direct_focal"] == 1
    assert c.loc["C", "simulated_clicks_same_cluster_competitor"] == 1
    assert c["total_simulated_clicks"].tolist() == [2, 1, 1]
    assert c.loc["A", ["item_count_direct_focal", "item_count_other_competitor",
                       "item_count_same_cluster_competitor"]].tolist() == [1, 2, 2]
    assert c.loc["B", ["item_count_direct_focal", "item_count_other_competitor",
                       "item_count_same_cluster_competitor"]].tolist() == [1, 2, 2]
    # promoted slate A: focal 0.4, four others 0.05 -> 0.6 expected; B unchanged -> 0.5
    assert c.loc["A", "total_expected_clicks"] == pytest.approx(0.6)
    assert c.loc["B", "total_expected_clicks"] == pytest.approx(0.5)
    assert c.loc["A", "total_known_probability_lift"] == pytest.approx(0.1)
    assert c.loc["B", "total_known_probability_lift"] == 0.0
    assert c.loc["B", "total_oracle_lift"] == pytest.approx(0.1)  # oracle exists for control slates too
    assert c.loc["B", "oracle_lift_direct_focal"] == pytest.approx(0.3)
    assert c.loc["B", "oracle_lift_same_cluster_competitor"] == pytest.approx(-0.1)
    assert c["focal_seed_position"].tolist() == [3, 5, 2]
    assert c["focal_title"].tolist() == ["A3", "B5", "C2"]


def test_complete_randomization_is_exact_and_seeded():
    assert n_promoted(3000, 0.5) == 1500
    assert n_promoted(7, 0.5) == 4
    assert n_promoted(10, 0.01) == 1
    a = complete_randomization(101, 0.3, np.random.default_rng(1))
    b = complete_randomization(101, 0.3, np.random.default_rng(1))
    c = complete_randomization(101, 0.3, np.random.default_rng(2))
    assert a.sum() == 30 and np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.fixture(scope="module")
def experiment() -> pd.DataFrame:
    return run_promotion_experiment(example_slates(400, seed=11), ClickModel(), 0.5, seed=5)


def test_experiment_columns_arms_and_oracle(experiment: pd.DataFrame):
    e = experiment
    added = [c for c in EXPOSURE_ADDED_COLUMNS if c != "same_cluster_as_focal"]
    assert list(e.columns[-len(added):]) == added
    assert e["same_cluster_as_focal"].eq(e["exposure_label"].eq("same_cluster_competitor").astype("int8")).all()
    t = e["promotion_applied"].eq(1)
    np.testing.assert_array_equal(e["click_probability"], np.where(t, e["p_if_promoted"], e["p_no_promotion"]))
    assert e.loc[~t, "known_probability_lift"].eq(0).all()
    np.testing.assert_allclose(e["oracle_item_lift"], e["p_if_promoted"] - e["p_no_promotion"])
    p0, p1 = click_probabilities(e, ClickModel())
    np.testing.assert_allclose(e["p_if_promoted"], p1)
    # every promoted slate still shows positions 1..12 exactly once
    pos = e.loc[t].sort_values(["slate_id", "final_position"]).groupby("slate_id")["final_position"]
    assert pos.apply(lambda s: s.tolist() == list(range(1, 13))).all()
    assert e.loc[t & e["is_focal_item"].eq(1), "final_position"].eq(1).all()
    assert e.groupby("slate_id")["promotion_applied"].nunique().eq(1).all()
    assert e.drop_duplicates("slate_id")["promotion_applied"].sum() == 200


def test_simulated_clicks_follow_the_probabilities(experiment: pd.DataFrame):
    y = experiment["simulated_click"].to_numpy(dtype=float)
    p = experiment["click_probability"].to_numpy()
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * se


def test_experiment_is_deterministic():
    s = example_slates(50, seed=2)
    a = run_promotion_experiment(s, ClickModel(), 0.5, seed=9)
    b = run_promotion_experiment(s, ClickModel(), 0.5, seed=9)
    c = run_promotion_experiment(s, ClickModel(), 0.5, seed=10)
    pd.testing.assert_frame_equal(a, b)
    assert not a["simulated_click"].equals(c["simulated_click"])


def test_component_table_identities(experiment: pd.DataFrame):
    c = component_table(experiment)
    assert len(c) == 400 and c["slate_id"].is_unique
    np.testing.assert_array_equal(c["component_simulated_total"], c["total_simulated_clicks"])
    np.testing.assert_allclose(c["component_expected_total"], c["total_expected_clicks"])
    np.testing.assert_allclose(c["component_known_lift_total"], c["total_known_probability_lift"])
    assert (sum(c[f"item_count_{k}"] for k in COMPONENTS) == 12).all()
    assert c["item_count_direct_focal"].eq(1).all()
    t = c["promotion_applied"].eq(1)
    np.testing.assert_allclose(c.loc[t, "total_known_probability_lift"], c.loc[t, "total_oracle_lift"])
    np.testing.assert_allclose(c["total_expected_clicks_if_promoted"] - c["total_expected_clicks_no_promotion"],
                               c["total_oracle_lift"])
    assert c["simulated_clicks_direct_focal"].sum() == experiment.loc[
        experiment["is_focal_item"].eq(1), "simulated_click"].sum()


def test_balance_and_lift_tables(experiment: pd.DataFrame):
    c = component_table(experiment)
    bal = assignment_balance(experiment, c)
    assert bal["standardized_difference"].abs().max() < 0.3
    lift = item_lift_by_exposure(experiment)
    assert lift["items"].sum() == len(experiment)
    assert lift["lift_per_slate"].sum() == pytest.approx(c["total_oracle_lift"].mean())
    assert lift.set_index("group").loc["Focal item", "lift_per_slate"] > 0
