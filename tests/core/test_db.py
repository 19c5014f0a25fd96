"""The transaction boundary: services flush, the boundary commits, errors roll back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.db import Database
from siyu.customers.models import Customer
from siyu.workspaces.models import Workspace


def test_error_rolls_back_everything_in_the_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.add(Workspace(name="回滚"))
        session.flush()
        outbox.enqueue(session, "test.noop", {"n": 1})
        raise RuntimeError("boom")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 0
        assert session.scalar(select(func.count()).select_from(outbox.OutboxMessage)) == 0


def test_commit_at_boundary_makes_rows_visible(db: Database) -> None:
    with db.transaction() as session:
        session.add(Workspace(name="提交"))
    with db.transaction() as session:
        names = session.scalars(select(Workspace.name)).all()
    assert names == ["提交"]


def test_ciphertext_column_is_not_plaintext(db: Database, tenant) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        session.add(Customer(workspace_id=tenant.workspace_id, phone="13900001111"))
    with db.transaction() as session:
        raw = session.execute(
            select(Customer.__table__.c.phone.cast(Customer.__table__.c.phone.type.impl))
        ).scalar_one()  # type: ignore[attr-defined]
        assert session.scalars(select(Customer.phone)).one() == "13900001111"
    assert b"13900001111" not in bytes(raw)


def test_bulk_insert_reads_back_like_orm_rows(db: Database, tenant) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta, timezone

    from siyu.core.db import bulk_insert, reserve_ids, table_of

    shanghai = timezone(timedelta(hours=8))
    with db.transaction() as session:
        session.add(Customer(workspace_id=tenant.workspace_id, name="先来"))
        session.flush()
        first = session.scalar(select(func.max(Customer.id)))
        ids = reserve_ids(session, table_of(Customer), 3)
        assert len(set(ids)) == 3 and min(ids) > first
        rows = [
            {
                "id": i,
                "workspace_id": tenant.workspace_id,
                "name": f"客户{i}",
                "phone": None,
                "first_seen_at": datetime(2025, 6, 18, 20, 0, n, tzinfo=shanghai),
            }
            for n, i in enumerate(ids)
        ]
        bulk_insert(session, table_of(Customer), rows)
    with db.transaction() as session:
        got = session.scalars(select(Customer).where(Customer.id.in_(ids))).all()
        assert sorted((c.id, c.name, c.phone, c.first_seen_at) for c in got) == [
            (i, f"客户{i}", None, datetime(2025, 6, 18, 12, 0, n, tzinfo=UTC))
            for n, i in enumerate(ids)
        ]
        # Defaults the rows left out were filled in.
        assert all(c.created_at is not None for c in got)
        # Encrypted at rest like an ORM insert: the stored name is not the plaintext.
        raw = session.execute(
            select(table_of(Customer).c.name.cast(table_of(Customer).c.name.type.impl)).where(
                Customer.id == ids[0]
            )
        ).scalar_one()  # type: ignore[attr-defined]
        assert f"客户{ids[0]}" not in str(raw)
        # The next ordinary insert takes an id after the reserved ones.
        later = Customer(workspace_id=tenant.workspace_id, name="后来")
        session.add(later)
        session.flush()
        assert later.id > max(ids)


def test_concurrent_sqlite_writers_wait_instead_of_failing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A transaction that read before another committed must still be able to write."""
    import threading
    import time

    from sqlalchemy import text

    database = Database.from_url(f"sqlite:///{tmp_path / 'w.db'}")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    errors: list[BaseException] = []

    def writer(n: int, pause: float) -> None:
        try:
            with database.transaction() as session:
                session.execute(text("SELECT count(*) FROM t")).scalar()
                time.sleep(pause)
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    slow = threading.Thread(target=writer, args=(1, 0.3))
    slow.start()
    time.sleep(0.1)
    writer(2, 0)
    slow.join()
    assert errors == []
    with database.transaction() as session:
        assert sorted(session.scalars(text("SELECT n FROM t"))) == [1, 2]
