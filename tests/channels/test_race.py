"""Caps and idempotency under real concurrency: separate connections that really commit
(PostgreSQL row locks; SQLite's single writer)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from siyu.channels.frequency import lock_contact
from siyu.channels.models import SandboxMessage, Touch
from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from tests.channels.conftest import MORNING, person, send
from tests.conftest import make_tenant


def together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in n threads released at once; re-raise the first error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_concurrent_sends_respect_the_daily_cap(
    committed_db: Database, clock: SimulatedClock
) -> None:
    """Eight workers decide for one customer at once: exactly one takes the day's slot."""
    clock.set(MORNING)
    tenant = make_tenant(committed_db, "并发品牌")
    p = tenant.principal
    c = person(committed_db, p, 1)
    with committed_db.transaction() as session:
        # The customer's lock row exists already, so only the row lock serializes the deciders.
        lock_contact(session, p.workspace_id, c)
    statuses = together(
        8, lambda i: send(committed_db, p, f"race-{i}", customer_id=c, channel="sandbox").status
    )
    assert sorted(statuses) == ["queued"] + ["suppressed"] * 7
    same = together(
        4,
        lambda i: (
            send(
                committed_db,
                p,
                "same-key",
                customer_id=c,
                channel="sandbox",
                purpose="transactional",
            ).id
        ),
    )
    assert len(set(same)) == 1
    with committed_db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Touch)) == 9


def test_two_workers_deliver_each_touch_once(committed_db: Database, clock: SimulatedClock) -> None:
    clock.set(MORNING)
    tenant = make_tenant(committed_db, "并发品牌")
    p = tenant.principal
    ids = [
        send(committed_db, p, f"d{i}", customer_id=person(committed_db, p, i), channel="sandbox").id
        for i in range(30)
    ]

    def drain(_: int) -> None:
        while outbox.run_due(committed_db, 5):
            pass

    together(2, drain)
    with committed_db.transaction() as session:
        delivered = session.scalars(select(Touch.status).where(Touch.id.in_(ids))).all()
        boxed = session.scalars(select(SandboxMessage.touch_id)).all()
    assert delivered == ["delivered"] * 30
    assert sorted(boxed) == sorted(ids)
