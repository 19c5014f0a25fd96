"""Signals fan out to every subscriber through the outbox, in the producer's transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from siyu.core import outbox, signals
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from tests.conftest import Tenant


@pytest.fixture
def two_subscribers() -> Iterator[list[dict]]:  # type: ignore[type-arg]
    seen: list[dict] = []  # type: ignore[type-arg]
    saved = dict(signals.SUBSCRIBERS)
    for topic in ("test.a", "test.b"):
        signals.subscribe("test.happened", topic)
        outbox.HANDLERS[topic] = lambda _s, m: seen.append({"topic": m.topic, **m.payload})
    yield seen
    signals.SUBSCRIBERS.clear()
    signals.SUBSCRIBERS.update(saved)
    outbox.HANDLERS.pop("test.a")
    outbox.HANDLERS.pop("test.b")


def test_each_subscriber_runs_once_after_commit(
    db: Database,
    tenant: Tenant,
    two_subscribers: list[dict],  # type: ignore[type-arg]
) -> None:
    with db.transaction() as session:
        assert signals.emit(session, tenant.workspace_id, "test.happened", {"n": 1}) == 2
    outbox.run_due(db)
    outbox.run_due(db)
    assert sorted(two_subscribers, key=lambda m: m["topic"]) == [
        {"topic": "test.a", "signal": "test.happened", "n": 1},
        {"topic": "test.b", "signal": "test.happened", "n": 1},
    ]


def test_a_rollback_drops_every_reaction(
    db: Database,
    tenant: Tenant,
    two_subscribers: list[dict],  # type: ignore[type-arg]
) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        signals.emit(session, tenant.workspace_id, "test.happened", {"n": 2})
        raise RuntimeError("boom")
    with db.transaction() as session:
        topics = session.scalars(
            select(OutboxMessage.topic).where(OutboxMessage.topic.in_(["test.a", "test.b"]))
        ).all()
    assert topics == []
    assert outbox.run_due(db) == {}
    assert two_subscribers == []
