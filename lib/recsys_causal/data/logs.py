"""Interaction logs of the long-term track: where they are, which columns they use, how to read them.

`longterm.data_path` names one of

* a **KuaiRec dataset folder** (holding `<matrix>.csv`): the KuaiRec preset of the column
  mapping (user_id, video_id, timestamp, date, watch_ratio, play_duration, the defaults of
  `longterm.columns`);
* a **Parquet file**, a **folder of Parquet files** (searched recursively, so a Hive-partitioned
  folder such as `log/date=2024-01-01/part-0.parquet` works, its partition columns included),
* a **glob** (`logs/2024-*.parquet`, `exports/*.csv`), or a **CSV file**;
* on Spark, also a URL of the cluster's storage (`s3a://...`, `hdfs://...`, `gs://...`), read
  by Spark itself (nothing is checked on this machine).

`longterm.columns` maps the log's own names onto the roles the panel needs. A day comes from
`columns.date` (a date, an integer or text YYYYMMDD, or text YYYY-MM-DD) or, when that is empty,
from the UTC calendar day of `columns.timestamp` (epoch seconds or a timestamp). Duplicate
events repeat (user, item, timestamp); without a timestamp none are removed.

`events_sql` is the one canonical projection of a log (DuckDB dialect, transpiled for Spark by
SQLGlot), so every engine reads the same columns with the same types. `check_log` is the cheap
preflight: the schema (DuckDB `DESCRIBE`) and the first rows (a `LIMIT` query), one line naming
the file, the column and what was expected.
"""

from __future__ import annotations

import glob as _glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from recsys_causal.data.errors import DataError
from recsys_causal.data.kuairec import matrix_path
from recsys_causal.params import LongtermParams

SourceKind = Literal["kuairec", "parquet", "csv"]
GLOB_CHARS = re.compile(r"[*?\[]")
URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
INTEGER_TYPES = NUMERIC_TYPES[:10]
KUAIREC_PRESET = {"user": "user_id", "item": "video_id", "timestamp": "timestamp", "date": "date",
                  "engagement": "watch_ratio", "duration": "play_duration"}
SAMPLE_ROWS = 1000  # rows the preflight reads to check that values parse
ROLES = ("user", "item", "timestamp", "date", "engagement", "duration")
# KuaiRec CSVs are read with these types (the files hold "20200705.0" dates and empty cells)
KUAIREC_TYPES = {"user_id": "BIGINT", "video_id": "BIGINT", "play_duration": "DOUBLE", "date": "DOUBLE",
                 "timestamp": "DOUBLE", "watch_ratio": "DOUBLE"}


@dataclass(frozen=True)
class LogSource:
    """A resolved interaction log: what the engines read and how its columns map onto roles."""

    data_path: str  # as the parameters give it
    kind: SourceKind
    pattern: str  # the file, folder glob or URL the engines read
    files: tuple[Path, ...]  # the local files matched (empty for a URL)
    hive: bool  # Hive-style partition folders (key=value) below the folder
    columns: dict[str, str]  # role -> column name ('' = not in the log)

    @property
    def remote(self) -> bool:
        """True for a URL of a cluster's storage (read by Spark, not checked locally)."""
        return bool(URL_RE.match(self.pattern))

    @property
    def label(self) -> str:
        """The file name (one file) or the pattern, for messages."""
        return self.files[0].name if len(self.files) == 1 else self.pattern

    def col(self, role: str) -> str:
        """The log's column for `role` ('' when the mapping leaves it out)."""
        return self.columns.get(role, "").strip()


def _columns_dict(columns: Any) -> dict[str, str]:
    if columns is None:
        return dict(KUAIREC_PRESET)
    if hasattr(columns, "model_dump"):
        columns = columns.model_dump()
    return {r: str((columns or {}).get(r, "") or "") for r in ROLES}


def _kind_of(name: str) -> SourceKind | None:
    low = name.lower()
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _visible(p: Path, base: Path) -> bool:
    return not any(part.startswith((".", "_")) for part in p.relative_to(base).parts)


def resolve_source(data_path: str, matrix: str = "small_matrix", columns: Any = None,
                   root: Path | None = None) -> LogSource:
    """Resolve `longterm.data_path` into a `LogSource`; `DataError` naming the path when nothing matches."""
    from recsys_causal.paths import resolve

    cols = _columns_dict(columns)
    text = str(data_path).strip()
    if URL_RE.match(text):
        kind = _kind_of(text.rstrip("/")) or "parquet"
        return LogSource(text, kind, text, (), False, cols)
    if GLOB_CHARS.search(text):
        pattern = str(resolve(text, root))
        files = tuple(sorted(Path(f) for f in _glob.glob(pattern, recursive=True) if Path(f).is_file()))
        if not files:
            raise DataError(f"longterm.data_path '{data_path}' matches no file (expected Parquet or CSV files)")
        kinds = {_kind_of(f.name) for f in files}
        if len(kinds) != 1 or None in kinds:
            raise DataError(f"longterm.data_path '{data_path}' matches {', '.join(sorted({f.suffix or f.name for f in files}))} "
                            "files (expected only Parquet or only CSV files)")
        return LogSource(text, kinds.pop(), pattern, files, False, cols)  # type: ignore[arg-type]
    path = resolve(text, root)
    if path.is_dir():
        kuairec = matrix_path(path, matrix)
        if kuairec.is_file():  # the KuaiRec preset; with other column names, a plain CSV
            kind: SourceKind = "kuairec" if cols == KUAIREC_PRESET else "csv"
            return LogSource(text, kind, str(kuairec), (kuairec,), False, cols)
        parquet = tuple(sorted(p for p in path.rglob("*") if p.is_file() and _kind_of(p.name) == "parquet"
                               and _visible(p, path)))
        if parquet:
            hive = any("=" in part for p in parquet for part in p.relative_to(path).parts[:-1])
            return LogSource(text, "parquet", str(path / "**" / "*.parquet") if any(
                p.suffix == ".parquet" for p in parquet) else str(path / "**" / f"*{parquet[0].suffix}"),
                parquet, hive, cols)
        csvs = tuple(sorted(p for p in path.glob("*.csv") if _visible(p, path)))
        if len(csvs) == 1:
            return LogSource(text, "csv", str(csvs[0]), csvs, False, cols)
        raise DataError(f"longterm.data_path '{data_path}' holds no {matrix}.csv and no Parquet files "
                        "(expected a KuaiRec dataset folder or a folder of Parquet files)")
    if path.is_file():
        kind = _kind_of(path.name)
        if kind is None:
            raise DataError(f"longterm.data_path '{data_path}' is neither a Parquet nor a CSV file "
                            "(expected .parquet or .csv, or a dataset folder)")
        return LogSource(text, kind, str(path), (path,), False, cols)
    raise DataError(f"longterm.data_path '{data_path}' does not exist (expected a KuaiRec dataset folder, "
                    "a Parquet file or folder, a glob or a CSV file)")


def describe_source(source: LogSource, high_watch_threshold: float | None = None) -> str:
    """One sentence naming the log and its column mapping, for the book's first lines."""
    what = {"kuairec": "the KuaiRec file", "parquet": "the Parquet log", "csv": "the CSV log"}[source.kind]
    n = len(source.files)
    where = f"`{source.data_path}`" + (f" ({n} files)" if n > 1 else "")
    c = source.columns
    day = f"day = {c['date']}" if c.get("date") else f"day = the UTC day of {c['timestamp']}"
    parts = [f"user = {c['user']}", f"item = {c['item']}", day]
    if c.get("timestamp"):
        parts.append(f"time = {c['timestamp']}")
    parts.append(f"engagement = {c['engagement']}")
    if c.get("duration"):
        parts.append(f"duration = {c['duration']}")
    high = (f"; an event is high-engagement when {c['engagement']} >= {high_watch_threshold:g}"
            if high_watch_threshold is not None else "")
    return f"The long-term track reads {what} {where} with {', '.join(parts)}{high}."


# ----------------------------------------------------------------------------------------------
# Reading: DuckDB relations and the canonical projection
# ----------------------------------------------------------------------------------------------
def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A column name quoted for SQL."""
    return '"' + name.replace('"', '""') + '"'


def duckdb_relation(source: LogSource) -> str:
    """The DuckDB table function that reads the log's files."""
    if source.kind == "parquet":
        files = source.pattern if source.remote or len(source.files) != 1 else str(source.files[0])
        hive = "true" if source.hive else "false"
        union = ", union_by_name = true" if len(source.files) != 1 else ""
        return f"read_parquet({_q(files)}, hive_partitioning = {hive}{union})"
    types = ""
    if source.kind == "kuairec":
        types = ", types = {" + ", ".join(f"{_q(k)}: {_q(v)}" for k, v in KUAIREC_TYPES.items()) + "}"
    union = ", union_by_name = true" if len(source.files) != 1 else ""  # one file: the parallel reader
    return f"read_csv({_q(source.pattern)}, header = true{union}{types})"


def connect(memory_limit: str = "1GB", threads: int | None = None, temp_dir: str | None = None) -> Any:
    """A DuckDB connection with the memory limit, UTC session time and a spill folder."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = {_q(memory_limit)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_dir:
        con.execute(f"SET temp_directory = {_q(temp_dir)}")
    return con


def schema(con: Any, source: LogSource) -> dict[str, str]:
    """Column name -> DuckDB type of the log (a `DESCRIBE`, which reads only metadata and a sample)."""
    import duckdb

    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {duckdb_relation(source)}").fetchall()
    except duckdb.Error as exc:
        raise DataError(f"{source.label}: cannot be read as {source.kind.replace('kuairec', 'CSV')} "
                        f"({str(exc).splitlines()[0]})") from None
    return {str(r[0]): str(r[1]).upper() for r in rows}


@dataclass(frozen=True)
class ColumnForms:
    """How each mapped column is turned into its canonical form (decided from the schema)."""

    day: Literal["date", "yyyymmdd", "timestamp", "epoch"]  # the source of the day
    ts: Literal["none", "epoch", "timestamp"]


def _base(t: str) -> str:
    return t.split("(")[0].strip()


def column_forms(source: LogSource, types: dict[str, str], sample: dict[str, list[Any]] | None = None) -> ColumnForms:
    """Decide the day and timestamp forms from the column types (and, for text, a sample of values)."""
    ts_col, date_col = source.col("timestamp"), source.col("date")
    ts_form: Literal["none", "epoch", "timestamp"] = "none"
    if ts_col:
        ts_form = "epoch" if _base(types[ts_col]) in NUMERIC_TYPES else "timestamp"
    if date_col:
        t = _base(types[date_col])
        if t in NUMERIC_TYPES:
            return ColumnForms("yyyymmdd", ts_form)
        if t.startswith("TIMESTAMP"):
            return ColumnForms("timestamp", ts_form)
        if t == "DATE":
            return ColumnForms("date", ts_form)
        values = [str(v).strip() for v in (sample or {}).get(date_col, []) if v is not None]
        if values and all(re.fullmatch(r"\d{8}(\.0+)?", v) for v in values):
            return ColumnForms("yyyymmdd", ts_form)
        return ColumnForms("date", ts_form)
    return ColumnForms("epoch" if ts_form == "epoch" else "timestamp", ts_form)


def day_expr(source: LogSource, forms: ColumnForms) -> str:
    """SQL (DuckDB dialect, portable through SQLGlot) of the event's calendar day."""
    if source.col("date"):
        c = ident(source.col("date"))
        if forms.day == "yyyymmdd":
            x = f"CAST({c} AS DOUBLE)"
            return (f"MAKE_DATE(CAST(FLOOR({x} / 10000) AS INT), CAST(CAST(FLOOR({x} / 100) AS BIGINT) % 100 AS INT), "
                    f"CAST(CAST(FLOOR({x}) AS BIGINT) % 100 AS INT))")
        if forms.day == "timestamp":
            return f"CAST(CAST({c} AS TIMESTAMP) AS DATE)"
        return f"CAST({c} AS DATE)"
    c = ident(source.col("timestamp"))
    if forms.ts == "epoch":
        # arithmetic, not a timestamp conversion per row (several times faster on a large log)
        return f"CAST('1970-01-01' AS DATE) + CAST(FLOOR(CAST({c} AS DOUBLE) / 86400) AS INTEGER)"
    return f"CAST(CAST({c} AS TIMESTAMP) AS DATE)"


def ts_key_expr(source: LogSource, forms: ColumnForms) -> str:
    """SQL of the event time as a duplicate key (epoch milliseconds, or the timestamp itself)."""
    if forms.ts == "none":
        return "CAST(NULL AS BIGINT)"
    c = ident(source.col("timestamp"))
    if forms.ts == "epoch":
        return f"CAST(ROUND(CAST({c} AS DOUBLE) * 1000) AS BIGINT)"
    return f"CAST({c} AS TIMESTAMP)"


def events_sql(source: LogSource, forms: ColumnForms, relation: str = "log_source") -> str:
    """The canonical projection of the log: user_id, item_key, ts_key, event_day, play_duration, engagement."""
    dur = f"CAST({ident(source.col('duration'))} AS DOUBLE)" if source.col("duration") else "CAST(0 AS DOUBLE)"
    return (
        f"SELECT CAST({ident(source.col('user'))} AS BIGINT) AS user_id, {ident(source.col('item'))} AS item_key, "
        f"{ts_key_expr(source, forms)} AS ts_key, {day_expr(source, forms)} AS event_day, "
        f"{dur} AS play_duration, CAST({ident(source.col('engagement'))} AS DOUBLE) AS engagement FROM {relation}"
    )


# ----------------------------------------------------------------------------------------------
# Preflight: cheap checks with one-line messages
# ----------------------------------------------------------------------------------------------
def check_log(source: LogSource, memory_limit: str = "1GB") -> ColumnForms:
    """Check the mapped columns exist and their first rows parse (schema + a LIMIT query); return their forms.

    Raises `DataError` naming the file, the column (and its parameter) and what was expected.
    """
    import duckdb

    if source.kind == "kuairec":  # the KuaiRec header check first, with its own messages
        from recsys_causal.data.kuairec import validate_folder

        validate_folder(source.files[0].parent, source.files[0].stem)
    if source.remote:
        return ColumnForms("date" if source.col("date") else "epoch", "epoch" if source.col("timestamp") else "none")
    con = connect(memory_limit, threads=1)
    try:
        types = schema(con, source)
        present = ", ".join(types)
        for role in ROLES:
            col = source.col(role)
            if col and col not in types:
                hint = ("; set longterm.columns.date= (empty) to use the UTC day of the timestamp"
                        if role == "date" else "")
                raise DataError(f"{source.label}: column '{col}' (longterm.columns.{role}) not found "
                                f"(found: {present}){hint}")
        for role, what in (("engagement", "numeric engagement values"), ("duration", "a numeric duration in ms")):
            col = source.col(role)
            if col and _base(types[col]) not in NUMERIC_TYPES and _base(types[col]) != "VARCHAR":
                raise DataError(f"{source.label}: column '{col}' (longterm.columns.{role}) has type "
                                f"{types[col]} (expected {what})")
        used = [source.col(r) for r in ROLES if source.col(r)]
        sel = ", ".join(ident(c) for c in dict.fromkeys(used))
        con.execute(f"CREATE TEMP TABLE log_sample AS SELECT {sel} FROM {duckdb_relation(source)} LIMIT {SAMPLE_ROWS}")
        rows = con.execute("SELECT * FROM log_sample").fetchall()
        names = list(dict.fromkeys(used))
        sample = {c: [r[i] for r in rows] for i, c in enumerate(names)}
        forms = column_forms(source, types, sample)
        checks = [
            ("user", "BIGINT", "integer user ids"),
            ("engagement", "DOUBLE", "numeric engagement values"),
            ("duration", "DOUBLE", "a numeric duration in ms"),
        ]
        for role, sql_type, what in checks:
            col = source.col(role)
            if col:
                _check_values(con, source, col, role, f"TRY_CAST({ident(col)} AS {sql_type})", what)
        if source.col("date"):
            c = ident(source.col("date"))
            if forms.day == "yyyymmdd":
                parsed = f"TRY_STRPTIME(CAST(TRY_CAST(TRY_CAST({c} AS DOUBLE) AS BIGINT) AS VARCHAR), '%Y%m%d')"
                expected = "a date written YYYYMMDD, e.g. 20200705"
            else:
                parsed, expected = f"TRY_CAST({c} AS {'TIMESTAMP' if forms.day == 'timestamp' else 'DATE'})", \
                    "a date such as 2020-07-05"
            _check_values(con, source, source.col("date"), "date", parsed, expected)
        if source.col("timestamp"):
            c = ident(source.col("timestamp"))
            parsed, expected = ((f"TRY_CAST({c} AS DOUBLE)", "epoch seconds") if forms.ts == "epoch" else
                                (f"TRY_CAST({c} AS TIMESTAMP)", "a timestamp such as 2020-07-05 12:00:00"))
            _check_values(con, source, source.col("timestamp"), "timestamp", parsed, expected)
        return forms
    except duckdb.Error as exc:
        raise DataError(f"{source.label}: cannot be read ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()


def _check_values(con: Any, source: LogSource, col: str, role: str, parsed: str, expected: str) -> None:
    bad = con.execute(
        f"SELECT {ident(col)} FROM log_sample WHERE {ident(col)} IS NOT NULL AND ({parsed}) IS NULL LIMIT 1").fetchall()
    if bad:
        raise DataError(f"{source.label}: column '{col}' (longterm.columns.{role}) has a value {bad[0][0]!r} "
                        f"that does not parse (expected {expected})")


# ----------------------------------------------------------------------------------------------
# The reference reader: the canonical table in pandas (for the pandas engine and the tests)
# ----------------------------------------------------------------------------------------------
def load_log_frame(source: LogSource, duplicate_policy: str = "keep_first", memory_limit: str = "1GB",
                   forms: ColumnForms | None = None) -> tuple[Any, Any]:
    """Read a log into the canonical interaction table of `recsys_causal.data.kuairec` and a `LoadReport`.

    The columns come through `events_sql` (the projection every engine uses); duplicates of
    (user, item, timestamp) are removed in file order as the KuaiRec loader does.
    """
    import numpy as np
    import pandas as pd

    from recsys_causal.data.kuairec import OUTLIER_WATCH_RATIO, LoadReport, _duplicated

    forms = forms or check_log(source, memory_limit)
    con = connect(memory_limit)
    con.execute("SET preserve_insertion_order = true")  # file order decides which duplicate is first
    try:
        df = con.sql(f"SELECT * FROM ({events_sql(source, forms, duckdb_relation(source))}) AS e").to_arrow_table().to_pandas()
    finally:
        con.close()
    report = LoadReport(file=source.label, duplicate_policy=duplicate_policy, rows_read=len(df))
    for col, role in (("user_id", "user"), ("engagement", "engagement"), ("play_duration", "duration")):
        n = int(df[col].isna().sum())
        if n and source.col(role):
            raise DataError(f"{source.label}: column '{source.col(role)}' (longterm.columns.{role}) has {n:,} "
                            "empty value(s) (expected a value in every row)")
    has_time = df["event_day"].notna() & (df["ts_key"].notna() if source.col("timestamp") else True)
    report.rows_missing_date = int((~has_time).sum())
    df = df.loc[has_time].reset_index(drop=True)
    day = pd.to_datetime(df["event_day"])
    date = (day.dt.year * 10000 + day.dt.month * 100 + day.dt.day).to_numpy().astype(np.int32)
    user = df["user_id"].to_numpy().astype(np.int64)
    if source.col("timestamp"):
        ts = df["ts_key"]
        ts_int = (pd.to_datetime(ts).to_numpy().astype("datetime64[us]").astype(np.int64)
                  if forms.ts == "timestamp" else ts.to_numpy().astype(np.int64))
        items = pd.factorize(df["item_key"].to_numpy())[0].astype(np.int64)
        dup = _duplicated(user, items, ts_int)
    else:
        dup = np.zeros(len(df), dtype=bool)
    report.duplicate_rows = int(dup.sum())
    keep = ~dup if duplicate_policy == "keep_first" else np.ones(len(df), dtype=bool)
    report.duplicates_removed = int(dup.sum()) if duplicate_policy == "keep_first" else 0
    out = pd.DataFrame({
        "user_id": user[keep], "video_id": pd.factorize(df["item_key"].to_numpy())[0][keep].astype(np.int64),
        "play_duration": df["play_duration"].to_numpy(dtype="float64")[keep], "date": date[keep],
        "watch_ratio": df["engagement"].to_numpy(dtype="float64")[keep],
    })
    if out.empty:
        raise DataError(f"{source.label}: no rows with a day (expected at least one interaction)")
    wr = out["watch_ratio"].to_numpy()
    report.rows_kept = len(out)
    report.rows_watch_ratio_above_threshold = int((wr > OUTLIER_WATCH_RATIO).sum())
    report.max_watch_ratio = float(wr.max())
    report.users = int(out["user_id"].nunique())
    report.first_date, report.last_date = int(out["date"].min()), int(out["date"].max())
    return out, report


def source_files_fingerprint(source: LogSource) -> str:
    """Hash of the matched files' names, sizes and modification times (or of the URL)."""
    import hashlib

    h = hashlib.sha256(source.pattern.encode())
    for f in source.files:
        st = f.stat()
        h.update(f"{f}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def describe_longterm_data(params: LongtermParams) -> str:
    """One sentence naming the long-term track's data (a `LongtermParams`): the log and its mapping, or the simulator."""
    if not params.data_path:
        return "The long-term track reads the KuaiRec-format simulator's file (simulated data)."
    return describe_source(resolve_source(params.data_path, params.matrix, params.columns), params.high_watch_threshold)
