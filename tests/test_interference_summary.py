"""Sentences and tables of chapters interference_03 / 04: computed from results, right in both worlds."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys_causal.artifact_names import IF
from recsys_causal.interference import summary as S
from recsys_causal.interference import takeaways as T
from recsys_causal.interference.build_advanced import advanced_results
from recsys_causal.interference.randomized import estimate_effects
from recsys_causal.params import InterferenceParams
from test_interference_features import make_experiment


def policy_table(oracle: list[float], dr: list[float], selected: list[int] | None = None) -> pd.DataFrame:
    names = ["Promote all eligible slates", "Promote top 50% by predicted net lift",
             "Promote top 25% by predicted net lift", "Promote only predicted-positive slates",
             "Oracle top 25% benchmark"]
    return pd.DataFrame({
        "policy": names, "deployable": [True, True, True, True, False],
        "selected_slates": selected or [1000, 500, 250, 300, 250],
        "oracle_lift_per_1000_eligible_slates": oracle, "dr_per_1000_eligible": dr,
        "dr_per_1000_eligible_ci_lower": [v - 40 for v in dr], "dr_per_1000_eligible_ci_upper": [v + 40 for v in dr],
        "dr_ci_covers_oracle": [True] * 5, "ipw_ci_covers_oracle": [True] * 5,
    })


def test_policy_verdict_in_a_world_where_promotion_always_hurts() -> None:
    table = policy_table([-200, -100, -50, -40, -10], [-180, -90, -60, -30, -20])
    text = T.policy_verdict(table, "oracle_lift_per_1000_eligible_slates")
    assert "only reduces harm" in text and "Promote only predicted-positive slates" in text and "-40" in text
    assert "Oracle top 25%" not in text  # the benchmark is not deployable


def test_policy_verdict_in_a_world_where_targeting_helps() -> None:
    table = policy_table([80, 90, 50, 110, 70], [100, 85, 55, 120, 60])
    text = T.policy_verdict(table, "oracle_lift_per_1000_eligible_slates")
    assert text.startswith("targeting adds value beyond promoting all") and "+110" in text and "+80" in text
    assert "reduces harm" not in T.describe_policy(table)


def test_policy_verdict_when_promoting_all_is_best_and_a_rule_selects_nothing() -> None:
    table = policy_table([80, 40, 20, 0, 30], [90, 45, 25, 0, 35], selected=[1000, 500, 250, 0, 250])
    text = T.policy_verdict(table, "dr_per_1000_eligible")
    assert "promoting every eligible slate is the best rule" in text and "promotes nothing" in text


def test_oracle_sentence_reads_the_world() -> None:
    checks = pd.DataFrame({"check": ["mean_true_lift_if_all_promoted", "median_true_lift_if_all_promoted",
                                     "share_positive_true_lift", "max_abs_difference_for_observed_promoted_slates",
                                     "max_abs_difference_independent_reconstruction"],
                           "value": [-0.3, -0.3, 0.0, 0.0, 0.0]})
    assert "can at best reduce harm" in T.describe_oracle_checks(checks)
    checks.loc[2, "value"] = 0.7
    assert "70.0% of slates would gain" in T.describe_oracle_checks(checks)


@pytest.fixture(scope="module")
def chapter_tables():
    exposure, component, params = make_experiment(n_slates=240)
    res = advanced_results(exposure, component, params, seed=2)
    effects = estimate_effects(component, n_randomization=100, seed=2).effects
    return res, effects, params, component, exposure


def test_takeaways_are_computed_from_the_tables(chapter_tables) -> None:
    res, *_ = chapter_tables
    tk = res.tables["movielens_interference_advanced_takeaways.csv"]
    aipw = res.tables[IF.AIPW_ESTIMATES]
    est = aipw[aipw["estimator"].str.contains("AIPW")]["estimate"].iloc[0]
    model_row = tk.set_index("area").loc["Model-assisted estimation", "finding"]
    assert T._signed(est) in model_row
    shifted = aipw.assign(estimate=aipw["estimate"] + 1.234)
    again = T.advanced_takeaways(res.tables["movielens_interference_advanced_model_metrics.csv"],
                                 res.tables["movielens_interference_advanced_counterfactual_summary.csv"],
                                 shifted, res.tables[IF.POLICY_TARGETING],
                                 res.tables["movielens_interference_advanced_heterogeneity.csv"])
    assert again.set_index("area").loc["Model-assisted estimation", "finding"] != model_row
    assert T._signed(est + 1.234) in again.set_index("area").loc["Model-assisted estimation", "finding"]


def test_decomposition_adds_up_and_the_conclusion_follows_the_numbers(chapter_tables) -> None:
    res, effects, params, component, exposure = chapter_tables
    decomp = S.decomposition_table(effects).set_index("effect")
    direct = decomp.loc["Direct: the promoted item", "per_1000_promoted_slates"]
    indirect = decomp.loc["Indirect: all competitors", "per_1000_promoted_slates"]
    total = decomp.loc["Total: the whole slate", "per_1000_promoted_slates"]
    assert direct + indirect == pytest.approx(total)
    design = S.design_table(params, component, exposure).set_index("aspect")
    assert design.loc["Slates", "value"] == f"{len(component):,}"
    text = S.plain_conclusion(effects, res.tables[IF.AIPW_ESTIMATES], res.tables[IF.POLICY_TARGETING])
    assert S._signed(total) in text
    helpful = policy_table([80, 90, 50, 110, 70], [100, 85, 55, 120, 60])
    assert "the models add value here" in S.plain_conclusion(effects, res.tables[IF.AIPW_ESTIMATES], helpful)
    harmful = policy_table([-200, -100, -50, -40, -10], [-180, -90, -60, -30, -20])
    assert "best decision is not to promote" in S.plain_conclusion(effects, res.tables[IF.AIPW_ESTIMATES], harmful)


def test_world_sentence_names_the_click_parameters() -> None:
    p = InterferenceParams(click_focal_boost=1.5, click_same_cluster_penalty=1.0)
    text = T.describe_world(p)
    assert "boost of 1.5" in text and "another 1 " in text


def test_an_estimated_gain_is_claimed_only_when_its_interval_excludes_zero() -> None:
    # the default world's numbers: the best rule's DR value +7.5 with 95% CI [-13.3, 29.8]
    table = policy_table([-203, -99, -52, -15, -19], [-204, -54, -24, 7.5, -35])
    table.loc[3, ["dr_per_1000_eligible_ci_lower", "dr_per_1000_eligible_ci_upper"]] = [-13.3, 29.8]
    text = T.policy_verdict(table, "dr_per_1000_eligible", estimated=True)
    assert "adds value" not in text.replace("does not show that targeting adds value", "")
    assert "includes zero" in text and "-13.3 to 29.8" in text
    table.loc[3, ["dr_per_1000_eligible_ci_lower", "dr_per_1000_eligible_ci_upper"]] = [2.0, 13.0]
    assert T.policy_verdict(table, "dr_per_1000_eligible", estimated=True).startswith("targeting adds value:")
