"""Planner statistics. SQLite's are exact: a sampled ANALYZE told the planner a workspace has
about a thousand rows, so it read the whole workspace's index for a batch's customers.
PostgreSQL's follow a table that doubled, once per doubling."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from siyu.core import statistics
from siyu.core.db import Database, bulk_insert, table_of
from siyu.core.statistics import refresh_statistics
from siyu.customers.models import Customer
from siyu.ingest.models import Event
from siyu.workspaces.models import Workspace
from tests.conftest import Tenant


@pytest.fixture
def db(committed_db: Database) -> Database:
    """ANALYZE writes the store's statistics: a store of its own."""
    return committed_db


@pytest.mark.parametrize("committed_db", ["sqlite"], indirect=True)
def test_statistics_count_a_workspaces_rows_exactly(db: Database, tenant: Tenant) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with db.transaction() as session:
        people = [{"workspace_id": tenant.workspace_id, "created_at": at, "updated_at": at}] * 1000
        bulk_insert(session, table_of(Customer), people)
        ids = [r[0] for r in session.execute(text("SELECT id FROM customer ORDER BY id"))]
        rows = [
            {
                "workspace_id": tenant.workspace_id,
                "event_id": f"e{i}",
                "customer_id": ids[i % len(ids)],
                "type": "share",
                "source": "wechat",
                "occurred_at": at + timedelta(minutes=i),
                "received_at": at,
                "properties": {},
            }
            for i in range(20_000)
        ]
        bulk_insert(session, table_of(Event), rows)
    with db.transaction() as session:
        refresh_statistics(session)
    with db.transaction() as session:
        stat = session.execute(
            text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_event_workspace_id'")
        ).scalar()
    # Every one of the 20,000 events is this workspace's: a sample would say ~1,000 per value.
    assert stat == "20000 20000"


@pytest.mark.parametrize("committed_db", ["postgresql"], indirect=True)
def test_postgres_tables_that_doubled_are_analyzed_once_per_doubling(db: Database) -> None:
    statistics._checked.clear()
    statistics.analyze_grown(db.engine)  # whatever the template left to analyze

    def add(count: int) -> None:
        with db.transaction() as session:
            session.add_all([Workspace(name=f"w{i}-{count}") for i in range(count)])
            session.execute(text("SELECT pg_stat_force_next_flush()"))

    def tuples() -> float:
        with db.transaction() as session:
            return float(
                session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'workspace'"))
            )

    statistics._checked[db.engine] = time.monotonic()  # the boundary's own check waits
    add(1500)
    assert statistics.analyze_grown(db.engine) == []  # checked under 5 s ago: not yet
    statistics._checked.clear()
    assert statistics.analyze_grown(db.engine) == ["workspace"]
    assert tuples() == 1500
    statistics._checked[db.engine] = time.monotonic()
    add(1000)  # 1,000 changes on 1,500 rows: not doubled
    statistics._checked.clear()
    assert statistics.analyze_grown(db.engine) == []
    assert tuples() == 1500
