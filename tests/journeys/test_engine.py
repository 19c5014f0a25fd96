"""Running journeys: steps once each, waits, versions, holdout, split, branch, goal, re-entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.journeys import engine, service, triggers
from siyu.journeys.models import Journey, JourneyRun, JourneyStep, JourneyTask, JourneyTimer
from tests.conftest import Tenant
from tests.journeys.helpers import drain, make_customers, simple


def _active(db: Database, tenant: Tenant, data: dict[str, Any]) -> int:
    with db.transaction() as session:
        journey = service.create(session, tenant.principal, data)
        service.set_status(session, tenant.principal, journey.id, "active")
        return journey.id


def _enter(db: Database, journey_id: int, ids: list[int], key: str = "k") -> int:
    with db.transaction() as session:
        journey = session.get(Journey, journey_id)
        assert journey is not None
        return triggers.enter_manually(session, journey, ids, key)


def _steps(db: Database, journey_id: int) -> list[tuple[int, str, str]]:
    with db.transaction() as session:
        stmt = (
            select(JourneyStep.run_id, JourneyStep.step_key, JourneyStep.outcome)
            .where(JourneyStep.journey_id == journey_id)
            .order_by(JourneyStep.run_id, JourneyStep.id)
        )
        return [tuple(r) for r in session.execute(stmt)]  # type: ignore[misc]


def _runs(db: Database, journey_id: int) -> dict[int, JourneyRun]:
    with db.transaction() as session:
        stmt = select(JourneyRun).where(JourneyRun.journey_id == journey_id)
        return {r.customer_id: r for r in session.scalars(stmt)}


def test_every_step_runs_once_with_its_wait(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    ids = make_customers(db, tenant.workspace_id, 3)
    journey_id = _active(db, tenant, simple())
    entered_at = clock.now()
    assert _enter(db, journey_id, ids) == 3
    assert _enter(db, journey_id, ids) == 0  # the same entry key enters no one twice
    assert engine.run_due(db) == 3  # the sends; then everyone waits a day
    assert engine.run_due(db) == 0
    clock.advance(hours=23)
    assert engine.run_due(db) == 0
    clock.advance(hours=1)
    assert engine.run_due(db) == 6  # the wait ends, the task is created
    runs = _runs(db, journey_id)
    assert {r.status for r in runs.values()} == {"completed"}
    steps = _steps(db, journey_id)
    assert sorted(steps) == sorted(
        (runs[c].id, key, outcome)
        for c in ids
        for key, outcome in (("hello", "sent"), ("pause", "done"), ("call", "done"))
    )
    with db.transaction() as session:
        tasks = list(session.scalars(select(JourneyTask).order_by(JourneyTask.customer_id)))
        assert [(t.customer_id, t.assignee, t.title) for t in tasks] == [
            (c, "guide-1", "回访") for c in ids
        ]
        assert {t.due_at for t in tasks} == {entered_at + timedelta(days=2)}
        assert session.scalar(select(func.count(JourneyTimer.id))) == 0


def test_runs_in_flight_keep_their_version(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    first, second = make_customers(db, tenant.workspace_id, 2)
    journey_id = _active(db, tenant, simple())
    _enter(db, journey_id, [first], "a")
    engine.run_due(db)
    edited = simple()
    edited["steps"][2] = {"key": "call", "type": "tag", "tag": "已回访"}
    with db.transaction() as session:
        journey = service.update(session, tenant.principal, journey_id, edited)
        assert service.version_number(session, journey) == 2
    _enter(db, journey_id, [second], "b")
    drain(db, clock)
    runs = _runs(db, journey_id)
    kinds = {
        run_id: kind
        for run_id, kind in db.factory().execute(
            select(JourneyStep.run_id, JourneyStep.kind).where(JourneyStep.step_key == "call")
        )
    }
    assert kinds == {runs[first].id: "task", runs[second].id: "tag"}
    assert runs[first].version_id != runs[second].version_id


def test_holdout_is_recorded_and_gets_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    ids = make_customers(db, tenant.workspace_id, 40)
    journey_id = _active(db, tenant, simple(holdout_percent=30))
    _enter(db, journey_id, ids)
    drain(db, clock)
    runs = _runs(db, journey_id)
    held = {c for c in ids if engine.bucket(journey_id, c, "holdout", 100) < 30}
    assert 0 < len(held) < 40
    assert {c for c, r in runs.items() if r.status == "holdout"} == held
    stepped = {run_id for run_id, _, _ in _steps(db, journey_id)}
    assert stepped == {runs[c].id for c in ids if c not in held}


def test_split_is_deterministic_and_branch_reads_attributes(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    shanghai = make_customers(db, tenant.workspace_id, 10, city="上海")
    beijing = make_customers(db, tenant.workspace_id, 10, city="北京")
    data = {
        "name": "分流",
        "trigger": {"type": "manual"},
        "start": "ab",
        "steps": [
            {
                "key": "ab",
                "type": "split",
                "variants": [
                    {"name": "a", "weight": 1, "next": "where"},
                    {"name": "b", "weight": 1, "next": "where"},
                ],
            },
            {
                "key": "where",
                "type": "branch",
                "rules": [{"all": [{"attribute": "city", "value": "上海"}], "next": "sh"}],
                "next": "other",
            },
            {"key": "sh", "type": "task", "title": "上海门店", "assignee": "sh"},
            {"key": "other", "type": "exit"},
        ],
    }
    journey_id = _active(db, tenant, data)
    _enter(db, journey_id, shanghai + beijing)
    drain(db, clock)
    runs = _runs(db, journey_id)
    for c, run in runs.items():
        expected = "a" if engine.bucket(journey_id, c, "ab", 2) == 0 else "b"
        assert run.variant == expected
        assert run.status == ("completed" if c in shanghai else "exited")
    assert {r.variant for r in runs.values()} == {"a", "b"}
    with db.transaction() as session:
        assert sorted(session.scalars(select(JourneyTask.customer_id))) == sorted(shanghai)


def test_wait_until_a_local_time_of_day(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    (customer,) = make_customers(db, tenant.workspace_id, 1)
    data = simple()
    data["steps"][1] = {"key": "pause", "type": "wait", "until_time": "20:00", "next": "call"}
    journey_id = _active(db, tenant, data)
    clock.set(datetime(2026, 1, 5, 13, 0, tzinfo=UTC))  # 21:00 in Shanghai: tomorrow's 20:00
    _enter(db, journey_id, [customer])
    engine.run_due(db)
    with db.transaction() as session:
        (due,) = session.scalars(select(JourneyTimer.due_at))
    assert due == datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


def test_reentry_policies(db: Database, tenant: Tenant, clock: SimulatedClock) -> None:
    (customer,) = make_customers(db, tenant.workspace_id, 1)
    never = _active(db, tenant, simple("never"))
    later = _active(db, tenant, simple("later", re_entry={"policy": "after_days", "days": 10}))
    always = _active(db, tenant, simple("always", re_entry={"policy": "always"}))
    counts = []
    for day, key in ((0, "a"), (3, "b"), (11, "c")):
        clock.set(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=day))
        counts.append(tuple(_enter(db, j, [customer], key) for j in (never, later, always)))
    assert counts == [(1, 1, 1), (0, 0, 1), (0, 1, 1)]


def test_paused_journey_holds_runs_until_enabled(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    ids = make_customers(db, tenant.workspace_id, 2)
    journey_id = _active(db, tenant, simple())
    _enter(db, journey_id, ids)
    with db.transaction() as session:
        service.set_status(session, tenant.principal, journey_id, "paused")
    assert engine.run_due(db) == 0
    assert _enter(db, journey_id, ids, "again") == 0
    with db.transaction() as session:
        service.set_status(session, tenant.principal, journey_id, "active")
    assert engine.run_due(db) == 2


def test_a_failing_step_is_retried_then_dead_lettered_and_others_go_on(
    db: Database, tenant: Tenant, clock: SimulatedClock, monkeypatch
) -> None:
    good, bad = make_customers(db, tenant.workspace_id, 2)
    real = engine.ACTIONS["send"]

    def flaky(ctx, step):  # type: ignore[no-untyped-def]
        if ctx.customer_id == bad:
            raise RuntimeError("provider answered garbage")
        return real(ctx, step)

    monkeypatch.setitem(engine.ACTIONS, "send", flaky)
    journey_id = _active(db, tenant, simple())
    _enter(db, journey_id, [good, bad])
    assert engine.run_due(db) == 1
    for _ in range(engine.MAX_ATTEMPTS):
        clock.advance(hours=2)
        engine.run_due(db)
    drain(db, clock)
    runs = _runs(db, journey_id)
    assert (runs[good].status, runs[bad].status) == ("completed", "failed")
    assert runs[bad].error == "RuntimeError: provider answered garbage"
    assert [(k, o) for r, k, o in _steps(db, journey_id) if r == runs[bad].id] == [
        ("hello", "failed")
    ]


def test_first_order_enters_once_and_old_events_trigger_nothing(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    from tests.journeys.helpers import ingest_event, place_order, signals_delivered

    first = _active(db, tenant, simple("首单", trigger={"type": "first_order"}))
    added = _active(db, tenant, simple("加好友", trigger={"type": "event", "event": "add_contact"}))
    place_order(db, tenant.workspace_id, "13911110000", "O1", 9900)
    signals_delivered(db)
    place_order(db, tenant.workspace_id, "13911110000", "O2", 9900)
    signals_delivered(db)
    assert len(_runs(db, first)) == 1
    (run,) = _runs(db, first).values()
    with db.transaction() as session:
        from siyu.ingest.models import Order

        first_order = session.scalar(select(func.min(Order.id)))
    assert run.entry_key == f"order:{first_order}"
    stale = (clock.now() - timedelta(days=30)).isoformat()
    ingest_event(db, tenant.workspace_id, "13922220000", "add_contact", "old", occurred_at=stale)
    ingest_event(db, tenant.workspace_id, "13933330000", "add_contact", "new")
    signals_delivered(db)
    assert len(_runs(db, added)) == 1


def test_stage_and_segment_signals_enter_and_tag_steps_tag(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    from siyu.core import signals
    from siyu.tags.models import CustomerTag, Tag
    from tests.journeys.helpers import signals_delivered

    a, b, c = make_customers(db, tenant.workspace_id, 3)
    tagging = [{"key": "vip", "type": "tag", "tag": "VIP"}]
    staged = _active(
        db,
        tenant,
        {
            "name": "成为忠诚",
            "trigger": {"type": "lifecycle_stage", "stage": "loyal"},
            "start": "vip",
            "steps": tagging,
        },
    )
    segment = _active(
        db,
        tenant,
        {
            "name": "进入人群",
            "trigger": {"type": "segment_entered", "segment_id": 77},
            "start": "vip",
            "steps": tagging,
        },
    )
    with db.transaction() as session:
        changes = [
            {"customer_id": a, "from": "repeat", "to": "loyal"},
            {"customer_id": b, "from": "new", "to": "repeat"},
        ]
        signals.emit(
            session,
            tenant.workspace_id,
            signals.LIFECYCLE_STAGE_CHANGED,
            {"at": clock.now().isoformat(), "changes": changes},
        )
        signals.emit(
            session,
            tenant.workspace_id,
            signals.SEGMENT_ENTERED,
            {"segment_id": 77, "customer_ids": [c]},
        )
        signals.emit(
            session,
            tenant.workspace_id,
            signals.SEGMENT_ENTERED,
            {"segment_id": 78, "customer_ids": [b]},
        )
    signals_delivered(db)
    assert set(_runs(db, staged)) == {a}
    assert set(_runs(db, segment)) == {c}
    drain(db, clock)
    with db.transaction() as session:
        stmt = (
            select(CustomerTag.customer_id)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(Tag.name == "VIP", Tag.workspace_id == tenant.workspace_id)
        )
        assert sorted(session.scalars(stmt)) == sorted([a, c])
