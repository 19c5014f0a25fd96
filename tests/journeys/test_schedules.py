"""Schedule ticks: a due schedule enters its audience once; an idle poll costs no statement."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.journeys import service, triggers
from siyu.journeys.models import Journey, JourneyRun
from tests.conftest import Tenant
from tests.journeys.helpers import make_customers, simple

DAILY = {
    "type": "schedule",
    "schedule": {"kind": "periodic", "every_days": 1, "time_of_day": "10:00"},
}
NINE = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the store receives while the test runs."""
    seen: list[str] = []

    def record(conn, cursor, statement, params, context, many) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def _scheduled(db: Database, tenant: Tenant, name: str) -> int:
    with db.transaction() as session:
        journey = service.create(session, tenant.principal, simple(name, trigger=DAILY))
        service.set_status(session, tenant.principal, journey.id, "active")
        return journey.id


def _runs(db: Database, journey_id: int) -> int:
    with db.transaction() as session:
        stmt = select(func.count()).where(JourneyRun.journey_id == journey_id)
        return int(session.scalar(stmt) or 0)


def test_idle_ticks_are_skipped_until_a_firing_is_due(
    db: Database, tenant: Tenant, clock: SimulatedClock, statements: list[str]
) -> None:
    clock.set(NINE)
    make_customers(db, tenant.workspace_id, 3)
    journey_id = _scheduled(db, tenant, "每日")
    assert triggers.tick_schedules(db) == 0
    statements.clear()
    assert triggers.tick_schedules(db) == 0
    assert statements == []  # nothing due before 10:00: no transaction at all
    clock.set(NINE + timedelta(hours=1))
    assert triggers.tick_schedules(db) == 3
    assert _runs(db, journey_id) == 3
    statements.clear()
    assert triggers.tick_schedules(db) == 0
    assert statements == []
    with db.transaction() as session:
        fires = session.scalar(select(Journey.next_fire_at).where(Journey.id == journey_id))
    assert fires == NINE + timedelta(days=1, hours=1)  # tomorrow 10:00


def test_a_journey_enabled_here_or_elsewhere_is_seen(
    db: Database,
    tenant: Tenant,
    clock: SimulatedClock,
    statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock.set(NINE + timedelta(hours=1, minutes=30))  # 10:30: today's 10:00 has passed
    make_customers(db, tenant.workspace_id, 2)
    assert triggers.tick_schedules(db) == 0
    first = _scheduled(db, tenant, "今日")  # enabled in this process: the memo is dropped
    clock.set(NINE + timedelta(days=1, hours=1))
    assert triggers.tick_schedules(db) == 2
    assert _runs(db, first) == 2
    # Enabled by another process (no hook here): a tick skips it for under RECHECK seconds.
    second = _scheduled(db, tenant, "另一个")
    with db.transaction() as session:
        session.execute(
            update(Journey).where(Journey.id == second).values(next_fire_at=clock.now())
        )
    triggers._TICKED[id(db)] = (weakref.ref(db), time.monotonic(), None)
    statements.clear()
    assert triggers.tick_schedules(db) == 0
    assert statements == []
    monkeypatch.setattr(triggers, "RECHECK", 0.0)
    assert triggers.tick_schedules(db) == 2
    assert (_runs(db, first), _runs(db, second)) == (2, 2)
