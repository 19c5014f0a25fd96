"""The outbox: enqueued with the transaction, run once by the worker, retried, dead-lettered."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.worker import Worker

RUNS: list[int] = []


@pytest.fixture(autouse=True)
def handlers() -> Iterator[None]:
    RUNS.clear()

    def ok(session: Session, message: OutboxMessage) -> None:
        RUNS.append(message.payload["n"])

    def flaky(session: Session, message: OutboxMessage) -> None:
        raise ConnectionError("provider down")

    outbox.HANDLERS.update({"test.ok": ok, "test.flaky": flaky})
    yield
    outbox.HANDLERS.pop("test.ok")
    outbox.HANDLERS.pop("test.flaky")


def statuses(db: Database) -> list[tuple[str, int]]:
    with db.transaction() as session:
        return [
            (m.status, m.attempts)
            for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


def test_rollback_drops_enqueued_work(db: Database, clock: SimulatedClock) -> None:
    with pytest.raises(KeyError), db.transaction() as session:
        outbox.enqueue(session, "test.ok", {"n": 1})
        raise KeyError("abort")
    assert Worker(db).run(once=True) == {}
    assert RUNS == []


def test_worker_runs_each_message_once_in_order(db: Database, clock: SimulatedClock) -> None:
    with db.transaction() as session:
        for n in range(5):
            outbox.enqueue(session, "test.ok", {"n": n}, dedupe_key=f"k{n}")
    assert Worker(db).run(once=True) == {"done": 5}
    assert Worker(db).run(once=True) == {}
    assert RUNS == [0, 1, 2, 3, 4]


def test_not_due_until_its_time(db: Database, clock: SimulatedClock) -> None:
    with db.transaction() as session:
        outbox.enqueue(session, "test.ok", {"n": 9}, run_at=clock.now() + timedelta(hours=1))
    assert Worker(db).run(once=True) == {}
    clock.advance(hours=1, minutes=1)
    assert Worker(db).run(once=True) == {"done": 1}


def test_failures_back_off_then_dead_letter_with_reason(
    db: Database, clock: SimulatedClock
) -> None:
    with db.transaction() as session:
        outbox.enqueue(session, "test.flaky", {"n": 1})
        outbox.enqueue(session, "test.ok", {"n": 2})
    assert Worker(db).run(once=True) == {"retry": 1, "done": 1}
    assert statuses(db) == [("pending", 1), ("done", 0)]
    for _ in range(outbox.MAX_ATTEMPTS):
        clock.advance(hours=2)
        Worker(db).run(once=True)
    assert statuses(db)[0] == ("dead", outbox.MAX_ATTEMPTS)
    with db.transaction() as session:
        dead = session.scalars(select(OutboxMessage).where(OutboxMessage.status == "dead")).one()
    assert dead.last_error == "ConnectionError: provider down"
    assert RUNS == [2]


def test_two_workers_never_claim_the_same_message(engines, clock: SimulatedClock) -> None:  # type: ignore[no-untyped-def]
    """Real concurrent claims on PostgreSQL: SKIP LOCKED hands each message to one worker."""
    db = Database(engines("postgresql"))
    with db.transaction() as session:
        session.execute(OutboxMessage.__table__.delete())
        for n in range(200):
            outbox.enqueue(session, "test.ok", {"n": n})
    claimed: list[list[int]] = [[], []]

    def claim_all(slot: int) -> None:
        while ids := outbox.claim(db, limit=7, owner=f"w{slot}"):
            claimed[slot].extend(ids)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed[0]) + len(claimed[1]) == 200
    assert not set(claimed[0]) & set(claimed[1])
    with db.transaction() as session:
        session.execute(OutboxMessage.__table__.delete())
    db.engine.dispose()


def test_claim_leases_exactly_the_claimed_messages(db: Database, clock: SimulatedClock) -> None:
    with db.transaction() as session:
        for n in range(5):
            outbox.enqueue(session, "test.ok", {"n": n})
    ids = outbox.claim(db, limit=3, owner="w1")
    with db.transaction() as session:
        leases = session.execute(
            select(OutboxMessage.id, OutboxMessage.locked_by, OutboxMessage.locked_until).order_by(
                OutboxMessage.id
            )
        ).all()
    lease_end = clock.now() + outbox.LEASE
    assert len(ids) == 3
    assert [(i, by, until) for i, by, until in leases if i in ids] == [
        (i, "w1", lease_end) for i in ids
    ]
    assert [(by, until) for i, by, until in leases if i not in ids] == [(None, None)] * 2
    assert outbox.claim(db, limit=10, owner="w2") == [i for i, _, _ in leases if i not in ids]


def test_batch_handler_marks_only_what_it_finished(db: Database, clock: SimulatedClock) -> None:
    """The batch's finished messages are done at once; the rest run one by one after it."""
    batched: list[int] = []

    def some(session: Session, messages: list[OutboxMessage]) -> set[int]:
        batched.extend(m.payload["n"] for m in messages)
        return {m.id for m in messages if m.payload["n"] % 2 == 0}

    outbox.BATCH_HANDLERS["test.ok"] = some
    try:
        with db.transaction() as session:
            for n in range(4):
                outbox.enqueue(session, "test.ok", {"n": n})
        assert outbox.run_due(db, 10) == {"done": 4}
    finally:
        outbox.BATCH_HANDLERS.pop("test.ok")
    assert batched == [0, 1, 2, 3]
    assert RUNS == [1, 3]
    assert statuses(db) == [("done", 0)] * 4
    with db.transaction() as session:
        leased = session.scalars(select(OutboxMessage.locked_until)).all()
    assert leased == [None] * 4
