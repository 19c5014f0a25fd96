"""Incremental recompute for a few customers equals the full recompute, on both stores."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.ingest import service as ingest
from siyu.ingest.models import Event
from siyu.segments import incremental, service
from siyu.segments.compiler import compile_rule
from siyu.segments.models import Segment, SegmentMember
from siyu.segments.schemas import SegmentIn
from tests.conftest import Tenant
from tests.segments.data import order
from tests.segments.world import LIPSTICK, PEOPLE, definitions, stored, world


def full(session: Session, tenant: Tenant, clock: SimulatedClock) -> dict[str, set[int]]:
    """What a full recompute gives now (rules that use tags or segments read them stored)."""
    out = {"tag": set(session.scalars(compile_rule(LIPSTICK, tenant.workspace_id, clock.now())))}
    for segment in service.ordered(session, tenant.workspace_id):
        stmt = compile_rule(segment.rule, tenant.workspace_id, clock.now())
        out[segment.name] = set(session.scalars(stmt))
    return out


def test_incremental_equals_full_recompute_for_random_customers(
    db: Database, clock: SimulatedClock, tenant: Tenant
) -> None:
    ids = world(db, clock, tenant)
    incremental.clear_plans()
    with db.transaction() as session:
        definitions(session, tenant, ids)
        service.refresh_workspace(session, tenant.workspace_id)
    rnd = random.Random(7)
    moved = 0
    for step in range(4):
        clock.advance(days=11)  # windows move: some leave without any event
        touched = rnd.sample(range(PEOPLE), 6)
        with db.transaction() as session:
            before = stored(session, tenant)
            fresh = [order(f"n{step}-{w}", w, 0, 9_000, "口红") for w in touched[:3]]
            ingest.upsert_orders(session, tenant.principal, fresh)
            picked = sorted({ids[w] for w in touched})
            changes = service.refresh_workspace(session, tenant.workspace_id, picked)
            moved += sum(a + b for a, b in changes.values())
            after = stored(session, tenant)
            expected = full(session, tenant, clock)
            sizes = dict(
                session.execute(
                    select(Segment.name, Segment.size).where(
                        Segment.workspace_id == tenant.workspace_id
                    )
                ).all()
            )
        assert sizes == {name: len(members) for name, members in after.items() if name != "tag"}
        for name, members in expected.items():
            # The picked customers are as the full recompute says; nobody else moved.
            assert after[name] & set(picked) == members & set(picked), (step, name)
            assert after[name] - set(picked) == before[name] - set(picked), (step, name)
    assert moved >= 5  # customers did enter and leave


def test_a_second_run_without_news_writes_nothing(
    db: Database, clock: SimulatedClock, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incremental, "CHUNK", 5)  # several chunks of customers
    ids = world(db, clock, tenant)
    with db.transaction() as session:
        definitions(session, tenant, ids)
        service.refresh_workspace(session, tenant.workspace_id)
        clock.advance(days=20)
        first = service.refresh_workspace(session, tenant.workspace_id, ids)
        events = session.scalar(select(func.count()).select_from(Event)) or 0
        again = service.refresh_workspace(session, tenant.workspace_id, ids)
        assert sum(a + b for a, b in first.values()) > 0
        assert again == {segment_id: (0, 0) for segment_id in first}
        assert session.scalar(select(func.count()).select_from(Event)) == events


def test_a_changed_rule_gets_a_new_plan(
    db: Database, clock: SimulatedClock, tenant: Tenant
) -> None:
    ids = world(db, clock, tenant)
    wide = {"type": "order", "op": "gte", "value": 1}
    with db.transaction() as session:
        segment = service.create_segment(session, tenant.principal, SegmentIn(name="a", rule=wide))
        plan = incremental.plan_for(session, tenant.workspace_id)
        assert incremental.plan_for(session, tenant.workspace_id) is plan
        segment.rule = {"type": "order", "op": "gte", "value": 9}
        session.flush()
        assert incremental.plan_for(session, tenant.workspace_id) is not plan
        service.refresh_workspace(session, tenant.workspace_id, ids)
        assert segment.size == 0
        assert session.scalar(select(func.count()).select_from(SegmentMember)) == 0
