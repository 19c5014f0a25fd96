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
