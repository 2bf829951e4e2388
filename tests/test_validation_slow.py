"""Statistical checks of the simulation study (slow): AIPW is unbiased in the default world, and
an unmeasured confounder biases every estimator in the direction the simulator implies."""

from __future__ import annotations

import pytest

from recsys_causal.params import load_params
from recsys_causal.validation.longterm_world import IF_INFERENCE, PRIMARY_AIPW_LABEL
from recsys_causal.validation.metrics import summarize_replicates
from recsys_causal.validation.runner import config_from_params, run_study, with_scenarios

pytestmark = pytest.mark.slow


def _study(scenarios: list[str], n_replicates: int, n_users: int):
    p = load_params(None, overrides=[f"validation.lt_n_users={n_users}", "validation.lt_n_days=30",
                                     "validation.n_jobs=2"])
    res = run_study(with_scenarios(config_from_params(p), scenarios), n_replicates, n_jobs=2)
    assert (res.replicates["status"] == "ok").all()
    return summarize_replicates(res.replicates)


def test_aipw_bias_within_three_monte_carlo_ses_in_default_world() -> None:
    s = _study(["a"], 24, 200)
    row = s[s["estimator"].eq(PRIMARY_AIPW_LABEL) & s["inference"].eq(IF_INFERENCE)].iloc[0]
    assert row["n_replicates"] == 24
    assert abs(row["bias"]) < 3 * row["bias_mcse"], row.to_dict()
    # the check has power: the naive contrast, confounded by activity, is far outside the same band
    naive = s[s["estimator"].eq("Naive difference in means")].iloc[0]
    assert naive["bias"] > 3 * naive["bias_mcse"]


def test_unmeasured_confounder_biases_naive_and_adjusted_estimators_upward() -> None:
    # the simulator's shock z raises both P(high-watch day) and later activity: bias is upward
    s = _study(["e"], 6, 150)
    s = s.drop_duplicates(["estimator"])
    assert len(s) == 9
    for _, r in s.iterrows():
        assert r["bias"] > 0 and r["bias"] > 3 * r["bias_mcse"], (r["estimator"], r["bias"], r["bias_mcse"])


def test_aipw_with_the_true_form_propensity_is_unbiased_when_the_outcome_model_is_wrong() -> None:
    # scenario (c): the outcome models lose the activity confounder, g-computation is far off, and
    # AIPW on the true-form logistic propensity stays within 3 MCSEs: double robustness, shown
    s = _study(["c"], 16, 200)
    aipw = s[s["estimator"].eq(PRIMARY_AIPW_LABEL) & s["inference"].eq(IF_INFERENCE)].iloc[0]
    assert abs(aipw["bias"]) < 3 * aipw["bias_mcse"], aipw.to_dict()
    gcomp = s[s["estimator"].eq("G-computation (ridge)")].iloc[0]
    assert gcomp["bias"] > 3 * gcomp["bias_mcse"], gcomp.to_dict()
