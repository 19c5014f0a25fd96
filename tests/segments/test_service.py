"""Segment service: signals on entry and exit, the nightly pass, roles, merges, member_ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from siyu.core import outbox, signals
from siyu.core.auth import Principal
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import Forbidden, InvalidField
from siyu.customers import merge
from siyu.ingest import service as ingest
from siyu.segments import service, tasks  # noqa: F401
from siyu.segments.models import Segment, SegmentMember
from siyu.segments.schemas import SegmentIn
from siyu.workspaces.models import Role
from tests.conftest import Tenant
from tests.segments.data import Domain, build, event

CLICKED = {"type": "event", "event_type": "click", "value": 1, "window": {"last_days": 30}}


@pytest.fixture
def domain(db: Database, clock: SimulatedClock, tenant: Tenant, other_tenant: Tenant) -> Domain:
    return build(db, clock, tenant, other_tenant)


@pytest.fixture
def heard() -> Iterator[list[dict]]:  # type: ignore[type-arg]
    """What a journey would hear: every segment.entered / segment.exited signal."""
    seen: list[dict] = []  # type: ignore[type-arg]
    saved = {k: list(v) for k, v in signals.SUBSCRIBERS.items()}
    for signal in (signals.SEGMENT_ENTERED, signals.SEGMENT_EXITED):
        signals.subscribe(signal, "test.journeys")
    outbox.HANDLERS["test.journeys"] = lambda _s, m: seen.append(dict(m.payload))
    yield seen
    signals.SUBSCRIBERS.clear()
    signals.SUBSCRIBERS.update(saved)
    outbox.HANDLERS.pop("test.journeys")


def create(db: Database, principal: Principal, name: str, rule: dict) -> int:  # type: ignore[type-arg]
    with db.transaction() as session:
        return service.create_segment(session, principal, SegmentIn(name=name, rule=rule)).id


def test_entering_and_leaving_are_signals_with_the_customers(
    db: Database,
    clock: SimulatedClock,
    tenant: Tenant,
    domain: Domain,
    heard: list[dict],  # type: ignore[type-arg]
) -> None:
    segment_id = create(db, tenant.principal, "点击", CLICKED)
    with db.transaction() as session:
        ingest.ingest_events(session, tenant.principal, [event("z1", 4, "click", 0)])
    outbox.run_due(db)
    outbox.run_due(db)
    assert heard == [
        {"signal": "segment.entered", "segment_id": segment_id, "customer_ids": [domain.c4]}
    ]
    clock.advance(days=28)  # c3 clicked 2 to 4 days before the start: now 30+ days ago
    with db.transaction() as session:
        service.refresh(session, session.get(Segment, segment_id))  # type: ignore[arg-type]
    outbox.run_due(db)
    assert len(heard) == 2
    assert heard[-1] == {
        "signal": "segment.exited",
        "segment_id": segment_id,
        "customer_ids": [domain.c3],
    }


def test_an_analyst_may_preview_but_not_save(db: Database, tenant: Tenant, domain: Domain) -> None:
    analyst = Principal(workspace_id=tenant.workspace_id, role=Role.analyst)
    with db.transaction() as session:
        assert service.preview(session, analyst, CLICKED)[0] == 1
        with pytest.raises(Forbidden):
            service.create_segment(session, analyst, SegmentIn(name="x", rule=CLICKED))
        assert session.scalar(select(func.count()).select_from(Segment)) == 0


def test_member_ids_leave_out_merged_customers(
    db: Database, tenant: Tenant, domain: Domain
) -> None:
    city = {"type": "attribute", "field": "city", "op": "eq", "value": "上海"}
    segment_id = create(db, tenant.principal, "上海", city)
    with db.transaction() as session:
        assert service.member_ids(session, tenant.principal, segment_id) == sorted(
            [domain.c1, domain.c3]
        )
        merge.merge(session, tenant.principal, domain.c1, domain.c3, "test")
        assert service.member_ids(session, tenant.principal, segment_id) == [domain.c1]
        entered, exited = service.refresh(session, session.get(Segment, segment_id))  # type: ignore[arg-type]
        assert (entered, exited) == ([], [domain.c3])
        rows = session.scalar(
            select(func.count())
            .select_from(SegmentMember)
            .where(SegmentMember.segment_id == segment_id)
        )
        assert rows == 1


def test_deep_or_huge_rules_are_refused(db: Database, tenant: Tenant, domain: Domain) -> None:
    deep: dict = CLICKED  # type: ignore[type-arg]
    for _ in range(9):
        deep = {"type": "not", "child": deep}
    with db.transaction() as session, pytest.raises(InvalidField) as caught:
        service.preview(session, tenant.principal, deep)
    assert caught.value.detail["errors"][0]["field"].startswith("rule.child.child")


def test_incremental_percentile_uses_the_threshold_of_the_last_full_pass(
    db: Database, tenant: Tenant, domain: Domain
) -> None:
    from siyu.segments import thresholds

    high = {"type": "percentile", "field": "aov_fen", "percentile": 80}
    segment_id = create(db, tenant.principal, "高客单", high)
    with db.transaction() as session:
        service.refresh_workspace(session, tenant.workspace_id)
        # AOVs 5,000 / 10,000 / 30,000: k = ceil(0.8 * 3) = 3, the third smallest.
        assert thresholds.current(session, tenant.workspace_id) == {"aov_fen:80": 30_000.0}
        everyone = [domain.c1, domain.c2, domain.c3, domain.c4]
        assert service.refresh_workspace(session, tenant.workspace_id, everyone) == {
            segment_id: (0, 0)
        }
        assert service.member_ids(session, tenant.principal, segment_id) == [domain.c2]
