"""SQLite's DuckDB children are kept between passes: reused while the schema holds, replaced
when it moves or the process dies, and never more than IDLE_MAX of them left idle."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import text

from siyu.analytics import children
from siyu.analytics.engine import Analytics, AnalyticsQueryError
from siyu.core.db import Database, make_engine
from siyu.core.statistics import refresh_statistics
from tests.conftest import Tenant
from tests.lifecycle.factory import order, phone, place

# Children exist on SQLite only; PostgreSQL is read in-process.
pytestmark = pytest.mark.parametrize("committed_db", ["sqlite"], indirect=True)


@pytest.fixture
def db(committed_db: Database) -> Database:
    """A store of its own, with no idle child left by an earlier test."""
    children.stop_idle()
    return committed_db


def _pid(analytics: Analytics) -> int:
    assert analytics._child is not None
    return int(analytics._child.pid or 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a reaped child is gone; a zombie is not alive
        return stat.read().split()[2] != "Z"


def test_a_child_is_reused_and_sees_what_was_committed_since(db: Database, tenant: Tenant) -> None:
    place(db, tenant.principal, [order(phone(1), "A1", 0, 100)])
    with Analytics(db) as analytics:
        first = _pid(analytics)
        assert analytics.query("SELECT COUNT(*) FROM orders") == [(1,)]
    place(db, tenant.principal, [order(phone(2), "A2", 1, 200)])
    with db.transaction() as session:
        refresh_statistics(session)  # moves SQLite's schema counter, not the tables
    with Analytics(db) as analytics:
        assert _pid(analytics) == first
        assert analytics.query("SELECT SUM(paid_fen) FROM orders") == [(300,)]


def test_a_refused_query_leaves_the_child_reusable(db: Database) -> None:
    with Analytics(db) as analytics:
        first = _pid(analytics)
        with pytest.raises(AnalyticsQueryError):
            analytics.query("SELECT nothing FROM nowhere")
    with Analytics(db) as analytics:
        assert _pid(analytics) == first
        assert analytics.query("SELECT 1") == [(1,)]


def test_a_migration_gets_a_fresh_child_with_the_new_table(db: Database) -> None:
    with Analytics(db) as analytics:
        first = _pid(analytics)
        assert not analytics.has_table("later")
    with db.transaction() as session:
        session.execute(text("CREATE TABLE later (id INTEGER PRIMARY KEY, note TEXT)"))
        session.execute(text("INSERT INTO later (note) VALUES ('x')"))
    with Analytics(db) as analytics:
        assert _pid(analytics) != first
        assert analytics.query("SELECT note FROM later") == [("x",)]
    assert not _alive(first)


def test_a_dead_child_is_replaced(db: Database) -> None:
    with Analytics(db) as analytics:
        first = _pid(analytics)
    os.kill(first, signal.SIGKILL)  # while idle: the next pass must not inherit a dead pipe
    with Analytics(db) as analytics:
        assert _pid(analytics) != first
        assert analytics.query("SELECT 1") == [(1,)]


def test_children_in_use_at_once_are_distinct_and_at_most_two_stay(db: Database) -> None:
    opened = [Analytics(db) for _ in range(3)]
    pids = [_pid(a) for a in opened]
    assert len(set(pids)) == 3
    for analytics in opened:
        analytics.close()
    idle = [pid for pid in pids if _alive(pid)]
    assert idle == pids[1:]  # the least recently returned is stopped


def test_another_store_never_gets_this_stores_child(db: Database, tmp_path: Path) -> None:
    with Analytics(db) as analytics:
        first = _pid(analytics)
    other_path = tmp_path / "other.db"
    other_path.write_bytes(Path(str(db.engine.url.database)).read_bytes())
    other = Database(make_engine(f"sqlite:///{other_path}"))
    with Analytics(other) as analytics:
        assert _pid(analytics) != first
    other.engine.dispose()


def test_a_handlers_database_around_the_same_engine_reuses_the_child(db: Database) -> None:
    with Analytics(db) as analytics:
        first = _pid(analytics)
    with Analytics(Database(db.engine)) as analytics:  # what lifecycle's database_of makes
        assert _pid(analytics) == first


def test_a_snapshot_is_one_moment_and_leaves_no_copy_behind(db: Database, tenant: Tenant) -> None:
    place(db, tenant.principal, [order(phone(1), "A1", 0, 100)])
    with Analytics(db) as analytics, analytics.snapshot(["orders", "nowhere"]) as copied:
        assert copied == ["orders"]
        place(db, tenant.principal, [order(phone(2), "A2", 1, 200)])
        assert analytics.query("SELECT COUNT(*) FROM orders") == [(1,)]
        first = _pid(analytics)
    with Analytics(db) as analytics:  # the same child, reading the live store again
        assert _pid(analytics) == first
        assert analytics.query("SELECT COUNT(*) FROM orders") == [(2,)]


def test_a_table_over_the_limit_is_read_live(db: Database, tenant: Tenant) -> None:
    place(db, tenant.principal, [order(phone(1), "A1", 0, 100), order(phone(2), "A2", 1, 200)])
    with Analytics(db) as analytics, analytics.snapshot(["orders"], max_rows=1) as copied:
        assert copied == []
        place(db, tenant.principal, [order(phone(3), "A3", 2, 300)])
        assert analytics.query("SELECT COUNT(*) FROM orders") == [(3,)]
