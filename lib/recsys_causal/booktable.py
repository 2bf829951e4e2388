"""The book's table style: one place that turns an analysis table into a table for people.

Every chapter shows a table through `book_table` (or `describe.format_table`, which calls it),
and the notebook output is a Markdown pipe table (`text/markdown`), never pandas' HTML:

- Quarto and the fallback both turn a pipe table into a real table in the HTML *and* the Typst
  PDF, numbered and captioned from the cell's `tbl-` label and `tbl-cap` and cross-referenced
  with `@tbl-...` (raw HTML tables are dropped or flattened by Typst, and make Quarto inject
  require.js / jQuery from a CDN into every page);
- columns get human labels (`COLUMN_LABELS`, else a rule on the snake_case name), an interval's
  lower / upper columns become one "95% CI" column `[lo, hi]`, each numeric column has one number
  of decimals, missing values show as an em dash with a note, long text wraps (nothing is cut);
- at most `MAX_COLUMNS` columns reach the book; the full table stays in the run's table files,
  which the Reproducibility appendix lists.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

NUM_RE = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
MAX_COLUMNS = 7
MISSING = "\u2014"  # em dash
MISSING_NOTE = f"{MISSING}: not defined for this row."

# Exact labels for names the word rule below cannot get right (units, symbols, idioms).
COLUMN_LABELS: dict[str, str] = {
    "ci_95": "95% CI",
    "ci": "95% CI",
    "se": "SE",
    "sd": "SD",
    "n_rows": "Rows",
    "n_users": "Users",
    "n_tests": "Tests",
    "n_control": "Control slates",
    "n_promoted": "Promoted slates",
    "n_ratings": "Ratings",
    "n_randomization": "Randomization draws",
    "r2": "R\u00b2",
    "auc": "AUC",
    "brier": "Brier score",
    "log_loss": "Log loss",
    "p_value": "p-value",
    "p_adjusted": "Adjusted p-value",
    "randomization_p_value": "Randomization p-value",
    "ess": "ESS",
    "ess_share": "ESS share",
    "evalue_estimate": "E-value (estimate)",
    "evalue_ci": "E-value (CI bound)",
    "smd_unweighted": "SMD unweighted",
    "smd_weighted": "SMD weighted",
    "smd_weighted_untruncated": "SMD weighted (untruncated)",
    "covers_truth": "Covers truth",
    "se_estimated_propensity": "SE (propensity estimated)",
    "covers_oracle": "Covers oracle",
    "ci_95_covers_oracle": "CI covers oracle",
    "min_e": "Min e",
    "max_e": "Max e",
    "mean_e_treated": "Mean e (treated)",
    "mean_e_control": "Mean e (control)",
    "per_1000_promoted_slates": "Per 1,000 promoted slates",
    "user-days": "User-days",
}
# Word-level replacements of the rule (snake_case token -> display word).
WORDS: dict[str, str] = {
    "ci": "CI", "se": "SE", "sd": "SD", "ess": "ESS", "smd": "SMD", "aipw": "AIPW", "ipw": "IPW",
    "dr": "DR", "dim": "Diff. in means", "rmse": "RMSE", "mae": "MAE", "auc": "AUC", "cate": "CATE",
    "msm": "MSM", "if": "IF", "ate": "ATE", "oracle": "oracle", "gcomp": "g-computation",
    "y0": "Y(0)", "y1": "Y(1)", "e": "e", "pred": "predicted", "reps": "replicates", "n": "number of",
    "vs": "vs", "1000": "1,000", "95": "95%", "3day": "3-day", "lgbm": "LightGBM", "mcse": "MCSE",
    "pct": "%", "bonferroni": "Bonferroni", "holm": "Holm", "boot": "bootstrap", "std": "SD",
    "evalue": "E-value", "r2": "R\u00b2",
}
QUANTILE_RE = re.compile(r"^p(\d{2})$")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"

INTERVAL_RE = re.compile(r"^(?P<key>.+)_(?P<side>lower|upper)$")


def column_label(name: str) -> str:
    """The header a reader sees for column `name` (exact label, else the word rule)."""
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    m = QUANTILE_RE.match(name)
    if m:
        return f"{_ordinal(int(m.group(1)))} pct"
    if not re.fullmatch(r"[a-z0-9_]+", name):
        return name[:1].upper() + name[1:]  # already written for people: only a capital
    words = [f"{_ordinal(int(w[1:]))} pct" if QUANTILE_RE.match(w) else WORDS.get(w, w) for w in name.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def decimals_for(values: np.ndarray, digits: int = 3) -> int:
    """Decimals that give `digits` significant digits to the column's typical (median) magnitude."""
    finite = np.abs(values[np.isfinite(values)])
    finite = finite[finite > 0]
    if finite.size == 0:
        return 0
    typical = float(np.median(finite))
    return int(min(6, max(0, digits - 1 - math.floor(math.log10(typical)))))


def _fmt(v: float, decimals: int) -> str:
    if not np.isfinite(v):
        return MISSING
    text = f"{v:,.{decimals}f}"
    return "0" if re.fullmatch(r"-?0(\.0*)?", text) else text


def _float_values(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def _is_float(s: pd.Series) -> bool:
    return pd.api.types.is_float_dtype(s) and not pd.api.types.is_bool_dtype(s)


def interval_pairs(columns: list[str]) -> list[tuple[str, str, str]]:
    """(display key, lower column, upper column) for every `<x>_lower` / `<x>_upper` pair.

    The key drops the `ci` / `95` words: `ci_95_lower` -> `ci_95`, `if_ci_95_lower` -> `if_ci_95`.
    """
    lowers: dict[str, str] = {}
    uppers: dict[str, str] = {}
    for c in columns:
        m = INTERVAL_RE.match(c)
        if m:
            (lowers if m.group("side") == "lower" else uppers)[m.group("key")] = c
    return [(key, lo, uppers[key]) for key, lo in lowers.items() if key in uppers]


def interval_label(key: str) -> str:
    """'95% CI', or '<what> 95% CI' for an interval of another quantity or method."""
    what = "_".join(t for t in key.split("_") if t not in ("ci", "95"))
    return f"{column_label(what)} 95% CI" if what else "95% CI"


@dataclass
class BookTable:
    """A table as the book shows it: display strings, right-aligned numeric columns, a note."""

    header: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    note: str = ""

    @property
    def frame(self) -> pd.DataFrame:
        """The displayed cells as a DataFrame of strings (for tests and interactive use)."""
        return pd.DataFrame(self.rows, columns=self.header)

    def to_markdown(self) -> str:
        """A pandoc pipe table (plus the note as a paragraph below it)."""
        text = pipe_table(self.header, self.rows, numeric=self.numeric)
        return text + (f"\n{self.note}\n" if self.note else "")

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def __repr__(self) -> str:
        return self.frame.to_string(index=False) + (f"\n{self.note}" if self.note else "")


OPTIONAL_WORDS = ("oracle", "truth", "covers", "true_")  # columns that exist on simulated data only


def book_table(df: pd.DataFrame, digits: int = 3, max_rows: int | None = 60,
               max_columns: int = MAX_COLUMNS, labels: dict[str, str] | None = None,
               columns: list[str] | None = None) -> BookTable:
    """`df` styled for the book (see the module docstring); the input is not modified.

    `columns` picks and orders the columns a reader sees (the artifact keeps them all); a name
    that is not in `df` is an error, except oracle / truth columns, which real data lack.
    """
    labels = dict(labels or {})
    if columns is not None:
        missing = [c for c in columns if c not in df.columns and not any(w in c for w in OPTIONAL_WORDS)]
        if missing:
            raise KeyError(f"book_table: no column {missing} in the table (it has {list(df.columns)})")
        df = df[[c for c in columns if c in df.columns]]
    out = df if max_rows is None else df.head(max_rows)
    if not isinstance(out.index, pd.RangeIndex):
        out = out.reset_index()
    # a column with no value at all (an oracle column on real data) says nothing to a reader
    out = out[[c for c in out.columns if not out[c].isna().all()]]
    cols: list[str] = [str(c) for c in out.columns]
    out = out.set_axis(cols, axis=1)
    cells: dict[str, list[str]] = {}
    numeric: dict[str, bool] = {}
    pairs = {lo: (stem, hi) for stem, lo, hi in interval_pairs(cols)}
    skip = {hi for _, hi in pairs.values()}
    order: list[str] = []
    for c in cols:
        if c in skip:
            continue
        s = out[c]
        if c in pairs:
            key, hi = pairs[c]
            lo_v, hi_v = _float_values(s), _float_values(out[hi])
            dec = decimals_for(np.concatenate([lo_v, hi_v]), digits)
            cells[key] = [MISSING if not (np.isfinite(a) and np.isfinite(b)) else f"[{_fmt(a, dec)}, {_fmt(b, dec)}]"
                          for a, b in zip(lo_v, hi_v, strict=True)]
            numeric[key] = True
            labels.setdefault(key, labels.get(c) or interval_label(key))
            order.append(key)
            continue
        if pd.api.types.is_bool_dtype(s):
            cells[c] = ["yes" if v else "no" for v in s]
            numeric[c] = False
        elif _is_float(s) or pd.api.types.is_integer_dtype(s):
            v = _float_values(s)
            whole = bool(np.all(~np.isfinite(v) | (v == np.round(v)))) and not _is_float(s)
            dec = 0 if whole else decimals_for(v, digits)
            cells[c] = [_fmt(x, dec) for x in v]
            numeric[c] = True
        elif pd.api.types.is_datetime64_any_dtype(s):
            cells[c] = [MISSING if pd.isna(x) else x.strftime("%Y-%m-%d") for x in s]
            numeric[c] = False
        else:
            cells[c] = [_cell_text(x, digits) for x in s]
            shown = [t.replace(",", "").rstrip("%") for t in cells[c] if t != MISSING]
            numeric[c] = bool(shown) and all(NUM_RE.match(t) for t in shown)
        order.append(c)
    notes = []
    if len(order) > max_columns:
        left = [labels.get(c) or column_label(c) for c in order[max_columns:]]
        notes.append(f"Not shown: {', '.join(left)} (the run's table files keep every column; "
                     "see the Reproducibility appendix).")
        order = order[:max_columns]
    header = [labels.get(c) or column_label(c) for c in order]
    rows = [[cells[c][i] for c in order] for i in range(len(out))]
    if any(MISSING in r for r in rows):
        notes.insert(0, MISSING_NOTE)
    if max_rows is not None and len(df) > max_rows:
        notes.append(f"First {max_rows} of {len(df):,} rows.")
    return BookTable(header, rows, [numeric[c] for c in order], " ".join(notes))


def _cell_text(x: Any, digits: int) -> str:
    """One cell of a text column: missing as an em dash, stray floats rounded, text unchanged."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return MISSING
    if isinstance(x, bool | np.bool_):
        return "yes" if x else "no"
    if isinstance(x, float | np.floating):
        return _fmt(float(x), decimals_for(np.array([float(x)]), digits))
    if isinstance(x, int | np.integer):
        return f"{int(x):,}"
    text = str(x)
    return MISSING if text.lower() in ("nan", "none", "<na>") else text


def install_display() -> None:
    """Show every pandas DataFrame in a chapter as a book table (Markdown), never as HTML.

    Called by `open_chapter`, so a chapter that displays a DataFrame directly still produces a
    real table in both books and no HTML that would pull scripts from a CDN.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        return
    ip = get_ipython()
    if ip is None:
        return
    formatters = ip.display_formatter.formatters
    formatters["text/html"].for_type(pd.DataFrame, lambda df: None)
    formatters["text/markdown"].for_type(pd.DataFrame, lambda df: book_table(df).to_markdown())


def _breakable(s: str) -> str:
    """Let long snake_case / a/b names wrap in a narrow column (zero-width spaces after _ and /)."""
    return s.replace("_", "_\u200b").replace("/", "/\u200b") if len(s) > 12 else s


def _md_cell(s: str) -> str:
    s = s.replace("\\", "\\\\").replace("|", "\\|")
    for ch in "*_`@<>[]#$~^":
        s = s.replace(ch, "\\" + ch)
    return s or " "


def pipe_table(header: list[str], rows: list[list[str]], caption: str = "", label: str = "",
               numeric: list[bool] | None = None) -> str:
    """A pandoc pipe table (numbers right-aligned) with an optional caption and `{#tbl-...}` id."""
    n = len(header)
    if numeric is None:
        numeric = []
        for j in range(n):
            vals = [r[j].replace(",", "").strip() for r in rows if r[j].strip() not in ("", "–", "—", "nan", "NaN")]
            numeric.append(bool(vals) and all(NUM_RE.match(v) for v in vals))
    # dashes proportional to each column's widest cell: when pandoc gives the table relative
    # widths (wide tables), long headers get room instead of overlapping their neighbours
    widths = [max([len(header[j])] + [len(r[j]) for r in rows] + [3]) for j in range(n)]
    dashes = [max(3, min(30, w)) for w in widths]
    lines = ["| " + " | ".join(_md_cell(_breakable(h)) for h in header) + " |",
             "|" + "|".join(("-" * dashes[j] + ":") if numeric[j] else (":" + "-" * dashes[j]) for j in range(n)) + "|"]
    lines += ["| " + " | ".join(_md_cell(_breakable(c)) for c in r) + " |" for r in rows]
    if caption or label:
        attr = f" {{#{label}}}" if label else ""
        lines += ["", f": {caption}{attr}"]
    return "\n".join(lines) + "\n"
