"""SQLite's planner statistics are exact: a sampled ANALYZE told the planner a workspace has
about a thousand rows, so it read the whole workspace's index for a batch's customers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from siyu.core.db import Database, bulk_insert, refresh_statistics, table_of
from siyu.customers.models import Customer
from siyu.ingest.models import Event
from tests.conftest import Tenant

pytestmark = pytest.mark.parametrize("committed_db", ["sqlite"], indirect=True)


@pytest.fixture
def db(committed_db: Database) -> Database:
    """ANALYZE writes the store's statistics: a store of its own."""
    return committed_db


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
