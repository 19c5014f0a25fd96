"""The full pass on the analytics engine equals the one on the store, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.ingest import service as ingest
from siyu.ingest.models import Event
from siyu.segments import full, service
from siyu.segments.models import Segment
from siyu.segments.schemas import SegmentIn
from tests.conftest import Tenant
from tests.segments.data import build, order
from tests.segments.world import definitions, stored, world


@pytest.fixture
def db(committed_db: Database) -> Database:
    """DuckDB reads committed data: these tests commit to a store of their own."""
    return committed_db


CLICKED = {"type": "event", "event_type": "click", "value": 1, "window": {"last_days": 30}}


class Undo(Exception):
    """Raised to roll a transaction back after looking at what it wrote."""


@pytest.mark.parametrize("snapshot", [full.SNAPSHOT, ()], ids=["copied", "read-through"])
def test_engine_pass_equals_store_pass_and_writes_only_differences(
    db: Database,
    clock: SimulatedClock,
    tenant: Tenant,
    snapshot: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whether the tables are copied into the engine (small stores) or read per query."""
    monkeypatch.setattr(full, "SNAPSHOT", snapshot)
    ids = world(db, clock, tenant)
    with db.transaction() as session:
        definitions(session, tenant, ids)
    clock.advance(days=25)  # windows move; new orders arrive without an incremental pass
    with db.transaction() as session:
        fresh = [order(f"late-{w}", w, 0, 9_000, "口红") for w in range(0, 12, 2)]
        ingest.upsert_orders(session, tenant.principal, fresh)
    outcomes = []
    for run in ("engine", "store"):
        with pytest.raises(Undo), db.transaction() as session:
            events = session.scalar(select(func.count()).select_from(Event)) or 0
            if run == "engine":
                changes = full.refresh_all(db, session, tenant.workspace_id).changes
            else:
                changes = service.refresh_workspace(session, tenant.workspace_id)
            sizes = {
                s.name: s.size
                for s in session.scalars(
                    select(Segment).where(Segment.workspace_id == tenant.workspace_id)
                )
            }
            written = (session.scalar(select(func.count()).select_from(Event)) or 0) - events
            outcomes.append((changes, stored(session, tenant), sizes, written))
            raise Undo
    engine, store = outcomes
    assert engine == store
    changes, members, sizes, written = engine
    assert sum(a + b for a, b in changes.values()) == written > 0
    assert sizes == {name: len(ids_) for name, ids_ in members.items() if name != "tag"}


def test_a_second_engine_pass_changes_nothing(
    db: Database, clock: SimulatedClock, tenant: Tenant
) -> None:
    ids = world(db, clock, tenant)
    with db.transaction() as session:
        definitions(session, tenant, ids)
    clock.advance(days=25)
    with db.transaction() as session:
        first = full.refresh_all(db, session, tenant.workspace_id)
    with db.transaction() as session:
        before = stored(session, tenant)
        again = full.refresh_all(db, session, tenant.workspace_id)
        assert stored(session, tenant) == before
    assert sum(a + b for a, b in first.changes.values()) > 0
    assert again.changes == {segment_id: (0, 0) for segment_id in first.changes}
    assert {"start", "write", "total"} <= set(again.seconds)


def create(db: Database, tenant: Tenant, name: str, rule: dict) -> int:  # type: ignore[type-arg]
    with db.transaction() as session:
        principal = tenant.principal
        return service.create_segment(session, principal, SegmentIn(name=name, rule=rule)).id


def test_nightly_pass_is_queued_runs_and_queues_the_next(
    db: Database, clock: SimulatedClock, tenant: Tenant, other_tenant: Tenant
) -> None:
    domain = build(db, clock, tenant, other_tenant)
    segment_id = create(db, tenant, "点击", CLICKED)
    create(db, tenant, "点击2", CLICKED)  # a second segment does not queue twice
    with db.transaction() as session:
        runs = list(
            session.scalars(
                select(OutboxMessage.run_at).where(OutboxMessage.topic == service.NIGHTLY)
            )
        )
    # 03:00 in Shanghai is 19:00 UTC the day before.
    assert runs == [datetime(2026, 12, 1, 19, 0, tzinfo=UTC)]
    clock.set(datetime(2026, 12, 31, 19, 30, tzinfo=UTC))
    outbox.run_due(db)
    with db.transaction() as session:
        segment = session.get(Segment, segment_id)
        assert segment is not None and segment.size == 0  # every click is now too old
        left = session.scalars(select(Event.customer_id).where(Event.type == "segment_exited"))
        assert sorted(left) == [domain.c3, domain.c3]  # from both segments
        pending = list(
            session.scalars(
                select(OutboxMessage.run_at).where(
                    OutboxMessage.topic == service.NIGHTLY, OutboxMessage.status == "pending"
                )
            )
        )
    assert pending == [datetime(2027, 1, 1, 19, 0, tzinfo=UTC)]


def test_a_full_pass_retires_the_incremental_refreshes_queued_before_it(
    db: Database, clock: SimulatedClock, tenant: Tenant
) -> None:
    ids = world(db, clock, tenant)
    with db.transaction() as session:
        definitions(session, tenant, ids)
        session.execute(outbox.OutboxMessage.__table__.delete())
        queued = [
            outbox.enqueue(session, service.INCREMENTAL, {"customer_ids": [c]}, workspace_id=w)
            for c, w in ((ids[0], tenant.workspace_id), (ids[1], tenant.workspace_id + 999))
        ]
        leased = outbox.enqueue(
            session,
            service.INCREMENTAL,
            {"customer_ids": [ids[2]]},
            workspace_id=tenant.workspace_id,
        )
        leased.locked_until = clock.now()
        other = outbox.enqueue(
            session, "lifecycle.incremental", {}, workspace_id=tenant.workspace_id
        )
        mine, elsewhere = queued
        keys = [mine.id, elsewhere.id, leased.id, other.id]
    with db.transaction() as session:
        full.refresh_all(db, session, tenant.workspace_id)
    with db.transaction() as session:
        got = {
            m.id: (m.status, m.last_error)
            for m in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(keys)))
        }
    assert got == {
        keys[0]: ("done", "superseded by a full pass"),
        keys[1]: ("pending", None),  # another workspace's
        keys[2]: ("pending", None),  # a worker holds it: it runs (harmlessly) as it is
        keys[3]: ("pending", None),  # another topic
    }
