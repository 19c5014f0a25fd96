"""Reads outside the transaction (`reading`) and raw driver statements (`raw_rows`)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.core.raw import marks, raw_in, raw_rows, reading
from siyu.workspaces.models import Workspace


@pytest.fixture
def db(committed_db: Database) -> Database:
    return committed_db


def _names(db: Database) -> list[str]:
    with db.transaction() as session:
        return sorted(session.scalars(select(Workspace.name)))


def test_reading_sees_commits_only_and_does_not_wait_for_an_open_writer(db: Database) -> None:
    with db.transaction() as session:
        session.add_all([Workspace(name="甲"), Workspace(name="乙")])
    writer = db.factory()
    try:
        writer.add(Workspace(name="未提交"))
        writer.flush()  # holds SQLite's write lock (BEGIN IMMEDIATE) until it ends
        with reading(db.engine) as conn:
            seen = sorted(conn.execute(select(Workspace.name)).scalars())
        assert seen == ["乙", "甲"]
    finally:
        writer.rollback()
        writer.close()
    assert _names(db) == ["乙", "甲"]


def test_reading_through_a_session_bound_to_a_connection_sees_that_transaction(
    db: Database,
) -> None:
    with db.engine.connect() as conn:
        outer = conn.begin()
        session = db.factory(bind=conn)
        session.add(Workspace(name="外层"))
        session.flush()
        with reading(session) as inner:
            assert list(inner.execute(select(Workspace.name)).scalars()) == ["外层"]
        session.close()
        outer.rollback()
    assert _names(db) == []


def test_raw_rows_reads_the_sessions_own_writes_with_a_membership_test(db: Database) -> None:
    with db.transaction() as session:
        session.add_all([Workspace(name=n) for n in ("一", "二", "三")])
        session.flush()
        test, values = raw_in(session, ["一", "三", "无"])
        rows = raw_rows(session, f"SELECT name FROM workspace WHERE name {test}", values)
        assert sorted(r[0] for r in rows) == ["一", "三"]
        none = raw_rows(session, "SELECT name FROM workspace WHERE name = ?", ["无"])
        assert none == []
        assert raw_rows(session, "UPDATE workspace SET name = ? WHERE name = ?", ["壹", "一"]) == []
        assert session.scalar(select(func.count()).where(Workspace.name == "壹")) == 1
    assert _names(db) == ["三", "二", "壹"]
    assert marks(3) == "?, ?, ?"
