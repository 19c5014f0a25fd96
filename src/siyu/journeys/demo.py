"""Demo: enable the new-customer, dormant-recall and member-day SOPs on the sandbox channel and
run 60 simulated days, so the console shows their funnels and suppressions.

New customers are the `sample` most recent WeCom add-contact events (as if they had just
arrived); dormant recall reaches the lifecycle domain's dormant stages every week; member day
goes to repeat and loyal customers on the 8th of each month (a demo-sized audience).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock, get_clock, set_clock
from siyu.core.db import Database
from siyu.ingest.models import Event
from siyu.journeys import engine, service, sim, sops

SANDBOX = {"channel": "sandbox", "sms_channel": "sandbox", "moments_channel": "sandbox"}
ENABLED = {
    "new_customer_48h": {},
    "dormant_recall": {},
    "member_day": {"audience": {"stages": ["repeat", "loyal"]}},
}


def run(
    db: Database,
    principal: Principal,
    sample: int = 2000,
    days: int = 60,
    on_day: Callable[[int, int], None] | None = None,
) -> int:
    """Install, enable and run the demo SOPs; returns the number of steps executed.

    on_day(days passed, days) reports the simulation's progress."""
    with db.transaction() as session:
        journeys = {
            key: sops.install(session, principal, key, {**SANDBOX, **extra})
            for key, extra in ENABLED.items()
        }
        for journey in journeys.values():
            service.set_status(session, principal, journey.id, "active")
    clock = SimulatedClock(get_clock().now())
    previous = set_clock(clock)
    try:
        with db.transaction() as session:
            stmt = (
                select(Event.id, Event.customer_id)
                .where(Event.workspace_id == principal.workspace_id, Event.type == "add_contact")
                .order_by(Event.occurred_at.desc())
                .limit(sample)
            )
            entries = [(c, f"event:{e}") for e, c in session.execute(stmt)]
            new = session.get(type(journeys["new_customer_48h"]), journeys["new_customer_48h"].id)
            assert new is not None
            engine.enter(session, new, entries)
        return sim.run_until(db, clock, clock.now() + timedelta(days=days), on_day=on_day)
    finally:
        set_clock(previous)
