"""The book's table style: human headers, one CI column, one precision per column, no NaN, 7 columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_causal.booktable import MISSING, book_table, column_label, decimals_for, interval_pairs


def test_interval_columns_become_one_bracketed_column_with_one_precision() -> None:
    df = pd.DataFrame({"method": ["AIPW", "Oracle"], "estimate": [5.4567, 3.77],
                       "ci_95_lower": [0.967, np.nan], "ci_95_upper": [9.891, np.nan],
                       "if_ci_95_lower": [1.2, np.nan], "if_ci_95_upper": [9.72, np.nan]})
    t = book_table(df)
    assert t.header == ["Method", "Estimate", "95% CI", "IF 95% CI"]
    # the interval's two ends share one number of decimals (the issue: [0.967, 9.89] beside [0.83, 9.80])
    assert t.rows[0][2] == "[0.97, 9.89]" and t.rows[0][3] == "[1.20, 9.72]"
    assert t.rows[1][2] == MISSING and "nan" not in t.to_markdown().lower()
    assert t.note.startswith(f"{MISSING}:")
    assert t.numeric == [False, True, True, True]


def test_at_most_seven_columns_and_the_rest_named_in_the_note() -> None:
    df = pd.DataFrame({f"metric_{k}": [float(k)] for k in range(10)})
    t = book_table(df)
    assert len(t.header) == 7 and len(t.rows[0]) == 7
    assert "Metric 7" in t.note and "Metric 9" in t.note and "Reproducibility" in t.note


def test_long_text_is_never_cut_and_all_empty_columns_are_dropped() -> None:
    long = "XGBoost had the best held-out RMSE at 1.33 clicks per slate, ahead of LightGBM by 0.001"
    df = pd.DataFrame({"finding": [long], "oracle_value": [np.nan], "n_rows": [12345]})
    t = book_table(df)
    assert t.header == ["Finding", "Rows"]
    assert t.rows == [[long, "12,345"]]
    assert long.replace(".", "") in t.to_markdown().replace("\\", "").replace(".", "")


def test_labels_and_precision_rules() -> None:
    assert column_label("mean_propensity") == "Mean propensity"
    assert column_label("aipw_ate") == "AIPW ATE"
    assert column_label("p05") == "5th pct"
    assert column_label("Already readable") == "Already readable"
    assert decimals_for(np.array([351.2, 348.0])) == 0
    assert decimals_for(np.array([0.0123, 0.0456])) == 4
    assert decimals_for(np.array([np.nan])) == 0
    assert interval_pairs(["a", "ci_95_lower", "ci_95_upper", "dr_lower"]) == [("ci_95", "ci_95_lower", "ci_95_upper")]


def test_markdown_is_a_pipe_table_with_right_aligned_numbers() -> None:
    md = book_table(pd.DataFrame({"name": ["a", "b"], "value": [1.5, 22.75]}))._repr_markdown_()
    lines = md.strip().splitlines()
    assert lines[0].startswith("| Name") and lines[1].startswith("|:") and lines[1].rstrip().endswith(":|")
    assert "| 1.5 |" in md and "| 22.8 |" in md  # one precision for the column, from its median
