"""The click model reproduces the source notebook's `promoted_logit` and the promotion mechanics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.interference.click_model import (
    PROMOTION_TERMS,
    ClickCenters,
    ClickModel,
    click_centers,
    click_probabilities,
    no_promotion_logit,
    no_promotion_logit_terms,
    promoted_logit,
    promoted_logit_terms,
    promoted_positions,
    visibility,
)
from recsys_causal.interference.exposure import example_slates
from recsys_causal.params import InterferenceParams


def _row(**kw) -> pd.DataFrame:
    base = dict(
        is_focal_item=0, slate_position_seed=3, focal_seed_position=7, spillover_cluster="Drama",
        focal_spillover_cluster="Drama", observed_relevance=4.5, liked_rate=0.6, sample_liked_rate=0.7,
        log_item_popularity_z=1.2,
    )
    base.update(kw)
    return pd.DataFrame([base])


def seed_promoted_logit(oracle_rows: pd.DataFrame) -> pd.Series:
    """Verbatim transcription of the source notebook's section 3 (the specification)."""
    oracle_rows = oracle_rows.copy()
    non_focal = oracle_rows["is_focal_item"].eq(0)
    same_cluster = oracle_rows["spillover_cluster"].eq(oracle_rows["focal_spillover_cluster"])
    would_be_displaced = non_focal & oracle_rows["slate_position_seed"].lt(oracle_rows["focal_seed_position"])
    oracle_rows["final_position_if_promoted"] = oracle_rows["slate_position_seed"]
    oracle_rows.loc[oracle_rows["is_focal_item"].eq(1), "final_position_if_promoted"] = 1
    oracle_rows.loc[would_be_displaced, "final_position_if_promoted"] = (
        oracle_rows.loc[would_be_displaced, "slate_position_seed"] + 1
    )
    oracle_rows["visibility_if_promoted"] = 1 / np.log2(oracle_rows["final_position_if_promoted"] + 1)
    liked_rate_mean = oracle_rows["liked_rate"].mean()
    item_liked_rate_mean = oracle_rows["sample_liked_rate"].mean()
    sample_liked_rate_filled = oracle_rows["sample_liked_rate"].fillna(item_liked_rate_mean)
    log_item_popularity_z_filled = oracle_rows["log_item_popularity_z"].fillna(0)
    return (
        -2.75
        + 0.78 * (oracle_rows["observed_relevance"] - 3.5)
        + 1.15 * oracle_rows["visibility_if_promoted"]
        + 0.35 * (oracle_rows["liked_rate"] - liked_rate_mean)
        + 0.25 * (sample_liked_rate_filled - item_liked_rate_mean)
        + 0.10 * log_item_popularity_z_filled
        + 0.20 * oracle_rows["is_focal_item"]
        - 0.08 * non_focal.astype(float)
        - 0.24 * (non_focal & same_cluster).astype(float)
        - 0.10 * would_be_displaced.astype(float)
    )


def test_visibility_values():
    np.testing.assert_allclose(visibility([1, 3, 7]), [1.0, 0.5, 1 / 3])
    with pytest.raises(ValueError):
        visibility([0])


def test_promoted_positions_by_hand():
    # focal at seed position 4 of a 6-item slate: 1,2,3 move down one, 5,6 stay, focal -> 1
    seed = np.arange(1, 7)
    focal = seed == 4
    np.testing.assert_array_equal(promoted_positions(focal, seed, np.full(6, 4)), [2, 3, 4, 1, 5, 6])


def test_promoted_logit_term_by_term_on_a_fixed_row():
    """A non-focal, same-cluster item at seed position 3 above a focal item at 7, by hand."""
    row = _row()
    centers = ClickCenters(liked_rate_mean=0.5, item_liked_rate_mean=0.6)
    terms = promoted_logit_terms(row, ClickModel(), centers).iloc[0]
    expected = {
        "intercept": -2.75,
        "relevance": 0.78 * (4.5 - 3.5),
        "visibility": 1.15 / np.log2(4 + 1),  # pushed from 3 to 4
        "user_liked": 0.35 * (0.6 - 0.5),
        "item_liked": 0.25 * (0.7 - 0.6),
        "popularity": 0.10 * 1.2,
        "focal_boost": 0.0,
        "nonfocal_penalty": -0.08,
        "same_cluster_penalty": -0.24,
        "displaced_penalty": -0.10,
    }
    assert list(terms.index) == list(expected)
    for name, value in expected.items():
        assert terms[name] == pytest.approx(value, abs=1e-12), name
    assert promoted_logit(row, ClickModel(), centers)[0] == pytest.approx(sum(expected.values()), abs=1e-12)


def test_focal_row_terms():
    row = _row(is_focal_item=1, slate_position_seed=7)
    terms = promoted_logit_terms(row, ClickModel(), ClickCenters(0.6, 0.7)).iloc[0]
    assert terms["visibility"] == pytest.approx(1.15)  # position 1
    assert terms["focal_boost"] == pytest.approx(0.20)
    assert terms[["nonfocal_penalty", "same_cluster_penalty", "displaced_penalty"]].abs().sum() == 0


def test_promoted_logit_matches_the_source_formula_on_slates():
    rows = example_slates(n_slates=30, seed=3)
    rows.loc[rows.index[::7], "sample_liked_rate"] = np.nan
    rows.loc[rows.index[::11], "log_item_popularity_z"] = np.nan
    ours = promoted_logit(rows, ClickModel())
    np.testing.assert_allclose(ours, seed_promoted_logit(rows).to_numpy(), rtol=0, atol=1e-12)


def test_no_promotion_logit_is_promoted_logit_without_promotion_terms():
    """For an item below the focal item, only the promotion terms differ between the arms."""
    rows = example_slates(n_slates=20, seed=5)
    m = ClickModel()
    centers = click_centers(rows)
    diff = promoted_logit(rows, m, centers) - no_promotion_logit(rows, m, centers)
    below = (rows["is_focal_item"].eq(0) & rows["slate_position_seed"].gt(rows["focal_seed_position"])).to_numpy()
    same = rows["spillover_cluster"].eq(rows["focal_spillover_cluster"]).to_numpy()
    np.testing.assert_allclose(diff[below], np.where(same[below], -0.32, -0.08), atol=1e-12)
    base = no_promotion_logit_terms(rows, m, centers)
    np.testing.assert_allclose(base["visibility"], 1.15 / np.log2(rows["slate_position_seed"] + 1))
    assert set(PROMOTION_TERMS).isdisjoint(base.columns)


def test_probabilities_are_clipped():
    rows = pd.concat([_row(observed_relevance=40.0), _row(observed_relevance=-40.0)], ignore_index=True)
    p0, p1 = click_probabilities(rows, ClickModel(prob_min=0.02, prob_max=0.9))
    np.testing.assert_allclose(p0, [0.9, 0.02])
    np.testing.assert_allclose(p1, [0.9, 0.02])


def test_from_params_maps_every_click_knob():
    values = {name: 0.1 + i / 100 for i, name in enumerate(
        n for n in InterferenceParams.model_fields if n.startswith("click_") and "prob" not in n)}
    p = InterferenceParams(**values, click_prob_min=0.03, click_prob_max=0.91)
    m = ClickModel.from_params(p)
    for name, value in values.items():
        assert getattr(m, name.removeprefix("click_")) == pytest.approx(value), name
    assert (m.prob_min, m.prob_max) == (0.03, 0.91)
    assert ClickModel.from_params(InterferenceParams()) == ClickModel()
