"""The simulation driver's view: whether work remains, and where the clock jumps next."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.journeys import engine, sim
from siyu.journeys.models import JourneyRun
from tests.conftest import Tenant
from tests.journeys.helpers import make_customers, simple
from tests.journeys.test_engine import _active, _enter


def test_busy_and_the_next_instant_follow_runs_and_leases(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    ids = make_customers(db, tenant.workspace_id, 2)
    journey_id = _active(db, tenant, simple())
    assert not sim.busy(db, journey_id)
    assert _enter(db, journey_id, ids) == 2
    start = clock.now()
    assert sim.busy(db, journey_id)
    assert engine.run_due(db) == 2  # the sends; their deliveries wait in the outbox
    assert sim.advance_to_next(db, clock, start + timedelta(days=30))
    assert clock.now() == start  # deliveries are due now: the clock stays
    # A worker leases the deliveries and dies: nothing is due until its lease ends.
    leased = outbox.claim(db, 100, owner="dead-worker")
    assert len(leased) == 2
    assert not sim.outbox_due(db, clock.now())
    assert sim.advance_to_next(db, clock, start + timedelta(days=30))
    assert clock.now() == start + outbox.LEASE
    assert outbox.run_due(db) == {"done": 2}
    assert sim.advance_to_next(db, clock, start + timedelta(days=30))
    assert clock.now() == start + timedelta(days=1)  # the wait's end
    assert engine.run_due(db) == 4  # the wait ends, then the task: both runs complete
    assert not sim.busy(db, journey_id)
    with db.transaction() as session:
        stmt = select(func.count()).where(JourneyRun.status == "completed")
        assert session.scalar(stmt.select_from(JourneyRun)) == 2
    assert not sim.advance_to_next(db, clock, start + timedelta(days=30))  # nothing left
    assert clock.now() == start + timedelta(days=1)
