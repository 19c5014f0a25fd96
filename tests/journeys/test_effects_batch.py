"""Coupon and points steps of a whole batch decided together: the outcomes of one by one."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.journeys import engine, service, triggers
from siyu.journeys.models import Journey, JourneyRun, JourneyStep
from siyu.loyalty.models import PointsTransfer
from siyu.promotions import coupons
from siyu.promotions.models import Coupon
from siyu.promotions.schemas import TemplateIn
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, member

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def _journey(db: Database, tenant: Tenant) -> int:
    steps = [
        {"key": "gift", "type": "coupon", "template": "满50减20", "next": "bonus"},
        {"key": "bonus", "type": "points", "points": 30, "reason": "新客福利"},
    ]
    data = {"name": "福利", "trigger": {"type": "manual"}, "start": "gift", "steps": steps}
    with db.transaction() as session:
        journey = service.create(session, tenant.principal, data)
        service.set_status(session, tenant.principal, journey.id, "active")
        return journey.id


def test_a_batch_issues_coupons_and_points_as_each_run_alone_would(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    with db.transaction() as session:
        fields = {"name": "满50减20", "kind": "threshold", "threshold_fen": 5000}
        data = TemplateIn.model_validate(fields | {"discount_fen": 2000, "budget_fen": 6000})
        coupons.create_template(session, tenant.principal, data)
    people = [member(db, tenant, "甲"), customer(db, tenant, "乙")]
    people += [member(db, tenant, "丙"), member(db, tenant, "丁")]
    journey_id = _journey(db, tenant)
    with db.transaction() as session:
        journey = session.get(Journey, journey_id)
        assert journey is not None
        assert triggers.enter_manually(session, journey, people, "k") == 4
    assert engine.run_due(db) == 8  # both steps of every run, in one batch
    with db.transaction() as session:
        runs = {
            r.customer_id: (r.id, r.status)
            for r in session.scalars(select(JourneyRun).where(JourneyRun.journey_id == journey_id))
        }
        issued = {c.customer_id: (c.id, c.idempotency_key) for c in session.scalars(select(Coupon))}
        posted = {
            t.customer_id: (t.id, t.idempotency_key, t.points)
            for t in session.scalars(select(PointsTransfer))
        }
        steps = {
            (s.run_id, s.step_key): (s.outcome, s.reason, s.ref)
            for s in session.scalars(select(JourneyStep))
        }
    assert {s for _, s in runs.values()} == {"completed"}
    first_three = people[:3]
    assert issued == {c: (issued[c][0], f"journey:journey:{runs[c][0]}:gift") for c in first_three}
    members = [people[0], people[2], people[3]]
    assert posted == {c: (posted[c][0], f"grant:journey:{runs[c][0]}:bonus", 30) for c in members}
    expected = {}
    for c in people:
        run_id = runs[c][0]
        coupon = ("done", None, f"coupon:{issued[c][0]}") if c in issued else None
        expected[(run_id, "gift")] = coupon or ("skipped", "coupon_refused", None)  # budget
        points = ("done", None, f"points:{posted[c][0]}") if c in posted else None
        expected[(run_id, "bonus")] = points or ("skipped", "not_found", None)  # not a member
    assert steps == expected
