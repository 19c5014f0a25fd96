"""Channels test helpers: customers made through ingest, configs pointing at loopback fakes,
and a drain that runs the outbox the way `siyu worker` does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.channels import service
from siyu.channels.models import Touch
from siyu.channels.schemas import ConfigIn
from siyu.core import outbox
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.ingest.service import ingest_events
from tests.channels import fakes

# 10:00 in Shanghai: outside quiet hours.
MORNING = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[tuple[str, fakes.State]]:
    """Fake providers on loopback for this test."""
    with fakes.providers() as running:
        yield running


@pytest.fixture
def morning(clock: SimulatedClock) -> SimulatedClock:
    """The simulated clock at 10:00 local time."""
    clock.set(MORNING)
    return clock


def person(
    db: Database, principal: Principal, n: int, *, phone: str | None = None, name: str = "王小美"
) -> int:
    """A customer with a phone, an email and a WeCom external contact id; returns their id."""
    identifiers = {
        "phone": phone or f"139{n:08d}",
        "email": f"p{n}@example.com",
        "wecom_external_userid": f"wm-{n}",
    }
    item: dict[str, Any] = {
        "event_id": f"seed-{n}",
        "type": "view",
        "occurred_at": "2026-03-01T10:00:00+08:00",
        "identifiers": identifiers,
        "attributes": {"name": name, "city": "杭州"},
    }
    with db.transaction() as session:
        result = ingest_events(session, principal, [item])
    customer_id = result.results[0].customer_id
    assert customer_id is not None
    return customer_id


def configure(db: Database, principal: Principal, channel: str, **fields: Any) -> None:
    """Save a channel config."""
    with db.transaction() as session:
        service.put_config(session, principal, channel, ConfigIn(**fields))


def send(db: Database, principal: Principal, key: str, **kwargs: Any) -> Touch:
    """service.send in its own transaction."""
    kwargs.setdefault("content", {"text": "{{ customer.name }}，您好"})
    with db.transaction() as session:
        return service.send(session, principal, idempotency_key=key, **kwargs)


def drain(db: Database, rounds: int = 20) -> None:
    """Run due outbox messages until none is due (what `siyu worker` does)."""
    for _ in range(rounds):
        if not outbox.run_due(db, 500):
            return


def touch(db: Database, touch_id: int) -> Touch:
    """A fresh read of one touch."""
    with db.transaction() as session:
        found = session.get(Touch, touch_id)
        assert found is not None
        return found


def pending_deliveries(db: Database) -> int:
    """Outbox messages of the delivery topic not yet done."""
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    OutboxMessage.topic == "channels.deliver", OutboxMessage.status == "pending"
                )
            )
            or 0
        )
