"""What the journey tests share: customers, a simple definition, running the worker to the end."""

from __future__ import annotations

from typing import Any

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers.models import Customer
from siyu.journeys import engine, triggers
from siyu.journeys.engine import next_due


def make_customers(db: Database, workspace_id: int, count: int, **attrs: Any) -> list[int]:
    """Insert customers and return their ids."""
    with db.transaction() as session:
        rows = [Customer(workspace_id=workspace_id, **attrs) for _ in range(count)]
        session.add_all(rows)
        session.flush()
        return [c.id for c in rows]


def simple(name: str = "测试旅程", **extra: Any) -> dict[str, Any]:
    """send → wait 1 day → task → end, entered by hand."""
    steps = [
        {
            "key": "hello",
            "type": "send",
            "channel": "sandbox",
            "content": "你好 {{ customer.name }}",
            "purpose": "transactional",
            "next": "pause",
        },
        {"key": "pause", "type": "wait", "duration": {"days": 1}, "next": "call"},
        {"key": "call", "type": "task", "title": "回访", "assignee": "guide-1"},
    ]
    return {"name": name, "trigger": {"type": "manual"}, "start": "hello", "steps": steps, **extra}


def drain(db: Database, clock: SimulatedClock, days: float = 90) -> int:
    """Run the worker's journey pass, jumping the clock to each next timer, up to `days`."""
    limit = clock.now().timestamp() + days * 86400
    total = 0
    while True:
        triggers.tick_schedules(db)
        done = engine.run_due(db)
        total += done
        if done:
            continue
        with db.transaction() as session:
            due = next_due(session)
        if due is None or due.timestamp() > limit:
            return total
        if due > clock.now():
            clock.set(due)


def ingest_event(
    db: Database, workspace_id: int, phone: str, kind: str, event_id: str, **extra: Any
) -> int:
    """One event through the ingest service (as POST /events:batch); returns its customer."""
    from siyu.core.auth import system_principal
    from siyu.core.clock import now
    from siyu.ingest.service import ingest_events

    item = {
        "event_id": event_id,
        "type": kind,
        "occurred_at": now().isoformat(),
        "identifiers": {"phone": phone},
        **extra,
    }
    with db.transaction() as session:
        result = ingest_events(session, system_principal(workspace_id), [item])
    assert result.results[0].status == "accepted", result.results[0].errors
    return int(result.results[0].customer_id or 0)


def place_order(db: Database, workspace_id: int, phone: str, external_id: str, fen: int) -> int:
    """One paid order through the ingest service; returns the order id."""
    from siyu.core.auth import system_principal
    from siyu.core.clock import now
    from siyu.ingest.schemas import OrderIn
    from siyu.ingest.service import upsert_order

    data = OrderIn(
        external_id=external_id,
        channel="tmall",
        ordered_at=now(),
        total_fen=fen,
        paid_fen=fen,
        identifiers={"phone": phone},
    )
    with db.transaction() as session:
        order, _ = upsert_order(session, system_principal(workspace_id), data)
        return order.id


def signals_delivered(db: Database) -> None:
    """Run the outbox until empty (signal reactions)."""
    from siyu.core import outbox

    while outbox.run_due(db):
        pass
