"""Performance metrics of the simulation study, checked against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_causal.validation.metrics import (
    bias_by_scenario,
    coverage_check,
    describe_coverage_check,
    describe_direction,
    nominal_coverage_mcse,
    performance,
    scenario_table,
    summarize_replicates,
)


def test_performance_hand_computed() -> None:
    est = np.array([1.0, 2.0, 4.0, 5.0])
    truth = np.array([2.0, 2.0, 3.0, 3.0])  # errors -1, 0, 1, 2
    lo = est - 1.5
    hi = est + 1.5  # covers when |error| <= 1.5: three of four
    p = performance(est, truth, lo, hi, se=np.full(4, 2.0))
    assert p["bias"] == pytest.approx(0.5)
    assert p["bias_mcse"] == pytest.approx(np.std([-1, 0, 1, 2], ddof=1) / 2)
    assert p["rmse"] == pytest.approx(np.sqrt((1 + 0 + 1 + 4) / 4))
    sq = np.array([1.0, 0.0, 1.0, 4.0])
    assert p["rmse_mcse"] == pytest.approx(np.std(sq, ddof=1) / (2 * np.sqrt(1.5) * 2))
    assert p["empirical_se"] == pytest.approx(np.std(est, ddof=1))
    assert p["coverage"] == pytest.approx(0.75)
    assert p["coverage_mcse"] == pytest.approx(np.sqrt(0.75 * 0.25 / 4))
    assert p["mean_ci_width"] == pytest.approx(3.0)
    assert p["mean_model_se"] == pytest.approx(2.0)
    assert p["se_ratio"] == pytest.approx(2.0 / np.std(est, ddof=1))
    assert p["relative_bias"] == pytest.approx(0.5 / 2.5)


def test_interval_endpoints_count_as_covering_and_failures_are_counted() -> None:
    p = performance([1.0, np.nan, 3.0], [2.0, 2.0, 2.0], [2.0, 0.0, 0.0], [4.0, 4.0, 2.0])
    assert p["n_failed"] == 1 and p["n_replicates"] == 2
    assert p["coverage"] == 1.0  # truth on the lower end of one interval and the upper end of the other


def test_nominal_coverage_mcse() -> None:
    assert nominal_coverage_mcse(100) == pytest.approx(np.sqrt(0.95 * 0.05 / 100))
    with pytest.raises(ValueError):
        nominal_coverage_mcse(0)


def _reps() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for scen, shift in (("a", 0.0), ("e", 3.0)):
        for _r in range(50):
            for est in ("unbiased", "biased"):
                e = rng.normal(shift + (2.0 if est == "biased" else 0.0), 1.0)
                rows.append({"world": "longterm", "scenario": scen, "estimator": est, "inference": "normal",
                             "estimand": "ATE", "estimate": e, "truth": 0.0, "se": 1.0,
                             "ci_lower": e - 1.96, "ci_upper": e + 1.96})
    return pd.DataFrame(rows)


def test_summarize_replicates_groups_in_registry_order() -> None:
    s = summarize_replicates(_reps())
    assert list(s["scenario"]) == ["a", "a", "e", "e"]
    assert list(s["estimator"]) == ["unbiased", "biased", "unbiased", "biased"]
    a = s[s["scenario"].eq("a")].set_index("estimator")
    assert abs(a.loc["unbiased", "bias"]) < 3 * a.loc["unbiased", "bias_mcse"]
    assert a.loc["biased", "bias"] > 10 * a.loc["biased", "bias_mcse"]
    assert a.loc["unbiased", "coverage"] > 0.85 and a.loc["biased", "coverage"] < 0.7
    with pytest.raises(ValueError, match="lacks columns"):
        summarize_replicates(_reps().drop(columns="truth"))


def test_tables_and_sentences_use_the_numbers() -> None:
    s = summarize_replicates(_reps())
    t = scenario_table(s, "a")
    assert list(t["estimator"]) == ["unbiased", "biased"]
    wide = bias_by_scenario(s)
    assert list(wide.columns) == ["estimator", "bias in (a)", "bias in (e)"]
    chk = coverage_check(s, "a", "unbiased", "normal")
    assert chk["within"] == (0.90 <= chk["coverage"] <= 0.99)
    text = describe_coverage_check(s, "a", "unbiased", "normal")
    assert f"{100 * chk['coverage']:.1f}%" in text
    assert "2 of 2 estimators overstate" in describe_direction(s, "e", expected_sign=1)


def test_double_robustness_sentence_follows_the_numbers() -> None:
    from recsys_causal.validation.metrics import describe_double_robustness

    rows = []
    for scen, ipw_bias, aipw_bias in (("a", 0.0, 0.0), ("b", 5.0, 0.0), ("c", 0.0, 4.0)):
        for est, b in (("IPW (Hájek)", ipw_bias), ("AIPW (x + y)", aipw_bias)):
            rows.append({"scenario": scen, "estimator": est, "estimand": "ATE", "bias": b, "bias_mcse": 1.0,
                         "n_replicates": 20})
    s = pd.DataFrame(rows)
    assert "as double robustness promises" in describe_double_robustness(s, "b", ["IPW (Hájek)"])
    text = describe_double_robustness(s, "c", ["IPW (Hájek)"])
    assert "0 of 1 within 3" in text and "protected only in part" in text


def test_double_robustness_sentence_speaks_for_the_right_model_rows() -> None:
    from recsys_causal.validation.metrics import describe_double_robustness

    rows = []
    for scen, right_bias, flexible_bias in (("a", 0.0, 0.0), ("c", 0.5, -9.0)):
        for est, b in (("G-computation (ridge)", 20.0 if scen == "c" else 0.0), ("AIPW (logistic + ridge)", right_bias),
                       ("AIPW (LightGBM + ridge)", flexible_bias)):
            rows.append({"scenario": scen, "estimator": est, "estimand": "ATE", "bias": b, "bias_mcse": 1.0})
    s = pd.DataFrame(rows)
    text = describe_double_robustness(s, "c", ["G-computation (ridge)"], right_model="logistic")
    assert "1 of 1 within 3 MCSEs: one right nuisance model is enough" in text
    assert "AIPW (LightGBM + ridge) stay biased" in text
    s.loc[s["estimator"].eq("AIPW (logistic + ridge)") & s["scenario"].eq("c"), "bias"] = 6.0
    text = describe_double_robustness(s, "c", ["G-computation (ridge)"], right_model="logistic")
    assert "0 of 1 within 3 MCSEs" in text and "enough" not in text
