"""Numbers into words: one interpretation sentence per result, and tables rounded for display.

Chapters never type a number by hand; they call these helpers on the computed values, so the
sentence changes when the data do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from recsys_causal.booktable import BookTable, book_table


def format_number(x: float | int | None, digits: int = 3) -> str:
    """A readable number: thousands separators for large values, `digits` significant otherwise."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    x = float(x)
    if x == 0:
        return "0"
    mag = abs(x)
    if mag >= 1000:
        return f"{x:,.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(mag))))
    return f"{x:,.{min(decimals, 6)}f}"


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}".rstrip() if unit else text


def covers(lo: float, hi: float, value: float) -> bool:
    """True when `value` lies inside [lo, hi]."""
    return bool(lo <= value <= hi)


def describe_interval(
    estimate: float,
    lo: float,
    hi: float,
    truth: float | None = None,
    unit: str = "",
    label: str = "The estimate",
    null: float | None = 0.0,
    level: float = 0.95,
    digits: int = 3,
) -> str:
    """One sentence: estimate and interval, whether it excludes `null`, whether it covers `truth`.

    >>> describe_interval(2.0, -1.0, 5.0, truth=3.0)
    'The estimate is 2.00 (95% CI -1.00 to 5.00); the interval includes 0, so the data do not rule out no effect; it covers the simulation truth 3.00.'
    """
    f = lambda v: _with_unit(format_number(v, digits), unit)  # noqa: E731
    text = f"{label} is {f(estimate)} ({int(round(100 * level))}% CI {format_number(lo, digits)} to {f(hi)})"
    if null is not None:
        if covers(lo, hi, null):
            text += f"; the interval includes {format_number(null)}, so the data do not rule out no effect"
        else:
            side = "above" if lo > null else "below"
            text += f"; the whole interval lies {side} {format_number(null)}"
    if truth is not None and not (isinstance(truth, float) and math.isnan(truth)):
        if covers(lo, hi, truth):
            text += f"; it covers the simulation truth {f(truth)}"
        else:
            text += f"; it does **not** cover the simulation truth {f(truth)}"
    return text + "."


def describe_estimates(table: pd.DataFrame, truth: float | None = None, unit: str = "",
                       label_cols: Sequence[str] = ("method", "model"), null: float | None = 0.0) -> str:
    """One sentence per row with an interval (rows without one, e.g. the oracle, are skipped)."""
    parts = []
    for _, r in table.iterrows():
        if pd.isna(r.get("ci_95_lower")) or pd.isna(r.get("ci_95_upper")):
            continue
        label = " / ".join(str(r[c]) for c in label_cols if c in r and pd.notna(r[c]))
        parts.append(describe_interval(r["estimate"], r["ci_95_lower"], r["ci_95_upper"], truth=truth,
                                       unit=unit, label=f"**{label}**", null=null))
    return " ".join(parts)


def describe_coverage(table: pd.DataFrame, truth: float | None) -> str:
    """How many of the table's intervals cover the truth (empty string without a truth)."""
    if truth is None:
        return ""
    t = table.dropna(subset=["ci_95_lower", "ci_95_upper"])
    ok = [(r.ci_95_lower <= truth <= r.ci_95_upper) for r in t.itertuples(index=False)]
    return (f"{sum(ok)} of {len(ok)} intervals cover the simulation truth {format_number(truth)}"
            + ("." if all(ok) else "; the ones that miss are: "
               + ", ".join(f"{r.method} ({r.model})" for r, k in zip(t.itertuples(index=False), ok, strict=True) if not k)
               + "."))


def format_table(df: pd.DataFrame, digits: int = 3, max_rows: int | None = 60,
                 labels: dict[str, str] | None = None, columns: list[str] | None = None) -> BookTable:
    """`df` as the book shows it (human headers, one CI column, no NaN, at most 7 columns, the
    `columns` a reader needs); see `recsys_causal.booktable`."""
    return book_table(df, digits=digits, max_rows=max_rows, labels=labels, columns=columns)

