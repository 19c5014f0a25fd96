"""200 concurrent redemptions against one balance, each its own transaction, on both stores:
the same case as bench/loyalty.py (exact final balance, never negative, keys applied once)."""

from __future__ import annotations

import threading
import time

from bench.loyalty import POINTS, START, THREADS, funded_member, open_db, race
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from siyu.core.db import Database
from siyu.loyalty import ledger, service
from siyu.loyalty.ledger import Posted
from siyu.loyalty.models import PointsLot, PointsTransfer
from tests.conftest import make_tenant


def test_200_concurrent_redemptions_never_overspend(committed_db: Database) -> None:
    tenant = make_tenant(committed_db, "并发")
    db = open_db(committed_db.engine.url.render_as_string(hide_password=False), 50)
    try:
        result = race(db, tenant.principal)
    finally:
        db.engine.dispose()
    assert result.errors == 0
    assert result.applied == START // POINTS == 150
    assert result.applied + result.replays + result.refused == THREADS
    assert (result.final, result.expected, result.ledger, result.lots) == (1, 1, 1, 1)
    assert (result.lost, result.negative, result.duplicates) == (0, 0, 0)


def test_a_redemption_that_waited_for_the_lock_spends_the_lots_as_they_are_now(
    committed_db: Database,
) -> None:
    """The lock and the head of the lots come in one round trip, so on PostgreSQL a redemption
    that waited for the lock holds lots read before the other one spent them; its write sees
    that and reads them again (without that it would overdraw lot A)."""
    db, tenant = committed_db, make_tenant(committed_db, "等锁")
    who = funded_member(db, tenant.principal, 10, "等锁")
    with db.transaction() as session:
        service.award_action(session, tenant.principal, who, "sign_in", "day-1")  # 5 more
        lot_a, lot_b = lot_ids(session, who)
    outcome: list[object] = []

    def second() -> None:
        with db.transaction() as session:
            outcome.append(service.redeem(session, tenant.principal, who, 4, "second"))

    with db.transaction() as first:
        service.redeem(first, tenant.principal, who, 8, "first")  # holds the lock: A has 2 left
        waiting = threading.Thread(target=second)
        waiting.start()
        if db.is_postgres:
            wait_for_lock_waiter(db)
    waiting.join(30)
    posted = outcome[0]
    assert isinstance(posted, Posted) and (posted.points, posted.balance_after) == (4, 3)
    with db.transaction() as session:
        detail = session.scalar(
            select(PointsTransfer.detail).where(PointsTransfer.id == posted.transfer_id)
        )
        left = session.execute(
            select(PointsLot.id, PointsLot.remaining).where(PointsLot.customer_id == who)
        ).all()
        ws = tenant.workspace_id
        assert ledger.ledger_balance(session, ws, ledger.account_code(who)) == 3
        assert ledger.balance_of(session, ws, who) == 3
    assert detail["lots"] == [[lot_a, 2], [lot_b, 2]]
    assert sorted(tuple(r) for r in left) == [(lot_a, 0), (lot_b, 3)]


def lot_ids(session: Session, customer_id: int) -> list[int]:
    """The customer's lots, oldest first."""
    stmt = select(PointsLot.id).where(PointsLot.customer_id == customer_id)
    return list(session.scalars(stmt.order_by(PointsLot.id)))


def wait_for_lock_waiter(db: Database) -> None:
    """Until a backend of this database waits on a row lock (the second redemption)."""
    probe = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(600):
        with db.engine.connect() as conn:
            if conn.execute(probe).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("the second redemption never waited for the lock")
