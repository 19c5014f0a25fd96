"""The DuckDB engine reads both stores (committed data, read-only) via the offline extensions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from siyu.analytics.engine import Analytics, AnalyticsQueryError, libpq_dsn
from siyu.analytics.portable import transpile
from siyu.core.db import Database
from siyu.core.errors import InvalidField
from siyu.ingest.models import Order
from tests.conftest import Tenant
from tests.lifecycle.factory import order, phone, place


@pytest.fixture
def db(committed_db: Database) -> Database:
    """Analytics reads committed data: these tests commit to a store of their own."""
    return committed_db


def test_reads_committed_orders_with_plain_table_names(db: Database, tenant: Tenant) -> None:
    place(db, tenant.principal, [order(phone(1), "A1", 0, 12990), order(phone(2), "A2", 3, 500)])
    with Analytics(db) as analytics:
        rows = analytics.query(
            "SELECT external_id, paid_fen, ordered_at FROM orders WHERE workspace_id = ? "
            "ORDER BY external_id",
            [tenant.workspace_id],
        )
        assert analytics.has_table("customer_metrics")
    assert [(r[0], r[1]) for r in rows] == [("A1", 12990), ("A2", 500)]
    # Naive UTC on both stores: 2026-01-01 12:00 in Asia/Shanghai is 04:00 UTC.
    assert rows[0][2].isoformat() == "2026-01-01T04:00:00"


def test_does_not_see_an_open_transaction(db: Database, tenant: Tenant) -> None:
    place(db, tenant.principal, [order(phone(1), "A1", 0, 100)])
    with db.transaction() as session:
        from siyu.ingest import service as ingest

        ingest.upsert_orders(session, tenant.principal, [order(phone(2), "A2", 1, 200)])
        assert session.scalar(select(func.count(Order.id))) == 2
        with Analytics(db) as analytics:
            seen = analytics.query("SELECT COUNT(*) FROM orders")
        assert seen == [(1,)]


def test_is_read_only(db: Database, tenant: Tenant) -> None:
    place(db, tenant.principal, [order(phone(1), "A1", 0, 100)])
    with Analytics(db) as analytics, pytest.raises(AnalyticsQueryError) as refused:
        analytics.execute("DELETE FROM store.orders")
    assert "read-only" in str(refused.value).lower() or "read only" in str(refused.value).lower()
    with db.transaction() as session:
        assert session.scalar(select(func.count(Order.id))) == 1


def test_transpiles_one_statement_per_dialect() -> None:
    sql = (
        "SELECT CAST(1 + FLOOR(5.0 * (RANK() OVER (ORDER BY x) - 1) / COUNT(*) OVER ()) AS INT) "
        "FROM t"
    )
    assert "RANK() OVER (ORDER BY x)" in transpile(sql, "spark")
    assert transpile("SELECT a FROM t WHERE b = ?", "duckdb") == "SELECT a FROM t WHERE b = ?"
    with pytest.raises(InvalidField):
        transpile("SELECT 1; SELECT 2", "duckdb")
    with pytest.raises(InvalidField):
        transpile("SELECT 1", "oracle")


def test_libpq_dsn_from_a_socket_url() -> None:
    from sqlalchemy.engine import make_url

    url = make_url("postgresql+psycopg://postgres@/siyu?host=/tmp/pg&port=15432")
    assert libpq_dsn(url) == "dbname='siyu' user='postgres' host='/tmp/pg' port='15432'"


def test_sqlite_is_read_from_another_process_so_a_big_open_write_still_commits(
    db: Database, tenant: Tenant
) -> None:
    """Two SQLite libraries in one process drop each other's file locks; the reader lives
    elsewhere, so a write transaction open around an analytics pass commits intact."""
    import os
    from datetime import UTC, datetime

    from sqlalchemy import text

    from siyu.core.db import bulk_insert, table_of
    from siyu.customers.models import Customer

    at = datetime(2026, 1, 1, tzinfo=UTC)
    with db.transaction() as session:
        rows = [{"workspace_id": tenant.workspace_id, "created_at": at, "updated_at": at}] * 30000
        bulk_insert(session, table_of(Customer), rows)
        with Analytics(db) as analytics:
            if db.engine.dialect.name == "sqlite":
                assert analytics._child is not None and analytics._child.pid != os.getpid()
            assert analytics.query("SELECT COUNT(*) FROM customer") == [(0,)]
    with db.transaction() as session:
        assert session.scalar(select(func.count(Customer.id))) == 30000
        if db.engine.dialect.name == "sqlite":
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
