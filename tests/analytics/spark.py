"""A local Spark for the portability tests: local[1], no UI, bound to 127.0.0.1, made once.

`tables_to_spark` copies store tables (read through the DuckDB engine) into Spark temp views
under the same plain names, so one portable SQL text runs on both.
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Sequence
from typing import Any

import pytest

from siyu.analytics.engine import Analytics
from siyu.analytics.portable import transpile

_SPARK: Any = None
TYPES = {
    "BIGINT": "long",
    "INTEGER": "int",
    "SMALLINT": "short",
    "BOOLEAN": "boolean",
    "DOUBLE": "double",
    "FLOAT": "double",
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DATE": "date",
}


def spark_session() -> Any:
    """The shared SparkSession; skipped where pyspark or Java is missing (fails in CI)."""
    global _SPARK
    if _SPARK is not None:
        return _SPARK
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("pyspark is not installed; it is a test extra")
        pytest.skip("pyspark is not installed here")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        if os.environ.get("CI"):
            pytest.fail("Java 17 is needed for the Spark portability tests")
        pytest.skip("Java is not installed here")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    _SPARK = (
        SparkSession.builder.master("local[1]")
        .appName("siyu-portability")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.ansi.enabled", "false")
        .getOrCreate()
    )
    _SPARK.sparkContext.setLogLevel("ERROR")
    atexit.register(_SPARK.stop)
    return _SPARK


def tables_to_spark(spark: Any, analytics: Analytics, tables: Sequence[str]) -> None:
    """Copy store tables into Spark temp views of the same names and column types."""
    for name in tables:
        columns = [
            (c, TYPES.get(kind.split("(")[0], "string")) for c, kind in analytics.describe(name)
        ]
        schema = ", ".join(f"`{c}` {t}" for c, t in columns)
        rows = analytics.execute(f'SELECT * FROM "{name}"')
        spark.createDataFrame(rows, schema=schema).createOrReplaceTempView(name)


def spark_query(spark: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run portable SQL on Spark (transpiled, `?` parameters bound by Spark)."""
    frame = spark.sql(transpile(sql, "spark"), args=list(params or []))
    return [tuple(row) for row in frame.collect()]
