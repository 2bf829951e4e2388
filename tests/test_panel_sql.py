"""The DuckDB panel query against the pandas reference, on the simulator's files: the KuaiRec CSVs
and the same rows written as logs with other column names (Parquet file, Hive-partitioned folder,
glob, CSV with ISO dates, a log without a date column)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_causal.data.errors import DataError
from recsys_causal.data.kuairec import load_interactions
from recsys_causal.data.logs import check_log, describe_source, load_log_frame, resolve_source
from recsys_causal.longterm.panel import PANEL_COLUMNS, build_user_day_panel
from recsys_causal.longterm.panel_sql import build_panel_sql, to_spark
from recsys_causal.simulate.kuairec import simulate_kuairec

RENAMED = {"user_id": "uid", "video_id": "item", "timestamp": "ts", "date": "day", "watch_ratio": "eng",
           "play_duration": "dur_ms"}
MAPPING = {"user": "uid", "item": "item", "timestamp": "ts", "date": "day", "engagement": "eng", "duration": "dur_ms"}
FLOAT_RTOL = 1e-12  # engagement sums: exact DECIMAL sums in SQL, float64 sums in file order in pandas


def assert_same_panel(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Column by column: integers, dates and names exactly; floats to the last bits of a sum."""
    assert list(a.columns) == list(b.columns) == PANEL_COLUMNS
    assert len(a) == len(b) and len(a) > 0
    for c in PANEL_COLUMNS:
        assert a[c].dtype == b[c].dtype, (c, a[c].dtype, b[c].dtype)
        if a[c].dtype.kind == "f":
            np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=FLOAT_RTOL, atol=1e-13, err_msg=c)
        else:
            assert a[c].equals(b[c]), c


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The simulator's KuaiRec folders and the same rows as renamed logs."""
    base = tmp_path_factory.mktemp("logs")
    out: dict[str, Path] = {}
    for matrix in ("small_matrix", "big_matrix"):
        folder = base / matrix
        simulate_kuairec(folder, n_users=80, n_days=25, seed=5, matrix=matrix, with_oracle=False,
                         duplicate_rows=300 if matrix == "big_matrix" else None)
        out[matrix] = folder
    df = pd.read_csv(out["big_matrix"] / "big_matrix.csv").drop(columns=["time", "video_duration"])
    renamed = df.rename(columns=RENAMED)
    out["parquet"] = base / "log.parquet"
    renamed.to_parquet(out["parquet"], index=False)
    hive = base / "hive"
    pq.write_to_dataset(pa.Table.from_pandas(renamed, preserve_index=False), hive, partition_cols=["day"])
    out["hive"] = hive
    parts = base / "parts"
    parts.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(renamed)), 3)):
        renamed.iloc[rows].to_parquet(parts / f"part-{i}.parquet", index=False)
    out["glob"] = parts / "part-*.parquet"
    iso = renamed.assign(day=pd.to_datetime(renamed["day"].astype(str), format="%Y%m%d").dt.strftime("%Y-%m-%d"))
    out["csv"] = base / "log.csv"
    iso.to_csv(out["csv"], index=False)
    out["no_date"] = base / "no_date.parquet"
    renamed.drop(columns=["day"]).to_parquet(out["no_date"], index=False)
    return out


@pytest.mark.parametrize("matrix", ["small_matrix", "big_matrix"])
def test_duckdb_equals_the_pandas_reference_on_kuairec_files(logs, matrix) -> None:
    df, report = load_interactions(logs[matrix], matrix)
    ref = build_user_day_panel(df, high_watch_threshold=1.0, treatment_cutoff=0.5, outcome_horizon_days=7)
    source = resolve_source(str(logs[matrix]), matrix)
    assert source.kind == "kuairec"
    got = build_panel_sql(source, 1.0, 0.5, 7)
    assert_same_panel(ref.panel, got.result.panel)
    assert got.result.summary == ref.summary
    assert got.report.to_frame().equals(report.to_frame())  # rows read, dropped, duplicates, dates
    if matrix == "big_matrix":
        assert report.duplicates_removed == 300


@pytest.mark.parametrize("kind", ["parquet", "hive", "glob", "csv"])
def test_a_log_with_its_own_column_names_gives_the_native_panel(logs, kind) -> None:
    df, report = load_interactions(logs["big_matrix"], "big_matrix")
    ref = build_user_day_panel(df, high_watch_threshold=1.0, treatment_cutoff="median", outcome_horizon_days=5)
    source = resolve_source(str(logs[kind]), "big_matrix", MAPPING)
    assert source.kind == ("csv" if kind == "csv" else "parquet")
    assert source.hive == (kind == "hive")
    got = build_panel_sql(source, 1.0, "median", 5)
    assert_same_panel(ref.panel, got.result.panel)
    assert got.result.summary == ref.summary
    assert got.report.duplicates_removed == report.duplicates_removed and got.report.rows_kept == report.rows_kept


def test_a_log_without_a_date_column_uses_the_utc_day_of_the_timestamp(logs) -> None:
    source = resolve_source(str(logs["no_date"]), "big_matrix", {**MAPPING, "date": ""})
    frame, report = load_log_frame(source)
    ts = pd.read_parquet(logs["no_date"], columns=["ts"])["ts"]
    days = pd.to_datetime(ts, unit="s", utc=True).dt.strftime("%Y%m%d").astype(int)
    assert set(frame["date"]) == set(days)
    ref = build_user_day_panel(frame, 1.0, 0.5, 7)
    got = build_panel_sql(source, 1.0, 0.5, 7)
    assert_same_panel(ref.panel, got.result.panel)
    assert got.result.summary == ref.summary and got.report.to_frame().equals(report.to_frame())


def test_the_pandas_reader_of_a_log_equals_the_kuairec_loader(logs) -> None:
    native, rep = load_interactions(logs["big_matrix"], "big_matrix")
    frame, report = load_log_frame(resolve_source(str(logs["parquet"]), "big_matrix", MAPPING))
    assert report.to_frame().equals(rep.to_frame())
    for col in ("user_id", "date", "play_duration", "watch_ratio"):
        np.testing.assert_array_equal(frame[col].to_numpy(), native[col].to_numpy(), err_msg=col)


def test_keep_all_counts_duplicates_and_keeps_them(logs) -> None:
    df, report = load_interactions(logs["big_matrix"], "big_matrix", "keep_all")
    ref = build_user_day_panel(df, 1.0, 0.5, 7)
    got = build_panel_sql(resolve_source(str(logs["big_matrix"]), "big_matrix"), 1.0, 0.5, 7, duplicate_policy="keep_all")
    assert_same_panel(ref.panel, got.result.panel)
    assert got.report.to_frame().equals(report.to_frame())


def test_the_panel_is_byte_identical_from_run_to_run(logs) -> None:
    source = resolve_source(str(logs["hive"]), "big_matrix", MAPPING)
    a = build_panel_sql(source, 1.0, 0.5, 7, threads=2).result.panel
    b = build_panel_sql(source, 1.0, 0.5, 7, threads=1).result.panel
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_describe_source_names_the_log_and_the_mapping(logs) -> None:
    text = describe_source(resolve_source(str(logs["glob"]), "big_matrix", MAPPING), 1.0)
    assert text.startswith("The long-term track reads the Parquet log") and "(3 files)" in text
    assert "user = uid" in text and "engagement = eng" in text and "eng >= 1" in text
    kuai = describe_source(resolve_source(str(logs["small_matrix"]), "small_matrix"))
    assert "KuaiRec file" in kuai and "day = date" in kuai and kuai.count("\n") == 0


def test_sources_that_match_nothing_or_lack_a_column_are_one_line_errors(logs, tmp_path) -> None:
    with pytest.raises(DataError, match="matches no file"):
        resolve_source(str(tmp_path / "*.parquet"))
    with pytest.raises(DataError, match="does not exist"):
        resolve_source(str(tmp_path / "nope.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no small_matrix.csv and no Parquet files"):
        resolve_source(str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"log.parquet: column 'user_id' \(longterm.columns.user\) not found"):
        check_log(resolve_source(str(logs["parquet"]), "big_matrix", {**MAPPING, "user": "user_id"}))


def test_the_query_transpiles_to_spark_sql(logs) -> None:
    got = build_panel_sql(resolve_source(str(logs["small_matrix"]), "small_matrix"), 1.0, 0.5, 7)
    for name, sql in got.statements.items():
        spark = to_spark(sql)
        assert spark and "`" in spark or "SELECT" in spark, name
    assert "DATEDIFF" in to_spark(got.statements["counts"])


@pytest.mark.parametrize("kind", ["kuairec", "parquet", "csv"])
def test_duplicates_collapsed_in_several_passes_give_the_one_pass_panel(logs, kind, monkeypatch) -> None:
    """A log too big for one duplicate-collapse hash table is collapsed in passes over hashed user
    groups: every user in exactly one pass, so panel and load report are those of one pass."""
    from recsys_causal.longterm import panel_sql

    if kind == "kuairec":
        source = resolve_source(str(logs["big_matrix"]), "big_matrix")
    else:
        source = resolve_source(str(logs[kind]), "big_matrix", MAPPING)
    one = build_panel_sql(source, 1.0, 0.5, 7)
    assert "hash(user_id)" not in one.statements["daily"]
    monkeypatch.setattr(panel_sql, "DEDUP_MEMORY_SHARE", 1e-6)  # ~8 keys a pass at 1GB: many passes
    n_rows = one.report.rows_read
    assert panel_sql.dedup_passes(n_rows, "1GB") > 5
    monkeypatch.setattr(panel_sql, "dedup_passes", lambda n, limit: 5)
    many = build_panel_sql(source, 1.0, 0.5, 7)
    assert "hash(user_id) % 5, 0) = 0" in many.statements["daily"]
    pd.testing.assert_frame_equal(many.result.panel, one.result.panel, check_exact=True)
    assert many.report.to_frame().equals(one.report.to_frame()) and one.report.duplicates_removed > 0


def test_dedup_passes_grow_with_rows_and_shrink_with_memory() -> None:
    from recsys_causal.longterm.panel_sql import dedup_passes
    from recsys_causal.params import ParamsError, load_params, memory_bytes

    assert memory_bytes("1GB") == 10**9 and memory_bytes("2GiB") == 2 * 2**30 and memory_bytes("512 mb") == 512 * 10**6
    assert dedup_passes(1_000, "1GB") == 1
    assert dedup_passes(100_000_000, "1GB") > dedup_passes(100_000_000, "4GB") > 1
    for bad in ("lots", "800000000"):  # a size needs its unit, in the parameters as here
        with pytest.raises(ValueError, match="expected a size such as 512MB"):
            memory_bytes(bad)
        with pytest.raises(ParamsError, match="longterm.memory_limit"):
            load_params(None, overrides=[f"longterm.memory_limit={bad}"])
