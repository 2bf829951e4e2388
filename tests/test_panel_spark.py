"""The panel query on Spark (local[2], SQLGlot-transpiled) equals DuckDB's on the simulator's files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from conftest import JAVA, ensure_debian_packages
from recsys_causal.data.logs import resolve_source
from recsys_causal.longterm.panel_sql import build_panel_sql
from recsys_causal.simulate.kuairec import simulate_kuairec

pytestmark = pytest.mark.slow

#: A test's JVM lives for seconds: the quick (C1) JIT tier and the serial collector spend far
#: less CPU on it than the server defaults (59 -> 31 CPU-s for this module); same queries.
SHORT_LIVED_JVM = '--driver-java-options "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC" pyspark-shell'


@pytest.fixture(scope="module", autouse=True)
def short_lived_jvm() -> Iterator[None]:
    """Start this module's Spark JVM with `SHORT_LIVED_JVM` unless the caller set its own arguments."""
    with pytest.MonkeyPatch.context() as mp:
        if "PYSPARK_SUBMIT_ARGS" not in os.environ:
            mp.setenv("PYSPARK_SUBMIT_ARGS", SHORT_LIVED_JVM)
        yield


@pytest.fixture(scope="module")
def spark_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny simulated big_matrix (duplicates included) and the same rows as a Hive-partitioned log."""
    pytest.importorskip("pyspark", reason="pyspark comes with the dev extras: pip install -e '.[dev]'")
    ensure_debian_packages(JAVA)  # CI images have no Java
    base = tmp_path_factory.mktemp("spark")
    simulate_kuairec(base / "kuairec", n_users=40, n_days=16, seed=11, matrix="big_matrix", with_oracle=False,
                     duplicate_rows=50)
    df = pd.read_csv(base / "kuairec" / "big_matrix.csv").drop(columns=["time"])
    # no date column: the day is the UTC day of the timestamp (another SQL path than the CSV's)
    df.drop(columns=["date"]).rename(columns={"user_id": "uid", "watch_ratio": "eng"}).to_parquet(
        base / "log.parquet", index=False)
    return base


def test_spark_panel_equals_duckdb(spark_log) -> None:
    from test_panel_sql import assert_same_panel

    mapping = {"user": "uid", "item": "video_id", "timestamp": "timestamp", "date": "", "engagement": "eng",
               "duration": "play_duration"}
    csv = resolve_source(str(spark_log / "kuairec"), "big_matrix")
    parquet = resolve_source(str(spark_log / "log.parquet"), "big_matrix", mapping)
    for source in (csv, parquet):
        duck = build_panel_sql(source, 1.0, 0.5, 5)
        spark = build_panel_sql(source, 1.0, 0.5, 5, engine="spark", spark_master="local[2]")
        assert_same_panel(duck.result.panel, spark.result.panel)
        assert spark.result.summary == duck.result.summary
        assert spark.report.duplicates_removed == duck.report.duplicates_removed == 50
        assert spark.report.rows_kept == duck.report.rows_kept
