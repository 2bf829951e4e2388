"""Difference in means, Neyman SEs, randomization inference and the product summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recsys_causal.interference.click_model import ClickModel
from recsys_causal.interference.exposure import (
    COMPONENTS,
    complete_randomization,
    component_table,
    example_slates,
    run_promotion_experiment,
)
from recsys_causal.interference.randomized import (
    EFFECT_COLUMNS,
    EFFECT_ROWS,
    PRODUCT_COLUMNS,
    difference_in_means,
    draw_rerandomizations,
    estimate_effects,
    naive_vs_slate,
    neyman_covariance,
    offset_share,
    randomization_distribution,
    randomization_p_values,
)
from recsys_causal.interference.randomized_text import (
    describe_effects,
    describe_naive_vs_total,
    describe_product,
)


def test_neyman_se_by_hand():
    # treated 1,2,3 (s1^2 = 1), control 0,0,1,1 (s0^2 = 1/3): se = sqrt(1/3 + 1/12) = sqrt(5/12)
    y = np.array([1, 2, 3, 0, 0, 1, 1], dtype=float)
    t = np.array([1, 1, 1, 0, 0, 0, 0])
    d = difference_in_means(y, t)
    assert d.estimate[0] == pytest.approx(2.0 - 0.5)
    assert d.se[0] == pytest.approx(np.sqrt(5 / 12))
    assert d.ci_lower[0] == pytest.approx(1.5 - 1.959963984540054 * np.sqrt(5 / 12))
    assert (d.n_treated, d.n_control) == (3, 4)


def test_neyman_covariance_by_hand():
    # second outcome = 2 * first: the covariance is 2 * var and var of the second is 4 * var
    y = np.array([1, 2, 3, 0, 0, 1, 1], dtype=float)
    t = np.array([1, 1, 1, 0, 0, 0, 0])
    v = neyman_covariance(np.column_stack([y, 2 * y]), t)
    np.testing.assert_allclose(v, np.array([[1, 2], [2, 4]]) * 5 / 12)


def test_rerandomizations_keep_the_design():
    t = complete_randomization(30, 0.4, np.random.default_rng(0))
    a = draw_rerandomizations(t, 500, np.random.default_rng(1))
    assert a.shape == (500, 30) and a.dtype == bool
    assert (a.sum(axis=1) == t.sum()).all()
    assert len({row.tobytes() for row in a}) > 490
    np.testing.assert_array_equal(a, draw_rerandomizations(t, 500, np.random.default_rng(1)))
    # every unit is treated about 40% of the time
    assert np.abs(a.mean(axis=0) - 0.4).max() < 0.1


def test_randomization_distribution_matches_a_loop():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(25, 3))
    t = complete_randomization(25, 0.5, rng)
    a = draw_rerandomizations(t, 40, rng)
    fast = randomization_distribution(y, a, chunk=7)
    slow = np.array([y[r].mean(axis=0) - y[~r].mean(axis=0) for r in a])
    np.testing.assert_allclose(fast, slow)


def test_randomization_p_value_is_uniform_in_a_zero_effect_world():
    """Sharp null true: p-values across seeds should be (discretely) uniform on (0, 1]."""
    pvals = []
    for seed in range(300):
        rng = np.random.default_rng(seed)
        y = rng.exponential(size=40)  # outcomes do not depend on assignment
        t = complete_randomization(40, 0.5, rng)
        d = difference_in_means(y, t)
        null = randomization_distribution(y, draw_rerandomizations(t, 199, rng))
        pvals.append(randomization_p_values(d.estimate, null)[0])
    pvals = np.array(pvals)
    assert stats.kstest(pvals, "uniform").pvalue > 0.01
    assert 0.02 <= (pvals <= 0.05).mean() <= 0.09
    assert 0.4 <= (pvals <= 0.5).mean() <= 0.6


def test_randomization_p_value_detects_a_real_effect():
    rng = np.random.default_rng(0)
    t = complete_randomization(200, 0.5, rng)
    y = rng.normal(size=200) + 0.8 * t
    d = difference_in_means(y, t)
    p = randomization_p_values(d.estimate, randomization_distribution(y, draw_rerandomizations(t, 999, rng)))
    assert p[0] == pytest.approx(1 / 1000)


def test_offset_share_delta_method_by_hand():
    cov = np.array([[0.04, 0.01], [0.01, 0.09]])
    r, lo, hi = offset_share(2.0, -3.0, cov)
    assert r == pytest.approx(-1.5)
    g = np.array([3.0 / 4.0, 0.5])  # d(c/|f|)/df = -c/f^2, d/dc = 1/|f|
    se = np.sqrt(g @ cov @ g)
    assert hi - r == pytest.approx(1.959963984540054 * se)
    assert r - lo == pytest.approx(hi - r)


def _simulated_effects(seed: int, n_slates: int = 300, model: ClickModel | None = None):
    slates = example_slates(n_slates, seed=1_000 + seed)
    e = run_promotion_experiment(slates, model or ClickModel(), 0.5, seed=seed)
    c = component_table(e)
    return e, c, estimate_effects(c, n_randomization=50, seed=seed)


def test_tables_shape_and_oracle_definition():
    e, c, res = _simulated_effects(0)
    assert list(res.effects.columns) == list(EFFECT_COLUMNS)
    assert list(res.effects["component"]) == list(EFFECT_ROWS)
    assert list(res.product.columns) == list(PRODUCT_COLUMNS)
    assert len(res.product) == 5
    eff = res.effects.set_index("component")
    # the oracle is the mean over ALL slates of (expected clicks if promoted - if not)
    lift = e.assign(l=e["p_if_promoted"] - e["p_no_promotion"]).groupby(["slate_id", "exposure_label"])["l"].sum()
    by_label = lift.unstack(fill_value=0.0).mean()
    for comp in COMPONENTS:
        assert eff.loc[comp, "oracle_value"] == pytest.approx(by_label[comp])
    assert eff.loc["total_slate", "oracle_value"] == pytest.approx(by_label.sum())
    # components add up to the total, for estimates and oracle
    parts = eff.loc[list(COMPONENTS)]
    assert parts["estimate"].sum() == pytest.approx(eff.loc["total_slate", "estimate"])
    assert eff.loc["all_competitors", "estimate"] == pytest.approx(
        eff.loc[["same_cluster_competitor", "other_competitor"], "estimate"].sum())
    prod = res.product.set_index("key")
    assert prod.loc["focal_gain", "value"] == pytest.approx(1000 * eff.loc["direct_focal", "estimate"])
    assert prod.loc["total_change", "ci_95_upper"] == pytest.approx(1000 * eff.loc["total_slate", "ci_95_upper"])
    assert prod.loc["competitor_offset_share", "value"] == pytest.approx(
        eff.loc["all_competitors", "estimate"] / abs(eff.loc["direct_focal", "estimate"]))
    assert prod.loc["competitor_offset_share", "oracle_value"] == pytest.approx(
        eff.loc["all_competitors", "oracle_value"] / abs(eff.loc["direct_focal", "oracle_value"]))
    naive = naive_vs_slate(res.effects)
    assert naive["per_1000_promoted_slates"].iloc[0] == pytest.approx(prod.loc["focal_gain", "value"])
    for text in (describe_effects(res.effects), describe_naive_vs_total(res.effects), describe_product(res.product)):
        assert isinstance(text, str) and text.endswith(".")


def test_estimates_are_deterministic():
    _, c, a = _simulated_effects(4)
    b = estimate_effects(c, n_randomization=50, seed=4)
    pd.testing.assert_frame_equal(a.effects, b.effects)
    pd.testing.assert_frame_equal(a.product, b.product)


@pytest.mark.slow
def test_intervals_cover_the_oracle_across_seeds():
    """Each component's 95% Neyman interval covers its oracle in most simulated experiments."""
    covered = []
    for seed in range(60):
        _, _, res = _simulated_effects(seed)
        covered.append(res.effects.set_index("component")["covers_oracle"].astype(bool))
    rate = pd.DataFrame(covered).mean()
    assert (rate >= 0.87).all(), rate.to_dict()


def test_intervals_cover_the_oracle_in_a_world_where_promotion_helps():
    """With a large focal boost and no penalties, the total effect is positive and covered."""
    helps = ClickModel(focal_boost=1.5, nonfocal_penalty=0.0, same_cluster_penalty=0.0, displaced_penalty=0.0)
    hits = []
    for seed in range(15):
        _, c, res = _simulated_effects(seed, model=helps)
        eff = res.effects.set_index("component")
        assert eff.loc["total_slate", "oracle_value"] > 0
        hits.append(bool(eff.loc["total_slate", "covers_oracle"]))
    assert np.mean(hits) >= 0.8
