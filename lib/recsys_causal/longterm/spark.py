"""Spark for the panel query (`longterm.engine=spark`): the session and the log as a DataFrame.

The query itself is the DuckDB SQL of `recsys_causal.longterm.panel_sql`, transpiled by SQLGlot;
this module only opens a session on `longterm.spark_master` (`local[2]` by default, or a
cluster's master URL such as `spark://host:7077`, `yarn`, `k8s://...`) and reads the log's files
(Parquet with partition discovery, or CSV), locally or from the cluster's storage (`s3a://`,
`hdfs://`, `gs://`, `abfss://`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from recsys_causal.data.logs import LogSource

APP_NAME = "recsys-causal-panel"


def spark_session(master: str = "local[2]") -> Any:
    """A Spark session on `master` with UTC session time and Arrow transfers (reused when one is open)."""
    if not shutil.which("java"):
        raise RuntimeError("longterm.engine=spark needs a Java runtime (e.g. Debian's openjdk-17-jre-headless) "
                           "on PATH or JAVA_HOME")
    from pyspark.sql import SparkSession

    b = (SparkSession.builder.master(master).appName(APP_NAME)
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.execution.arrow.pyspark.enabled", "true")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):
        b = b.config("spark.sql.shuffle.partitions", "2").config("spark.driver.host", "127.0.0.1")
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _root(source: LogSource) -> str | None:
    """The folder of a folder source (its pattern is `<folder>/**/*.<suffix>`), else None."""
    marker = "/**/"
    return source.pattern.split(marker, 1)[0] if marker in source.pattern else None


def read_log(spark: Any, source: LogSource) -> Any:
    """The log's rows as a Spark DataFrame (Parquet: partition columns included; CSV: header + inferred types)."""
    reader = spark.read
    if source.kind == "parquet":
        reader = reader.option("mergeSchema", "true")
        root = _root(source)
        if root is None:
            return reader.parquet(source.pattern)
        if source.hive:
            return reader.option("basePath", root).parquet(root)
        return reader.option("recursiveFileLookup", "true").parquet(root)
    paths = [str(Path(f)) for f in source.files] or [source.pattern]
    return reader.option("header", "true").option("inferSchema", "true").csv(paths)
