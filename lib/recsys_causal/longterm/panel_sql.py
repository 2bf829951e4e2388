"""The user-day panel as SQL: one query, run by DuckDB over the files, or by Spark through SQLGlot.

The same definitions as `recsys_causal.longterm.panel` (the pandas reference implementation):
daily metrics per active user-day, `lag_1_*` (the previous calendar day), `prior_3day_*` (the sum
of the 3 previous calendar days, added in the reference's order lag 1 + lag 2 + lag 3), the
outcome (interactions over the next `outcome_horizon_days` calendar days), and the exclusions
(a full prior window inside the user's observation window, a full outcome window inside the
data). Inactive days count 0, which is what a missing row in a RANGE window frame gives.

The query is written once, in DuckDB's dialect; `to_spark` transpiles it with SQLGlot. Steps:

  log_source  the files (DuckDB `read_parquet` / `read_csv`; Spark `spark.read`)
  events      the canonical projection (`recsys_causal.data.logs.events_sql`)
  daily       one row per user-day, in one scan of the files (duplicates of user, item, timestamp
              collapsed first; rows without a day and empty values counted for the load report;
              engagement sums are exact DECIMAL sums, so they do not depend on the order in which
              parallel workers add them: the panel is byte-identical from run to run)
  panel       windows over `daily`; only this (and a few counts) comes back to pandas

Treatment, day names and the median cutoff are computed on the returned panel in pandas (a few
vectorised operations on the panel's rows), so both engines share them with the reference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from recsys_causal.data.errors import DataError
from recsys_causal.data.kuairec import OUTLIER_WATCH_RATIO, LoadReport
from recsys_causal.data.logs import (
    ColumnForms,
    LogSource,
    check_log,
    connect,
    duckdb_relation,
    events_sql,
)
from recsys_causal.longterm.panel import (
    DAILY_FEATURES,
    DAYS_OF_WEEK,
    PANEL_COLUMNS,
    PRIOR_WINDOW_DAYS,
    PanelResult,
    panel_summary,
)
from recsys_causal.params import memory_bytes


def decimal_type(watch_ratio_cap: float) -> str:
    """DECIMAL(18, s) holding values up to the cap: exact, order-independent 64-bit sums of capped
    engagement (s = 17 - digits of the cap's integer part, e.g. 16 decimals for a cap of 5)."""
    digits = len(str(int(abs(watch_ratio_cap))))
    return f"DECIMAL(18, {max(0, 17 - digits)})"
Engine = Literal["duckdb", "spark"]


def _num(x: float) -> str:
    return repr(float(x))


#: Bytes of DuckDB hash-table state per (user, item, timestamp, day) key of the duplicate
#: collapse (keys, aggregates and the table's slack), used to size its passes; calibrated with
#: `benchmarks/panel.py`: a 100M-row log at the 1GB default takes 24 passes and peaks under 1 GiB.
DEDUP_BYTES_PER_ROW = 120
#: Share of the memory limit one duplicate-collapse pass may fill.
DEDUP_MEMORY_SHARE = 0.5


def collapses_duplicates(source: LogSource, duplicate_policy: str) -> bool:
    """Whether the daily query collapses repeated (user, item, timestamp) events (`keep_first`
    on a log with timestamps)."""
    return duplicate_policy == "keep_first" and bool(source.col("timestamp"))


def dedup_passes(n_rows: int, memory_limit: str) -> int:
    """Passes over the log that keep each duplicate-collapse hash table within its share of the
    memory limit (1 when it fits): DuckDB would otherwise spill every key of a 100M-row log."""
    budget = max(1, int(memory_bytes(memory_limit) * DEDUP_MEMORY_SHARE) // DEDUP_BYTES_PER_ROW)
    return max(1, -(-int(n_rows) // budget))


def daily_sql(source: LogSource, high_watch_threshold: float, watch_ratio_cap: float,
              duplicate_policy: str = "keep_first", partition: tuple[int, int] | None = None) -> str:
    """SELECT of one row per (user, day) from the `events` view, in one scan of the log.

    Duplicates of (user, item, timestamp, day) are collapsed first (`keep_first`). Events without a
    day (or a time, when a timestamp is mapped) land in rows that are not `ok`: they are only
    counted, as are empty engagement or duration values, so the load report needs no second scan.
    `partition = (k, K)` keeps the users whose hash is k modulo K (rows without a user in k = 0):
    the union of the K selects is the whole table, each user in exactly one of them.
    """
    thr, cap = _num(high_watch_threshold), _num(watch_ratio_cap)
    dedup = collapses_duplicates(source, duplicate_policy)
    events = "events" if partition is None else (
        f"events WHERE COALESCE(hash(user_id) % {int(partition[1])}, 0) = {int(partition[0])}")
    ok = "event_day IS NOT NULL" + (" AND ts_key IS NOT NULL" if source.col("timestamp") else "")
    nulls = ("COUNT(*) - COUNT(engagement) AS null_engagement, "
             "COUNT(*) - COUNT(play_duration) AS null_duration")
    rows = (
        f"SELECT user_id, event_day, {ok} AS ok, MIN(play_duration) AS play_duration, MIN(engagement) AS engagement, "
        f"COUNT(*) AS copies, {nulls} FROM {events} GROUP BY user_id, item_key, ts_key, event_day"
        if dedup else
        f"SELECT user_id, event_day, {ok} AS ok, play_duration, engagement, 1 AS copies, "
        "CASE WHEN engagement IS NULL THEN 1 ELSE 0 END AS null_engagement, "
        f"CASE WHEN play_duration IS NULL THEN 1 ELSE 0 END AS null_duration FROM {events}"
    )
    return (
        "SELECT user_id, event_day, SUM(CASE WHEN ok THEN 1 ELSE 0 END) AS n, "
        "SUM(CASE WHEN ok THEN play_duration END) AS play_ms, "
        f"CAST(SUM(CASE WHEN ok THEN CAST(LEAST(engagement, {cap}) AS {decimal_type(watch_ratio_cap)}) END) AS DOUBLE) AS wr_sum, "
        f"SUM(CASE WHEN ok AND engagement >= {thr} THEN 1 ELSE 0 END) AS n_high, "
        "SUM(CASE WHEN ok THEN copies - 1 ELSE 0 END) AS duplicates, "
        "MAX(CASE WHEN ok THEN engagement END) AS max_engagement, "
        f"SUM(CASE WHEN ok AND engagement > {_num(OUTLIER_WATCH_RATIO)} THEN 1 ELSE 0 END) AS n_above, "
        "SUM(CASE WHEN ok THEN 0 ELSE copies END) AS no_time, SUM(copies) AS rows_read, "
        "SUM(null_engagement) AS null_engagement, SUM(null_duration) AS null_duration "
        f"FROM ({rows}) AS r GROUP BY user_id, event_day"
    )


def _grid_sql() -> str:
    return (
        "SELECT d.user_id, d.event_day, DATE_DIFF('day', cal.first_day, d.event_day) AS c, "
        "DATE_DIFF('day', cal.first_day, cal.last_day) + 1 AS n_days, "
        "CAST(d.n AS BIGINT) AS interactions, d.play_ms / 1000.0 AS total_play_duration_sec, "
        "d.wr_sum / d.n AS avg_watch_ratio, CAST(d.n_high AS DOUBLE) / d.n AS high_watch_share, "
        "CAST(1 AS BIGINT) AS active_day, d.duplicates, d.max_engagement, d.n_above "
        "FROM active_days AS d CROSS JOIN (SELECT MIN(event_day) AS first_day, MAX(event_day) AS last_day "
        "FROM active_days) AS cal"
    )


def panel_sql(outcome_horizon_days: int) -> str:
    """SELECT of the panel (without treatment and day names) from the `daily` table."""
    H = int(outcome_horizon_days)

    w = "OVER (PARTITION BY user_id ORDER BY c)"

    def at(f: str, k: int) -> str:
        # the value on day c - k: the row j <= k places back when its day is c - k (days are unique
        # and increasing per user), else 0 (an inactive day); LAG shares one sort for every feature
        cases = " ".join(f"WHEN LAG(c, {j}) {w} = c - {k} THEN LAG({f}, {j}) {w}" for j in range(1, k + 1))
        return f"(CASE {cases} ELSE 0 END)"

    feats = []
    for f in DAILY_FEATURES:
        feats.append(f"{at(f, 1)} AS lag_1_{f}")
        feats.append(f"{at(f, 1)} + {at(f, 2)} + {at(f, 3)} AS prior_3day_{f}")
    outcome = (f"COALESCE(SUM(interactions) OVER (PARTITION BY user_id ORDER BY c RANGE BETWEEN 1 FOLLOWING "
               f"AND {H} FOLLOWING), 0) AS outcome")
    windows = (f"SELECT *, c - MIN(c) OVER (PARTITION BY user_id) AS panel_day_index, {outcome}, "
               f"{', '.join(feats)} FROM ({_grid_sql()}) AS g")
    cols = ["user_id", "event_day AS event_date", "interactions", "total_play_duration_sec", "avg_watch_ratio",
            "high_watch_share", "outcome", *(f"lag_1_{f}" for f in DAILY_FEATURES),
            *(f"prior_3day_{f}" for f in DAILY_FEATURES), "c AS calendar_day_index", "panel_day_index"]
    return (f"SELECT {', '.join(cols)} FROM ({windows}) AS w "
            f"WHERE panel_day_index >= {PRIOR_WINDOW_DAYS} AND c + {H} <= n_days - 1 ORDER BY user_id, c")


def counts_sql(outcome_horizon_days: int) -> str:
    """SELECT of the panel's exclusion counts and the load report's counts, from `daily`."""
    H = int(outcome_horizon_days)
    return (
        "SELECT COUNT(*) AS active_user_days, "
        f"SUM(CASE WHEN p < {PRIOR_WINDOW_DAYS} THEN 1 ELSE 0 END) AS excluded_prior, "
        f"SUM(CASE WHEN p >= {PRIOR_WINDOW_DAYS} AND c + {H} > n_days - 1 THEN 1 ELSE 0 END) AS excluded_outcome, "
        "MAX(n_days) AS calendar_days, COUNT(DISTINCT user_id) AS users, SUM(interactions) AS rows_kept, "
        "SUM(duplicates) AS duplicates, MAX(max_engagement) AS max_engagement, SUM(n_above) AS n_above, "
        "MIN(event_day) AS first_day, MAX(event_day) AS last_day "
        f"FROM (SELECT *, c - MIN(c) OVER (PARTITION BY user_id) AS p FROM ({_grid_sql()}) AS g) AS t"
    )


def active_days_sql() -> str:
    """SELECT of the active user-days of `daily` (rows with a user, a day and at least one event)."""
    return "SELECT * FROM daily WHERE n > 0 AND user_id IS NOT NULL AND event_day IS NOT NULL"


def stats_sql() -> str:
    """SELECT of the rows read, rows without a day or time, and empty ids/values, from `daily`."""
    return (
        "SELECT SUM(rows_read) AS rows_read, SUM(CASE WHEN user_id IS NULL THEN 0 ELSE no_time END) AS no_time, "
        "SUM(CASE WHEN user_id IS NULL THEN rows_read ELSE 0 END) AS no_user, "
        "SUM(null_engagement) AS no_engagement, SUM(null_duration) AS no_duration FROM daily"
    )


def to_spark(sql: str) -> str:
    """The DuckDB SQL transpiled to Spark SQL (SQLGlot)."""
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write="spark")[0]


# ----------------------------------------------------------------------------------------------
# Engines: the same statements, materialised as DuckDB temp tables or cached Spark views
# ----------------------------------------------------------------------------------------------
class _DuckDBRunner:
    def __init__(self, source: LogSource, memory_limit: str, tmp: str, threads: int | None = None):
        self.con = connect(memory_limit, threads=threads, temp_dir=tmp)
        self.kind, self.files = source.kind, source.files
        if source.kind == "kuairec":
            # the KuaiRec CSV through pyarrow's multi-threaded reader (only the columns the panel
            # uses, the `time` strings skipped), which DuckDB then scans in place
            from recsys_causal.data.kuairec import _read_table

            used = tuple(c for c in source.columns.values() if c)  # not video_duration: ~8 bytes a row less
            self.con.register("kuairec_table", _read_table(Path(source.pattern), used))
            self.con.execute("CREATE VIEW log_source AS SELECT * FROM kuairec_table")
        else:
            self.con.execute(f"CREATE VIEW log_source AS SELECT * FROM {duckdb_relation(source)}")

    def view(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE VIEW {name} AS {sql}")

    def table(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE TEMP TABLE {name} AS {sql}")

    def append(self, name: str, sql: str) -> None:
        self.con.execute(f"INSERT INTO {name} {sql}")

    def n_rows(self) -> int:
        """Rows of the log: Parquet footers and the in-memory KuaiRec table answer without a scan;
        a CSV is estimated from its size (40 bytes a row, a low guess: more passes, never fewer)."""
        if self.kind == "csv":
            return sum(f.stat().st_size for f in self.files) // 40
        return int(self.con.execute("SELECT COUNT(*) FROM log_source").fetchall()[0][0])

    def frame(self, sql: str) -> Any:
        return self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        self.con.close()


class _SparkRunner:
    def __init__(self, source: LogSource, master: str):
        from recsys_causal.longterm.spark import read_log, spark_session

        self.spark = spark_session(master)
        read_log(self.spark, source).createOrReplaceTempView("log_source")
        self.cached: list[Any] = []

    def view(self, name: str, sql: str) -> None:
        self.spark.sql(to_spark(sql)).createOrReplaceTempView(name)

    def table(self, name: str, sql: str) -> None:
        df = self.spark.sql(to_spark(sql)).cache()
        df.count()
        df.createOrReplaceTempView(name)
        self.cached.append(df)

    def frame(self, sql: str) -> Any:
        import pyarrow as pa

        return pa.Table.from_pandas(self.spark.sql(to_spark(sql)).toPandas(), preserve_index=False)

    def close(self) -> None:
        for df in self.cached:
            df.unpersist()


@contextmanager
def _runner(engine: Engine, source: LogSource, memory_limit: str, spark_master: str,
            threads: int | None) -> Iterator[Any]:
    import duckdb

    with tempfile.TemporaryDirectory(prefix="recsys-causal-duckdb-") as tmp:
        r = _DuckDBRunner(source, memory_limit, tmp, threads) if engine == "duckdb" else _SparkRunner(source, spark_master)
        try:
            yield r
        except duckdb.Error as exc:
            raise DataError(f"{source.label}: the panel query failed ({str(exc).splitlines()[0]})") from None
        finally:
            r.close()


@dataclass
class SqlPanel:
    """The panel built by a SQL engine, its load report and the SQL it ran."""

    result: PanelResult
    report: LoadReport
    statements: dict[str, str]


def build_panel_sql(
    source: LogSource,
    high_watch_threshold: float = 1.0,
    treatment_cutoff: float | str = 0.5,
    outcome_horizon_days: int = 7,
    watch_ratio_cap: float = 5.0,
    duplicate_policy: str = "keep_first",
    engine: Engine = "duckdb",
    memory_limit: str = "1GB",
    spark_master: str = "local[2]",
    forms: ColumnForms | None = None,
    threads: int | None = None,
) -> SqlPanel:
    """Build the user-day panel of `source` with DuckDB (or Spark); same result as the pandas reference."""
    if outcome_horizon_days < 1:
        raise ValueError(f"outcome_horizon_days = {outcome_horizon_days}: expected >= 1")
    if treatment_cutoff != "median" and not 0.0 <= float(treatment_cutoff) <= 1.0:
        raise ValueError(f"treatment_cutoff = {treatment_cutoff!r}: expected a share in [0, 1] or 'median'")
    forms = forms or check_log(source, memory_limit)
    statements = {
        "events": events_sql(source, forms),
        "daily": daily_sql(source, high_watch_threshold, watch_ratio_cap, duplicate_policy),
        "active_days": active_days_sql(),
        "stats": stats_sql(),
        "counts": counts_sql(outcome_horizon_days),
        "panel": panel_sql(outcome_horizon_days),
    }
    with _runner(engine, source, memory_limit, spark_master, threads) as r:
        r.view("events", statements["events"])
        dedup = engine == "duckdb" and collapses_duplicates(source, duplicate_policy)
        passes = dedup_passes(r.n_rows(), memory_limit) if dedup else 1
        if passes == 1:
            r.table("daily", statements["daily"])
        else:  # users split by hash: each pass collapses the duplicates of a share of them
            statements["daily"] = daily_sql(source, high_watch_threshold, watch_ratio_cap, duplicate_policy, (0, passes))
            r.table("daily", statements["daily"])
            for k in range(1, passes):
                r.append("daily", daily_sql(source, high_watch_threshold, watch_ratio_cap, duplicate_policy, (k, passes)))
        r.view("active_days", statements["active_days"])
        stats = r.frame(statements["stats"]).to_pylist()[0]
        for key, role in (("no_user", "user"), ("no_engagement", "engagement"), ("no_duration", "duration")):
            n = int(stats[key] or 0)
            if n and source.col(role):
                raise DataError(f"{source.label}: column '{source.col(role)}' (longterm.columns.{role}) has {n:,} "
                                "empty value(s) (expected a value in every row)")
        counts = r.frame(statements["counts"]).to_pylist()[0]
        if not int(counts["active_user_days"] or 0):
            raise DataError(f"{source.label}: no rows with a day (expected at least one interaction)")
        panel = r.frame(statements["panel"])
    result = finish_panel(panel, counts, high_watch_threshold, treatment_cutoff, outcome_horizon_days,
                          watch_ratio_cap)
    dups = int(counts["duplicates"] or 0)
    report = LoadReport(file=source.label, duplicate_policy=duplicate_policy, rows_read=int(stats["rows_read"]),
                        rows_missing_date=int(stats["no_time"] or 0), duplicate_rows=dups,
                        duplicates_removed=dups if duplicate_policy == "keep_first" else 0,
                        rows_kept=int(counts["rows_kept"]), rows_watch_ratio_above_threshold=int(counts["n_above"]),
                        max_watch_ratio=float(counts["max_engagement"]), users=int(counts["users"]),
                        first_date=_yyyymmdd(counts["first_day"]), last_date=_yyyymmdd(counts["last_day"]))
    if not collapses_duplicates(source, duplicate_policy) and source.col("timestamp"):
        report.duplicate_rows = count_duplicates(source, forms, engine, memory_limit, spark_master, threads)
    return SqlPanel(result, report, statements)


def count_duplicates(source: LogSource, forms: ColumnForms, engine: Engine, memory_limit: str,
                     spark_master: str, threads: int | None) -> int:
    """Rows repeating an earlier (user, item, timestamp) (the report's count when all rows are kept)."""
    sql = ("SELECT COUNT(*) - COUNT(DISTINCT STRUCT_PACK(u := user_id, i := item_key, t := ts_key, d := event_day)) "
           "AS n FROM valid_events") if engine == "duckdb" else (
           "SELECT SUM(k - 1) AS n FROM (SELECT COUNT(*) AS k FROM valid_events "
           "GROUP BY user_id, item_key, ts_key, event_day) AS g")
    with _runner(engine, source, memory_limit, spark_master, threads) as r:
        r.view("events", events_sql(source, forms))
        r.view("valid_events", "SELECT * FROM events WHERE event_day IS NOT NULL AND ts_key IS NOT NULL")
        return int(r.frame(sql).column(0)[0].as_py() or 0)


def _yyyymmdd(day: Any) -> int:
    ts = pd.Timestamp(day)
    return ts.year * 10000 + ts.month * 100 + ts.day


def finish_panel(panel: Any, counts: dict[str, Any], high_watch_threshold: float, treatment_cutoff: float | str,
                 outcome_horizon_days: int, watch_ratio_cap: float) -> PanelResult:
    """Types, treatment and day names of the panel an engine returned, and the reference's summary."""
    out: dict[str, Any] = {}

    def take(col: str) -> np.ndarray:
        arr = panel.column(col).to_numpy()
        return arr

    for col in ("user_id", "interactions", "outcome", "calendar_day_index", "panel_day_index",
                *(f"{w}_{f}" for w in ("lag_1", "prior_3day") for f in ("active_day", "interactions"))):
        out[col] = take(col).astype(np.int64, copy=False)
    for col in ("total_play_duration_sec", "avg_watch_ratio", "high_watch_share",
                *(f"{w}_{f}" for w in ("lag_1", "prior_3day")
                  for f in ("total_play_duration_sec", "avg_watch_ratio", "high_watch_share"))):
        out[col] = take(col).astype(np.float64, copy=False)
    event_date = take("event_date").astype("datetime64[D]").astype("datetime64[us]")
    share = out["high_watch_share"]
    cutoff = float(np.median(share)) if treatment_cutoff == "median" and len(share) else (
        0.5 if treatment_cutoff == "median" else float(treatment_cutoff))
    out["treatment"] = (share >= cutoff).astype(np.int64)
    out["event_date"] = event_date
    dow = (event_date.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    out["day_of_week"] = pd.array(np.asarray(DAYS_OF_WEEK, dtype=object)[dow], dtype="str")
    frame = pd.DataFrame({c: out.pop(c) for c in PANEL_COLUMNS}, copy=False)
    key = frame["user_id"].to_numpy() * 100_000 + frame["calendar_day_index"].to_numpy()
    if len(key) > 1 and not (np.diff(key) > 0).all():  # the SQL sorts; Spark's collect may not keep it
        frame = frame.sort_values(["user_id", "event_date"], kind="stable").reset_index(drop=True)
    summary = panel_summary(frame, counts["active_user_days"], counts["excluded_prior"], counts["excluded_outcome"],
                            counts["calendar_days"], counts["users"], cutoff, high_watch_threshold,
                            outcome_horizon_days, watch_ratio_cap)
    return PanelResult(panel=frame, summary=summary, cutoff_used=cutoff)
