"""One RFM definition, three engines: DuckDB over SQLite, DuckDB over PostgreSQL, and Spark."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from siyu.analytics.engine import Analytics
from siyu.core.db import Database
from siyu.lifecycle.definitions import rfm_sql
from siyu.lifecycle.schemas import RfmSettings
from tests.analytics.spark import spark_query, spark_session, tables_to_spark
from tests.conftest import make_tenant
from tests.lifecycle.factory import order, phone, place

AS_OF = datetime(2026, 6, 1)
RESULTS: dict[str, list[tuple[Any, ...]]] = {}


@pytest.fixture
def db(committed_db: Database) -> Database:
    """Both stores, committed: the engines read through their own connections."""
    return committed_db


def orders() -> list:
    """60 customers, with ties in every dimension and one fully refunded order left out."""
    out = []
    for i in range(60):
        for k in range(1 + (i * 7) % 4):
            out.append(order(phone(i), f"P{i}-{k}", (i % 9) * 10 + k * 15, 500 * (1 + i % 6)))
    out.append(order(phone(99), "CANCELLED", 5, 99999, status="cancelled"))
    return out


@pytest.mark.parametrize("mode", ["quantile", "bins"])
def test_rfm_is_identical_on_both_stores_and_spark(db: Database, mode: str) -> None:
    tenant = make_tenant(db, "可移植")
    place(db, tenant.principal, orders())
    settings = RfmSettings(mode=mode)  # type: ignore[arg-type]
    sql, params = rfm_sql(settings, tenant.workspace_id, AS_OF)
    # Ids differ between stores; phones do not. Key the answer by the customer's first order.
    key_sql = "SELECT customer_id, MIN(external_id) FROM orders WHERE workspace_id = ? GROUP BY 1"
    with Analytics(db) as analytics:
        rows = analytics.query(sql, params)
        keys = dict(analytics.query(key_sql, [tenant.workspace_id]))
        spark = spark_session()
        tables_to_spark(spark, analytics, ["orders", "customer"])
    on_spark = spark_query(spark, sql, params)
    assert sorted(on_spark) == sorted(rows)
    assert len(rows) == 60  # the cancelled order's customer has no counted order
    answer = sorted((keys[r[0]], *r[1:]) for r in rows)
    assert {r[4] for r in answer} <= {
        "important_value",
        "important_develop",
        "important_keep",
        "important_retain",
        "general_value",
        "general_develop",
        "general_keep",
        "general_retain",
    }
    # The same members and scores on the other store (whichever of the two ran first).
    other = RESULTS.setdefault(mode, answer)
    assert answer == other
