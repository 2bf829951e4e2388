"""E-values of the primary AIPW estimate (sensitivity to unmeasured confounding)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys_causal.longterm import sensitivity as sens


def test_evalue_of_a_risk_ratio_by_hand():
    assert sens.evalue_rr(2.0) == pytest.approx(2 + math.sqrt(2))
    assert sens.evalue_rr(0.5) == pytest.approx(2 + math.sqrt(2))  # symmetric in RR and 1/RR
    assert sens.evalue_rr(1.0) == pytest.approx(1.0)
    assert sens.evalue_rr(3.9) == pytest.approx(7.26, abs=0.01)  # VanderWeele & Ding's example
    with pytest.raises(ValueError):
        sens.evalue_rr(0.0)


def test_evalue_of_a_mean_difference_by_hand():
    out = sens.evalue_continuous(10.0, 100.0, 2.0, 18.0)
    rr = math.exp(0.91 * 0.1)
    assert out["standardized_effect"] == pytest.approx(0.1)
    assert out["approx_risk_ratio"] == pytest.approx(rr)
    assert out["evalue_estimate"] == pytest.approx(rr + math.sqrt(rr * (rr - 1)))
    rr_lo = math.exp(0.91 * 0.02)  # the limit nearer the null
    assert out["evalue_ci"] == pytest.approx(rr_lo + math.sqrt(rr_lo * (rr_lo - 1)))
    neg = sens.evalue_continuous(-10.0, 100.0, -18.0, -2.0)
    assert neg["evalue_estimate"] == pytest.approx(out["evalue_estimate"])
    assert neg["evalue_ci"] == pytest.approx(out["evalue_ci"])
    assert sens.evalue_continuous(10.0, 100.0, -1.0, 21.0)["evalue_ci"] == 1.0


def _results(**kw):
    row = {"is_primary_aipw": True, "aipw_ate": 10.0, "ci_95_lower": 4.0, "ci_95_upper": 16.0,
           "if_ci_95_lower": 5.0, "if_ci_95_upper": 15.0, "refit_ci_95_lower": 1.0, "refit_ci_95_upper": 19.0}
    row.update(kw)
    return pd.DataFrame([row, {**row, "is_primary_aipw": False, "aipw_ate": 99.0}])


def test_primary_sensitivity_uses_the_interval_nearest_the_null():
    out = sens.primary_sensitivity(_results(), outcome_sd=50.0).iloc[0]
    assert out["evalue_ci_source"] == "refit"
    assert out["ci_95_lower"] == 1.0 and out["estimate"] == 10.0
    covering = sens.primary_sensitivity(_results(refit_ci_95_lower=np.nan, refit_ci_95_upper=np.nan, if_ci_95_lower=-1.0), 50.0).iloc[0]
    assert covering["evalue_ci_source"] == "influence_function" and covering["evalue_ci"] == 1.0


def test_describe_evalue_is_two_sentences_with_the_numbers():
    row = sens.primary_sensitivity(_results(), outcome_sd=50.0).iloc[0]
    text = sens.describe_evalue(row)
    assert text.count(". ") == 1 and text.endswith(".")
    assert f"{row['evalue_estimate']:.2f}" in text and f"{row['evalue_ci']:.2f}" in text
    zero = sens.describe_evalue(sens.primary_sensitivity(_results(refit_ci_95_lower=-3.0), 50.0).iloc[0])
    assert "already contains zero" in zero
