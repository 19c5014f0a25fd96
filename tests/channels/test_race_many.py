"""Batches that share customers, deciding at once on separate connections: the ContactState
locks are taken in customer id order, so they queue up instead of deadlocking, and each
customer still gets exactly the day's one slot."""

from __future__ import annotations

from sqlalchemy import select

from siyu.channels.models import Touch
from siyu.channels.sending import SendRequest, send_many
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from tests.channels.conftest import MORNING, person
from tests.channels.test_race import together
from tests.conftest import make_tenant


def test_overlapping_batches_keep_the_cap(committed_db: Database, clock: SimulatedClock) -> None:
    """Four batches over the same five customers, each in a different order."""
    clock.set(MORNING)
    p = make_tenant(committed_db, "并发品牌").principal
    customers = [person(committed_db, p, i) for i in range(5)]

    def work(i: int) -> list[str]:
        order = customers[i:] + customers[:i] if i % 2 else customers[::-1]
        requests = [
            SendRequest(c, "sandbox", f"b{i}-{c}", content={"text": "您好"}, priority=i)
            for c in order
        ]
        with committed_db.transaction() as session:
            return [t.status for t in send_many(session, p, requests)]

    results = together(4, work)
    assert all(len(r) == 5 for r in results)
    with committed_db.transaction() as session:
        rows = session.execute(
            select(Touch.customer_id, Touch.idempotency_key, Touch.status, Touch.reason)
        ).all()
    assert len(rows) == 20
    for c in customers:
        mine = {key: (status, reason) for cid, key, status, reason in rows if cid == c}
        # Whatever the commit order, the highest priority (batch 3) ends up holding the slot.
        assert [key for key, (s, _) in mine.items() if s == "queued"] == [f"b3-{c}"]
        assert {r for s, r in mine.values() if s == "suppressed"} <= {"cap_daily", "displaced"}
