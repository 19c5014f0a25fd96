"""The journeys demo: SOPs enabled on the sandbox, 60 simulated days, funnels filled."""

from __future__ import annotations

from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.journeys import demo, metrics
from siyu.journeys.models import Journey
from tests.conftest import Tenant
from tests.journeys.helpers import ingest_event


def test_demo_runs_sixty_days_of_sops(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    for i in range(12):
        ingest_event(db, tenant.workspace_id, f"1390000{i:04d}", "add_contact", f"a{i}")
    steps = demo.run(db, tenant.principal, sample=10)
    with db.transaction() as session:
        journeys = {j.sop: j for j in session.scalars(select(Journey))}
        assert set(journeys) == {"new_customer_48h", "dormant_recall", "member_day"}
        assert {j.status for j in journeys.values()} == {"active"}
        figures = metrics.journey_metrics(
            session, tenant.principal, journeys["new_customer_48h"].id
        )
        held = figures["holdout"]["entered"]
        # The ten sampled, and the other two through the add_contact trigger (fresh events).
        assert figures["entered"] + held == 12
        assert figures["active"] == 0
        executed = {s["key"]: s["executed"] for s in figures["steps"]}
        # Every treated run walked all eight steps (the event wait timed out).
        assert set(executed.values()) == {figures["entered"]}
        assert steps == 8 * figures["entered"]
        assert session.scalar(select(func.count(Journey.id))) == 3
