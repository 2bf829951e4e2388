"""Interpretation sentences and display tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.describe import (
    describe_coverage,
    describe_estimates,
    describe_interval,
    format_number,
    format_table,
)


def test_describe_interval_says_whether_it_covers_truth_and_zero():
    s = describe_interval(2.0, -1.0, 5.0, truth=3.0, label="The MSM")
    assert s.startswith("The MSM is 2.00 (95% CI -1.00 to 5.00)")
    assert "includes 0" in s and "covers the simulation truth 3.00" in s and "does **not**" not in s
    s = describe_interval(2.0, 1.0, 5.0, truth=6.0, unit="interactions")
    assert "whole interval lies above 0" in s and "does **not** cover the simulation truth 6.00 interactions" in s
    s = describe_interval(-4.0, -5.0, -1.0)
    assert "lies below 0" in s and "truth" not in s
    assert "truth" not in describe_interval(1.0, 0.0, 2.0, truth=float("nan"))


def test_format_number():
    assert format_number(12345.678) == "12,346"
    assert format_number(0.0012345) == "0.00123"
    assert format_number(3.14159) == "3.14"
    assert format_number(float("nan")) == "n/a" and format_number(0) == "0"


def test_format_table_rounds_floats_and_keeps_others():
    df = pd.DataFrame({"a": [1.23456, np.nan], "b": [1, 2], "c": [True, False], "d": ["x", "y"]})
    out = format_table(df).frame
    assert list(out["A"]) == ["1.23", "\u2014"]
    assert list(out["B"]) == ["1", "2"] and list(out["C"]) == ["yes", "no"] and list(out["D"]) == ["x", "y"]
    assert df["a"].iloc[0] == 1.23456  # input untouched


def test_describe_estimates_and_coverage():
    t = pd.DataFrame({"method": ["A", "B", "Oracle"], "model": ["m1", "m2", "sim"],
                      "estimate": [1.0, 4.0, 2.0], "ci_95_lower": [0.0, 3.0, np.nan],
                      "ci_95_upper": [3.0, 5.0, np.nan]})
    s = describe_estimates(t, truth=2.0)
    assert s.count("CI") == 2 and "**A / m1**" in s and "Oracle" not in s
    c = describe_coverage(t, 2.0)
    assert c.startswith("1 of 2 intervals cover") and "B (m2)" in c
    assert describe_coverage(t, None) == ""
