"""Track-summary tables and sentences: computed from the artifacts, with the artifacts' numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.longterm import summary as lts
from recsys_causal.params import LongtermParams


def _comparison(truth: float | None = 1.5) -> pd.DataFrame:
    rows = [
        ("MSM: weighted calendar-adjusted", "propensity_weighted_msm", 2.0, -3.0, 7.0, "estimate"),
        ("G-computation", "lightgbm", 0.5, -1.0, 2.0, "estimate"),
        ("G-computation", "linear_ridge", 4.0, 2.5, 5.5, "estimate"),
        ("Doubly robust AIPW", "logistic propensity + LightGBM outcome", 1.2, -2.0, 4.4, "estimate"),
        ("AIPW, overlap-trimmed", "logistic propensity + LightGBM outcome; logistic propensity in [0.05, 0.95]",
         1.0, -2.5, 4.5, "robustness"),
    ]
    if truth is not None:
        rows.append(("Oracle (simulation truth)", "simulator", truth, np.nan, np.nan, "oracle"))
    df = pd.DataFrame(rows, columns=["method", "model", "estimate", "ci_95_lower", "ci_95_upper", "role"])
    return df.assign(source="", relative_lift_vs_msm_control_mean=df["estimate"] / 400.0)


def _results() -> pd.DataFrame:
    base = {"aipw_ate": 1.2, "ci_95_lower": -2.0, "ci_95_upper": 4.4, "bootstrap_std": 1.6, "bootstrap_reps": 400,
            "if_se": 1.7, "if_ci_95_lower": -2.1, "if_ci_95_upper": 4.5, "refit_std": 2.4, "refit_reps": 30,
            "refit_ci_95_lower": -3.5, "refit_ci_95_upper": 6.0, "outcome_sd": 200.0, "standardized_effect": 0.006,
            "approx_risk_ratio": 1.0055, "evalue_estimate": 1.08, "evalue_ci": 1.0, "evalue_ci_source": "refit"}
    rows = []
    for p in ("logistic", "lightgbm"):
        for o in ("linear_ridge", "lightgbm"):
            prim = (p, o) == ("logistic", "lightgbm")
            rows.append({**base, "propensity_model": p, "outcome_model": o, "is_primary_aipw": prim,
                         "aipw_ate": 1.2 if prim else 0.3 + len(rows)})
    return pd.DataFrame(rows)


def _segments() -> pd.DataFrame:
    return pd.DataFrame({
        "segment_type": ["prior_interactions_bucket"] * 4 + ["day_of_week"] * 2,
        "segment": ["Q1 (≤ 78)", "Q2 (> 78, ≤ 125)", "Q3 (> 125, ≤ 184)", "Q4 (> 184)", "Monday", "Tuesday"],
        "segment_order": [1, 2, 3, 4, 1, 2],
        "rows": [100, 100, 100, 100, 50, 5], "users": [30] * 5 + [2],
        "aipw_ate": [1.0, 2.0, 3.0, 25.0, -1.0, 40.0],
        "ci_95_lower": [-4.0, -3.0, 0.5, 12.0, -6.0, 10.0], "ci_95_upper": [6.0, 7.0, 6.0, 38.0, 4.0, 70.0],
        "p_adjusted": [1.0, 1.0, 0.4, 0.001, 1.0, np.nan],
        "passes_size_filter": [True, True, True, True, True, False],
        "survives_correction": [False, False, False, True, False, False],
        "multiplicity_method": "Holm",
    })


def test_headline_table_flags_zero_and_truth():
    t = lts.headline_table(_comparison())
    assert t["estimator"].tolist()[-1] == "Oracle (simulation truth)"
    est = t[t["role"].ne("oracle")]
    assert est["includes_zero"].tolist() == [True, True, False, True, True]
    assert est["covers_truth"].tolist() == [True, True, False, True, True]
    assert "covers_truth" not in lts.headline_table(_comparison(None)).columns


def test_describe_headline_uses_the_table_numbers():
    text = lts.describe_headline(_comparison())
    assert "range from 0.50 to 4.00" in text
    assert "3 of their 4 intervals include zero" in text
    assert "1.20" in text and "3 of the 4 main intervals cover" in text
    assert "simulat" not in lts.describe_headline(_comparison(None))


def test_surviving_segments_only_lists_filtered_survivors():
    s = lts.surviving_segments(_segments())
    assert s["segment"].tolist() == ["Q4 (> 184)"]
    assert s["segment type"].tolist() == ["Prior 3-day interactions"]
    text = lts.describe_segments(_segments())
    assert "Of 5 user-history segments, 2 have an interval that excludes zero" in text
    assert "1 survive the Holm correction" in text and "Q4 (> 184) (25.0" in text
    none = _segments().assign(survives_correction=False)
    assert lts.surviving_segments(none).empty
    assert "hypotheses" in lts.describe_segments(none)


def test_robustness_table_has_intervals_pairs_and_trimming():
    t = lts.robustness_table(_results(), _comparison())
    assert len(t) == 3 + 3 + 1
    assert t["check"].iloc[2].startswith("Primary AIPW: Refit bootstrap")
    assert t["check"].iloc[-1].startswith("AIPW, overlap-trimmed")
    assert t["includes_zero"].all()
    assert "7 of 7 intervals include zero" in lts.describe_robustness(_results(), _comparison())


def test_conclusion_and_limitations_are_computed():
    text = lts.conclusion(_comparison(), _results(), _segments(), simulated=True)
    assert "about 1.2" in text and "-3.5 to 6.0" in text  # widest of the three intervals
    assert "1 of the 4 main estimators' intervals exclude zero (G-computation (linear_ridge))" in text
    assert "1 of 5 user-history segments" in text and "true average effect is 1.5, inside" in text
    real = lts.conclusion(_comparison(None), _results(), _segments(), simulated=False)
    assert "In this data" in real and "true average effect" not in real
    lim = lts.limitations(True, _results(), _comparison())
    assert any("1.00" in item for item in lim) and any("2.40" in item for item in lim)
    assert any("Simulated data" in item for item in lim)
    assert not any("Simulated data" in item for item in lts.limitations(False, _results(), _comparison()))


def test_estimand_text_takes_definitions_from_parameters():
    text = lts.estimand_text(LongtermParams(outcome_horizon_days=5, treatment_cutoff=0.4))
    assert "next 5 days" in text and "at least 0.4" in text
    assert "median" in lts.estimand_text(LongtermParams(treatment_cutoff="median"))
