"""KuaiRec loader: schema checks and a canonical interaction table from `small_matrix.csv` / `big_matrix.csv`.

Real files and the KuaiRec-format simulator (`recsys_causal.simulate.kuairec`) go through this
one code path. The interaction files have the columns

    user_id, video_id, play_duration (ms), video_duration (ms),
    time ("2020-07-05 05:27:48.378"), date (YYYYMMDD), timestamp (float seconds), watch_ratio

Quirks of the real files, and what the loader does about them:

* **Rows without a time.** A few `small_matrix.csv` rows have empty `time`, `date` and
  `timestamp` (which is why pandas reads `date` as a float such as `20200705.0`). They cannot be
  placed on a day, so they are dropped and counted (`LoadReport.rows_missing_date`).
* **Duplicate rows.** `big_matrix.csv` repeats some `(user_id, video_id, time)` rows.
  `duplicate_policy="keep_first"` (default) keeps the first occurrence in file order and counts
  the rest (`LoadReport.duplicates_removed`); `"keep_all"` keeps every row (and still counts
  them in `LoadReport.duplicate_rows`). The key uses `timestamp` instead of the `time` string:
  `time` is `timestamp` written in UTC+8 at millisecond precision, so the two identify the same
  instant, and the loader never has to parse 12.5M strings.
* **Watch-ratio outliers.** `watch_ratio` reaches values far above 1 (replays of short videos).
  Rows are kept and counted above `OUTLIER_WATCH_RATIO` (5); the panel caps watch ratios at
  `LongtermParams.watch_ratio_cap` before averaging them (the high-watch indicator uses the raw
  value), so a single replayed clip cannot dominate a day's average.
* **date** is returned as an int YYYYMMDD (`int32`).

Reading is columnar (pyarrow.csv with `include_columns` and explicit types): the `time`
strings are never materialised.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from recsys_causal.data.errors import DataError

MATRICES = ("small_matrix", "big_matrix")
KUAIREC_COLUMNS: tuple[str, ...] = (
    "user_id",
    "video_id",
    "play_duration",
    "video_duration",
    "time",
    "date",
    "timestamp",
    "watch_ratio",
)
OPTIONAL_FILES = ("user_features.csv", "item_categories.csv", "item_daily_features.csv")
OUTLIER_WATCH_RATIO = 5.0  # rows above this are counted as watch-ratio outliers (kept)
DuplicatePolicy = Literal["keep_first", "keep_all"]

# Columns read from the file (time is checked in the header but never loaded) and their types.
_READ_TYPES: dict[str, pa.DataType] = {
    "user_id": pa.int64(),
    "video_id": pa.int64(),
    "play_duration": pa.float64(),  # fallback: "4381.0" parses too; checked to be whole ms
    "video_duration": pa.float64(),
    "date": pa.float64(),  # float: empty cells and "20200705.0" both parse
    "timestamp": pa.float64(),
    "watch_ratio": pa.float64(),
}
#: Columns of the canonical interaction table returned by `load_interactions`.
INTERACTION_COLUMNS: tuple[str, ...] = (
    "user_id",
    "video_id",
    "play_duration",
    "video_duration",
    "date",
    "timestamp",
    "watch_ratio",
)


@dataclass
class LoadReport:
    """What the loader read, dropped and flagged (one per file)."""

    file: str
    rows_read: int = 0
    rows_missing_date: int = 0
    duplicate_policy: str = "keep_first"
    duplicate_rows: int = 0  # rows repeating an earlier (user_id, video_id, time)
    duplicates_removed: int = 0
    rows_kept: int = 0
    watch_ratio_outlier_threshold: float = OUTLIER_WATCH_RATIO
    rows_watch_ratio_above_threshold: int = 0
    max_watch_ratio: float = float("nan")
    users: int = 0
    first_date: int = 0
    last_date: int = 0
    optional_files: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The numeric counts as `metric, value` rows (for the panel summary and the chapter)."""
        rows = [
            ("rows_read", self.rows_read),
            ("rows_dropped_missing_date", self.rows_missing_date),
            ("duplicate_rows", self.duplicate_rows),
            ("duplicates_removed", self.duplicates_removed),
            ("rows_kept", self.rows_kept),
            ("rows_watch_ratio_above_threshold", self.rows_watch_ratio_above_threshold),
            ("watch_ratio_outlier_threshold", self.watch_ratio_outlier_threshold),
            ("max_watch_ratio", self.max_watch_ratio),
            ("users_loaded", self.users),
            ("first_date", self.first_date),
            ("last_date", self.last_date),
        ]
        return pd.DataFrame(rows, columns=["metric", "value"]).astype({"value": "float64"})

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# ----------------------------------------------------------------------------------------------
# Cheap checks
# ----------------------------------------------------------------------------------------------
def matrix_path(folder: str | Path, matrix: str) -> Path:
    """Path of `<matrix>.csv` inside a KuaiRec folder (accepts the folder or its `data/` child)."""
    if matrix not in MATRICES:
        raise DataError(f"unknown KuaiRec matrix '{matrix}' (expected one of {', '.join(MATRICES)})")
    folder = Path(folder)
    for cand in (folder / f"{matrix}.csv", folder / "data" / f"{matrix}.csv"):
        if cand.is_file():
            return cand
    return folder / f"{matrix}.csv"


def read_header(path: Path) -> list[str]:
    """The header row of a CSV file (names stripped of blanks and a BOM)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError:
        raise DataError(f"{path.name}: not a UTF-8 text CSV file ({path})") from None
    if not header:
        raise DataError(f"{path.name}: the file is empty (expected a header {', '.join(KUAIREC_COLUMNS)})")
    return [h.strip() for h in header]


def validate_folder(folder: str | Path, matrix: str = "small_matrix") -> None:
    """Check that `folder` holds `<matrix>.csv` with every KuaiRec column (header only; fast).

    Raises `DataError` naming the folder, file or column on failure.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"KuaiRec folder '{folder}' does not exist or is not a folder")
    path = matrix_path(folder, matrix)
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir() if p.suffix == ".csv")
        raise DataError(
            f"{path.name}: not found in '{folder}' (present: {', '.join(present) or 'no CSV files'})"
        )
    header = read_header(path)
    for col in KUAIREC_COLUMNS:
        if col not in header:
            raise DataError(
                f"{path.name}: missing column '{col}' (expected {', '.join(KUAIREC_COLUMNS)}; "
                f"found {', '.join(header)})"
            )


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------
# First try: integer columns parsed as integers (faster, no conversion); files that write them
# as floats ("4381.0") or with ids beyond int32 fall back to `_READ_TYPES`.
_FAST_TYPES: dict[str, pa.DataType] = {
    **_READ_TYPES,
    "user_id": pa.int32(),
    "video_id": pa.int32(),
    "play_duration": pa.int64(),
    "video_duration": pa.int64(),
}


def _read_table(path: Path, columns: tuple[str, ...] | None = None) -> pa.Table:
    """The typed columns of a KuaiRec CSV (all of `_READ_TYPES`, or only `columns`), with a
    one-line error naming the column of a value that does not parse."""
    pick = (lambda t: {k: v for k, v in t.items() if k in columns}) if columns else (lambda t: t)
    try:
        return _read_typed(path, pick(_FAST_TYPES))
    except pa.ArrowInvalid:
        pass
    try:
        return _read_typed(path, pick(_READ_TYPES))
    except pa.ArrowInvalid as exc:
        header = read_header(path)
        msg = str(exc).splitlines()[0]
        col = _column_from_arrow_error(msg, header)
        if col:
            expected = ("a date written YYYYMMDD, e.g. 20200705" if col == "date" else
                        "integer" if _READ_TYPES[col] == pa.int64() else "number")
            bad = msg.split("invalid value", 1)[-1].strip() if "invalid value" in msg else ""
            raise DataError(
                f"{path.name}: column '{col}' has a non-numeric value {bad} (expected {expected})".replace("  ", " ")
            ) from None
        raise DataError(f"{path.name}: cannot be parsed as a KuaiRec CSV ({msg})") from None


def _read_typed(path: Path, types: dict[str, pa.DataType]) -> pa.Table:
    include = list(types)
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(
            include_columns=include,
            column_types=types,
            null_values=["", "NaN", "nan", "NULL", "null"],
            strings_can_be_null=True,
        ),
    )


def _column_from_arrow_error(msg: str, header: list[str]) -> str:
    # pyarrow: "In CSV column #7: Row #3: CSV conversion error to double: invalid value 'abc'"
    if "column #" not in msg:
        return ""
    try:
        idx = int(msg.split("column #", 1)[1].split(":", 1)[0])
    except ValueError:
        return ""
    return header[idx] if 0 <= idx < len(header) else ""


def _check_integral(path: Path, name: str, values: np.ndarray) -> None:
    finite = np.isfinite(values)
    if not finite.all() or (values != np.floor(values)).any():
        raise DataError(f"{path.name}: column '{name}' has non-integer values (expected whole milliseconds)")


def load_interactions(
    folder: str | Path,
    matrix: str = "small_matrix",
    duplicate_policy: DuplicatePolicy = "keep_first",
) -> tuple[pd.DataFrame, LoadReport]:
    """Read `<matrix>.csv` into the canonical interaction table and a `LoadReport`.

    Returns a frame with `INTERACTION_COLUMNS` (user_id/video_id int32 when they fit, else int64, play_duration and
    video_duration int64 ms, date int32 YYYYMMDD, timestamp float64 s, watch_ratio float64),
    in file order, without rows lacking a date, duplicates handled by `duplicate_policy`.
    """
    _check_policy(duplicate_policy)
    validate_folder(folder, matrix)
    path = matrix_path(folder, matrix)
    optional = [f for f in OPTIONAL_FILES if (Path(folder) / f).is_file()]
    return interactions_from_table(_read_table(path), path, duplicate_policy, optional)


def _check_policy(duplicate_policy: str) -> None:
    if duplicate_policy not in ("keep_first", "keep_all"):
        raise DataError(f"duplicate_policy '{duplicate_policy}' is unknown (expected keep_first or keep_all)")


def typed_table(table: pa.Table) -> pa.Table:
    """A table with the KuaiRec CSV's columns as text or numbers, typed as `_read_table` types the
    file (the integer columns as the fast first try does), so `interactions_from_table` treats it
    exactly as the file it would be written to."""
    types = {k: v for k, v in _FAST_TYPES.items() if k in table.column_names}
    return pa.table({k: table.column(k).cast(t) for k, t in types.items()})


def interactions_from_table(
    table: pa.Table,
    path: Path,
    duplicate_policy: DuplicatePolicy = "keep_first",
    optional_files: list[str] | None = None,
) -> tuple[pd.DataFrame, LoadReport]:
    """`load_interactions` after the read: the checks, the rows without a date, the duplicates
    and the canonical types, on a typed table (`path` names the file in messages and the report)."""
    _check_policy(duplicate_policy)
    path = Path(path)
    report = LoadReport(file=path.name, duplicate_policy=duplicate_policy, rows_read=table.num_rows)
    report.optional_files = list(optional_files or [])

    # Rows without a time cannot be placed on a day: drop and count them.
    missing = pc.or_kleene(pc.is_null(table.column("date")), pc.is_null(table.column("timestamp")))
    missing_np = missing.to_numpy(zero_copy_only=False).astype(bool) if table.num_rows else np.zeros(0, bool)
    del missing
    n_missing = int(missing_np.sum())
    report.rows_missing_date = n_missing

    for col in ("user_id", "video_id", "watch_ratio", "play_duration", "video_duration"):
        if table.column(col).null_count:
            raise DataError(f"{path.name}: column '{col}' has {table.column(col).null_count} empty values (expected a value in every row)")

    cols: dict[str, np.ndarray] = {}
    keep_rows = ~missing_np if n_missing else None
    for name in INTERACTION_COLUMNS:  # column by column, releasing the arrow buffers as we go
        arr = table.column(name).to_numpy()
        table = table.drop_columns([name])
        if keep_rows is not None:
            arr = arr[keep_rows]
        if name in ("user_id", "video_id") and len(arr) and arr.min() >= 0 and arr.max() < 2**31:
            arr = arr.astype(np.int32, copy=False)
        cols[name] = arr
        del arr
    del table, missing_np, keep_rows
    pa.default_memory_pool().release_unused()  # hand the parse buffers back before the next steps
    dates = cols["date"]
    if (dates != np.floor(dates)).any() or (dates < 19000101).any() or (dates > 21001231).any():
        raise DataError(f"{path.name}: column 'date' has values that are not dates YYYYMMDD (e.g. 2020-07-05 as 20200705)")
    for col in ("play_duration", "video_duration"):
        _check_integral(path, col, cols[col])
    wr = cols["watch_ratio"]
    if not np.isfinite(wr).all() or (wr < 0).any():
        raise DataError(f"{path.name}: column 'watch_ratio' has negative or infinite values (expected a ratio >= 0)")
    cols["date"] = dates.astype(np.int32)
    for col in ("play_duration", "video_duration"):
        cols[col] = cols[col].astype(np.int64, copy=False)
    _check_dates(path, cols["date"])

    # Duplicates of (user_id, video_id, time); `timestamp` is the same instant as `time`.
    ts_ms = cols["timestamp"] * 1000.0
    np.rint(ts_ms, out=ts_ms)
    dup = _duplicated(cols["user_id"], cols["video_id"], ts_ms.astype(np.int64))
    del ts_ms
    report.duplicate_rows = int(dup.sum())
    if duplicate_policy == "keep_first" and report.duplicate_rows:
        keep = ~dup
        for k in list(cols):  # one column at a time: peak memory grows by one column only
            cols[k] = cols[k][keep]
        report.duplicates_removed = report.duplicate_rows
    df = pd.DataFrame(cols, copy=False)

    wr = df["watch_ratio"].to_numpy()
    report.rows_kept = len(df)
    report.rows_watch_ratio_above_threshold = int((wr > OUTLIER_WATCH_RATIO).sum())
    report.max_watch_ratio = float(wr.max()) if len(wr) else float("nan")
    report.users = int(df["user_id"].nunique())
    if len(df):
        report.first_date = int(df["date"].min())
        report.last_date = int(df["date"].max())
    if report.rows_kept == 0:
        raise DataError(f"{path.name}: no rows with a date (expected at least one interaction)")
    return df, report


def _duplicated(user: np.ndarray, video: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
    """Rows repeating an earlier (user, video, ts) in file order (exact, linear time).

    A 64-bit mix of the three keys, sorted, finds the candidate rows (those whose mix repeats);
    the exact three-column check then runs on the (few) candidates only, so a collision of the
    mix cannot drop a row.
    """
    with np.errstate(over="ignore"):
        h = user.astype(np.uint64)
        h *= np.uint64(0x9E3779B97F4A7C15)
        tmp = video.astype(np.uint64)
        tmp *= np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= tmp
        tmp[:] = ts_ms.view(np.uint64)
        tmp *= np.uint64(0x165667B19E3779F9)
        h ^= tmp
        del tmp
    out = np.zeros(len(user), dtype=bool)
    if len(h) < 2:
        return out
    hs = np.sort(h)  # a sort of uint64 is far faster than a 12.5M-entry hash table
    repeated = hs[1:][hs[1:] == hs[:-1]]
    del hs
    if not len(repeated):
        return out
    repeated = np.unique(repeated)
    pos = np.minimum(np.searchsorted(repeated, h), len(repeated) - 1)
    cand = repeated[pos] == h
    if cand.any():
        idx = np.flatnonzero(cand)
        sub = pd.DataFrame({"u": user[idx], "v": video[idx], "t": ts_ms[idx]})
        out[idx] = sub.duplicated(keep="first").to_numpy()
    return out


def _check_dates(path: Path, dates: np.ndarray) -> None:
    uniq = pd.unique(dates)
    try:
        pd.to_datetime(pd.Series(uniq.astype(str)), format="%Y%m%d", errors="raise")
    except (ValueError, TypeError):
        raise DataError(f"{path.name}: column 'date' has values that are not calendar dates YYYYMMDD") from None


# ----------------------------------------------------------------------------------------------
# Up-front content checks (before any chapter runs)
# ----------------------------------------------------------------------------------------------
MAX_DATE_GAP_DAYS = 14  # a date this far from every other date is taken for a stray value
PRIOR_WINDOW_DAYS = 3  # the panel's prior_3day_* history needs this many earlier days


def check_contents(folder: str | Path, matrix: str, high_watch_threshold: float, treatment_cutoff: float | str,
                   outcome_horizon_days: int) -> None:
    """Read the few columns the checks need and refuse data the long-term track cannot analyse.

    Raises `DataError` with one line for: negative durations, a stray date (a date more than
    `MAX_DATE_GAP_DAYS` from the bulk of the data: one mistyped year would add decades of empty
    user-days), a calendar too short for the prior window plus the outcome horizon, and a
    treatment that every user-day or none has (no contrast to estimate).
    """
    path = matrix_path(folder, matrix)
    cols = ["user_id", "date", "play_duration", "video_duration", "watch_ratio"]
    try:
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            include_columns=cols, column_types={c: _READ_TYPES[c] for c in cols if c in _READ_TYPES}))
    except pa.ArrowInvalid:
        _read_table(path)  # names the column and the value (DataError)
        return
    for col in ("play_duration", "video_duration"):
        v = t.column(col).to_numpy(zero_copy_only=False)
        n_neg = int((v < 0).sum())
        if n_neg:
            raise DataError(f"{path.name}: column '{col}' has {n_neg:,} negative value(s) (expected a duration >= 0 ms)")
    dates = t.column("date").drop_null().to_numpy(zero_copy_only=False)
    if not len(dates):
        return
    try:
        days = pd.to_datetime(pd.Series(np.unique(dates.astype(np.int64)).astype(str)), format="%Y%m%d")
    except (ValueError, TypeError):
        return  # not calendar dates: the loader says so
    day_num = ((days - days.min()).dt.days).to_numpy()
    counts = pd.Series(dates.astype(np.int64)).value_counts()
    # the bulk: the run of dates without gaps above the limit that holds the most rows
    breaks = np.flatnonzero(np.diff(day_num) > MAX_DATE_GAP_DAYS)
    blocks = np.split(np.arange(len(day_num)), breaks + 1)
    rows_of = [int(counts.loc[[int(days.iloc[i].strftime("%Y%m%d")) for i in b]].sum()) for b in blocks]
    bulk = blocks[int(np.argmax(rows_of))]
    stray = [i for b in blocks if b is not bulk for i in b]
    if stray:
        first = days.iloc[stray[0]].strftime("%Y%m%d")
        n_rows = int(sum(counts.loc[int(days.iloc[i].strftime("%Y%m%d"))] for i in stray))
        lo, hi = days.iloc[bulk[0]].date(), days.iloc[bulk[-1]].date()
        raise DataError(
            f"{path.name}: {n_rows:,} row(s) dated outside the data's period {lo} to {hi} (e.g. {first}, more than "
            f"{MAX_DATE_GAP_DAYS} days from any other date); fix or remove them")
    n_days = int(day_num[bulk[-1]] - day_num[bulk[0]]) + 1
    if n_days <= PRIOR_WINDOW_DAYS + outcome_horizon_days:
        raise DataError(
            f"{path.name}: the data span {n_days} day(s), too few for {PRIOR_WINDOW_DAYS} days of history plus "
            f"longterm.outcome_horizon_days={outcome_horizon_days} (need at least "
            f"{PRIOR_WINDOW_DAYS + outcome_horizon_days + 1})")
    if isinstance(treatment_cutoff, str):
        return  # 'median': half of the user-days are treated by construction
    day = pd.DataFrame({"u": t.column("user_id").to_numpy(zero_copy_only=False),
                        "d": t.column("date").to_numpy(zero_copy_only=False),
                        "h": t.column("watch_ratio").to_numpy(zero_copy_only=False) >= high_watch_threshold})
    rate = float((day.groupby(["u", "d"], sort=False)["h"].mean() >= treatment_cutoff).mean())
    if rate in (0.0, 1.0):
        which = "every" if rate == 1.0 else "no"
        raise DataError(
            f"{path.name}: {which} user-day is a high-watch day with longterm.high_watch_threshold="
            f"{high_watch_threshold:g} and longterm.treatment_cutoff={treatment_cutoff:g}, so there is no contrast to "
            "estimate; change one of them")
