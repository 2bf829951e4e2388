"""Promotion policies: selection rules, oracle values and IPW / DR off-policy estimates with CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from recsys_causal.crossfit import stratified_folds
from recsys_causal.interference import policy as P
from recsys_causal.interference.aipw import crossfit_arm_models
from recsys_causal.interference.features import OUTCOME, TREATMENT, EncodedFeatures
from recsys_causal.interference.randomized import difference_in_means
from recsys_causal.scores import aipw_score
from test_interference_features import make_experiment


def linear_world(n: int = 600, seed: int = 0, n_treated: int | None = None):
    """y = 2 + 0.5 x + A τ(x) + noise with τ(x) = 0.3 x - 0.05: some slates gain, most lose a little."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    k = n // 2 if n_treated is None else n_treated
    t = rng.permutation(np.r_[np.ones(k, dtype=int), np.zeros(n - k, dtype=int)])
    tau = 0.3 * x - 0.05
    y = 2.0 + 0.5 * x + t * tau + rng.normal(size=n)
    X = pd.DataFrame({TREATMENT: t.astype("float32"), "x": x.astype("float32")})
    enc = EncodedFeatures(X, pd.Series(y, name=OUTCOME), pd.Series(t, name=TREATMENT))
    folds = stratified_folds(t, 3, seed)
    m1, m0 = crossfit_arm_models(enc, LinearRegression(), seed, folds)
    return y, t, tau, folds, m1, m0


def test_top_share_selects_the_highest_scores_within_each_fold() -> None:
    score = np.array([5, 1, 4, 2, 9, 8, 0, 7], dtype=float)
    groups = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    sel = P.top_share(score, 0.5, groups)
    np.testing.assert_array_equal(sel, [True, False, True, False, True, True, False, False])
    np.testing.assert_array_equal(P.top_share(score, 0.25), score >= 8)


def test_promote_all_ipw_value_is_the_difference_in_means() -> None:
    y, t, tau, folds, m1, m0 = linear_world(n=300, n_treated=120)  # n_1 != n pi on purpose
    table = P.policy_targeting_table(m1 - m0, folds, y, t, m1, m0, 0.5, tau, n_bootstrap=50, seed=0)
    row = table.set_index("policy").loc[P.PROMOTE_ALL]
    dim = difference_in_means(y, t)
    assert row["ipw_per_1000_eligible"] == pytest.approx(1000 * dim.estimate[0])
    assert row["ipw_per_1000_selected"] == pytest.approx(1000 * dim.estimate[0])
    # Horvitz-Thompson differs here by the normalization n_1 / (n pi) ...
    ones = np.ones(len(y))
    ht = P.ht_policy_value(ones, y, t, 0.5)
    assert ht == pytest.approx(y[t == 1].sum() / 150 - y[t == 0].sum() / 150)
    assert abs(ht - dim.estimate[0]) > 1e-3
    # ... and coincides with it under complete randomization with exactly n pi promoted slates.
    y2, t2, *_ = linear_world(n=300)
    assert P.ht_policy_value(ones, y2, t2, 0.5) == pytest.approx(difference_in_means(y2, t2).estimate[0])


def test_table_point_estimates_match_their_definitions() -> None:
    y, t, tau, folds, m1, m0 = linear_world()
    score = m1 - m0
    table = P.policy_targeting_table(score, folds, y, t, m1, m0, 0.5, tau, n_bootstrap=50, seed=0)
    masks = P.policy_masks(score, folds, tau)
    assert list(table["policy"]) == list(P.POLICIES)
    for _, row in table.iterrows():
        d = masks[row["policy"]]
        assert row["selected_slates"] == d.sum()
        assert row["oracle_lift_per_1000_eligible_slates"] == pytest.approx(1000 * tau[d].sum() / len(tau))
        assert row["oracle_lift_per_1000_selected_slates"] == pytest.approx(1000 * tau[d].mean())
        assert row["ipw_per_1000_eligible"] == pytest.approx(1000 * P.ipw_policy_value(d, y, t))
        assert row["dr_per_1000_eligible"] == pytest.approx(1000 * P.dr_policy_value(d, y, t, m1, m0, 0.5))
        sel = d.astype(bool)
        assert row["ipw_per_1000_selected"] == pytest.approx(
            1000 * (y[sel & (t == 1)].mean() - y[sel & (t == 0)].mean()))
        assert row["ipw_per_1000_eligible_ci_lower"] <= row["ipw_per_1000_eligible"] <= row["ipw_per_1000_eligible_ci_upper"]
        psi = aipw_score(y, t, 0.5, m1, m0, clip_eps=None)
        assert row["dr_gain_vs_promote_all_per_1000_eligible"] == pytest.approx(-1000 * np.mean((1 - d) * psi))
        assert row["oracle_gain_vs_promote_all_per_1000_eligible"] == pytest.approx(-1000 * np.mean((1 - d) * tau))
    assert list(table["deployable"]) == [True, True, True, True, False]


def test_targeting_adds_value_when_the_score_ranks_slates() -> None:
    y, t, tau, folds, m1, m0 = linear_world(n=2000)
    table = P.policy_targeting_table(m1 - m0, folds, y, t, m1, m0, 0.5, tau, n_bootstrap=50, seed=0).set_index("policy")
    assert table.loc[P.POSITIVE, "oracle_lift_per_1000_eligible_slates"] > table.loc[P.PROMOTE_ALL, "oracle_lift_per_1000_eligible_slates"]
    assert table.loc[P.TOP_25, "oracle_lift_per_1000_selected_slates"] > table.loc[P.TOP_50, "oracle_lift_per_1000_selected_slates"] > 0


def test_policy_value_intervals_cover_the_oracle_across_seeds() -> None:
    covered, total = {"ipw": 0, "dr": 0}, 0
    for seed in range(20):
        y, t, tau, folds, m1, m0 = linear_world(n=400, seed=seed)
        table = P.policy_targeting_table(m1 - m0, folds, y, t, m1, m0, 0.5, tau, n_bootstrap=200, seed=seed)
        table = table[table["selected_slates"] > 0]
        total += len(table)
        for est in covered:
            covered[est] += int(table[f"{est}_ci_covers_oracle"].sum())
    for est, k in covered.items():
        assert k / total >= 0.85, f"{est} intervals cover the oracle in {k} of {total} cases"


@pytest.mark.slow
def test_policy_value_intervals_cover_the_oracle_on_simulated_slates() -> None:
    """The chapter's own pipeline on click-model experiments: each policy's estimate within its CI."""
    from recsys_causal.artifact_names import IF
    from recsys_causal.interference.build_advanced import advanced_results

    covered, total = {"ipw": 0, "dr": 0}, 0
    for seed in range(8):
        exposure, component, params = make_experiment(n_slates=300, seed=seed, slate_seed=seed)
        params = params.model_copy(update={"n_bootstrap": 200})
        table = advanced_results(exposure, component, params, seed).tables[IF.POLICY_TARGETING]
        table = table[table["selected_slates"] > 0]
        total += len(table)
        for est in covered:
            covered[est] += int(table[f"{est}_ci_covers_oracle"].sum())
    for est, k in covered.items():
        assert k / total >= 0.8, f"{est} intervals cover the oracle in {k} of {total} cases"
