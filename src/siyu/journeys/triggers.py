"""Who enters when: reactions to ingest and segment/lifecycle signals, schedules, goals, waits."""

from __future__ import annotations

import time
import weakref
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from siyu.core import outbox, signals
from siyu.core.clock import now
from siyu.core.db import Database
from siyu.customers.models import Customer
from siyu.ingest.models import Event, Order
from siyu.journeys import engine
from siyu.journeys.definition import Audience, Definition
from siyu.journeys.models import Journey, JourneyRun, JourneyTimer

SEGMENT_ENTERED = getattr(signals, "SEGMENT_ENTERED", "segment.entered")
SEGMENT_EXITED = getattr(signals, "SEGMENT_EXITED", "segment.exited")
STAGE_CHANGED = getattr(signals, "LIFECYCLE_STAGE_CHANGED", "lifecycle.stage_changed")
# Events of one ingest batch were received at most this long before its signal was emitted.
BATCH_WINDOW = timedelta(minutes=1)
# An event older than this (a history import, a late upload) triggers no journey.
FRESH = timedelta(days=2)
CHUNK = 5000

signals.subscribe(signals.EVENTS_INGESTED, "journeys.events")
signals.subscribe(signals.ORDERS_STORED, "journeys.orders")
signals.subscribe(SEGMENT_ENTERED, "journeys.segment_entered")
signals.subscribe(SEGMENT_EXITED, "journeys.segment_exited")
signals.subscribe(STAGE_CHANGED, "journeys.stage_changed")


def active_journeys(session: Session, workspace_id: int, trigger: str | None = None) -> list[Any]:
    """The workspace's enabled journeys (of one trigger kind) with their definitions."""
    stmt = select(Journey).where(Journey.workspace_id == workspace_id, Journey.status == "active")
    if trigger:
        stmt = stmt.where(Journey.trigger_type == trigger)
    found = []
    for journey in session.scalars(stmt.order_by(Journey.id)):
        if journey.version_id is not None:
            found.append((journey, engine.compiled(session, journey.version_id).definition))
    return found


@outbox.handler("journeys.events")
def on_events(session: Session, message: outbox.OutboxMessage) -> None:
    """Events arrived: enter event-triggered journeys, wake waits, count goals."""
    workspace_id = int(message.workspace_id or 0)
    ids, types = message.payload["customer_ids"], message.payload["types"]
    journeys = active_journeys(session, workspace_id)
    triggered = [(j, d) for j, d in journeys if j.trigger_type == "event"]
    goals = {d.goal.event for _, d in journeys if d.goal is not None}
    # Only the events some journey enters on or counts as a goal are read (a history import
    # brings hundreds of thousands of views and messages that concern none).
    wanted = sorted(({d.trigger.event for _, d in triggered} | goals) & set(types))
    events = _batch_events(session, ids, wanted, message.created_at)
    for journey, definition in triggered:
        trigger = definition.trigger
        entries = [
            (e.customer_id, f"event:{e.id}")
            for e in events
            if e.type == trigger.event
            and e.occurred_at >= now() - FRESH
            and all((e.properties or {}).get(k) == v for k, v in trigger.where.items())
        ]
        engine.enter(session, journey, entries)
    wake(session, workspace_id, ids, types)
    for event_type in goals & set(wanted):
        revenue = {e.customer_id: e.amount_fen or 0 for e in events if e.type == event_type}
        converted(session, workspace_id, event_type, revenue)


def _batch_events(
    session: Session, ids: list[int], types: list[str], emitted: datetime
) -> list[Any]:
    """The batch's events of these types: (id, customer_id, type, occurred_at, properties,
    amount_fen) rows, not entities (a batch may hold tens of thousands)."""
    found: list[Any] = []
    if not types:
        return found
    columns = (Event.id, Event.customer_id, Event.type, Event.occurred_at)
    for i in range(0, len(ids), CHUNK):
        # By customer alone (the batch's, of this workspace): with the workspace test SQLite
        # reads the workspace's whole index to spare the ORDER BY's sort.
        stmt = select(*columns, Event.properties, Event.amount_fen).where(
            Event.customer_id.in_(ids[i : i + CHUNK]),
            Event.type.in_(types),
            Event.received_at >= emitted - BATCH_WINDOW,
            Event.received_at <= emitted,
        )
        found += session.execute(stmt.order_by(Event.id)).all()
    return found


@outbox.handler("journeys.orders")
def on_orders(session: Session, message: outbox.OutboxMessage) -> None:
    """Orders stored: enter first-order journeys, count order goals with their revenue."""
    workspace_id = int(message.workspace_id or 0)
    order_ids = message.payload["order_ids"]
    orders = []
    for i in range(0, len(order_ids), CHUNK):
        stmt = select(Order.id, Order.customer_id, Order.paid_fen).where(
            Order.workspace_id == workspace_id, Order.id.in_(order_ids[i : i + CHUNK])
        )
        orders += list(session.execute(stmt))
    revenue: dict[int, int] = defaultdict(int)
    for _, customer_id, paid in orders:
        revenue[customer_id] += paid
    journeys = active_journeys(session, workspace_id, "first_order")
    if journeys:
        firsts = first_orders(session, workspace_id, list(revenue))
        entries = [(c, f"order:{o}") for c, o in firsts.items() if o in set(order_ids)]
        for journey, _ in journeys:
            engine.enter(session, journey, entries)
    converted(session, workspace_id, "order", dict(revenue))


def first_orders(session: Session, workspace_id: int, customer_ids: list[int]) -> dict[int, int]:
    """Each customer's first stored order id."""
    found: dict[int, int] = {}
    for i in range(0, len(customer_ids), CHUNK):
        stmt = (
            select(Order.customer_id, func.min(Order.id))
            .where(
                Order.workspace_id == workspace_id,
                Order.customer_id.in_(customer_ids[i : i + CHUNK]),
            )
            .group_by(Order.customer_id)
        )
        found.update({c: o for c, o in session.execute(stmt)})
    return found


def _signal_entries(session: Session, message: outbox.OutboxMessage, kind: str) -> None:
    workspace_id = int(message.workspace_id or 0)
    payload = message.payload
    ids = [int(c) for c in payload.get("customer_ids", [])]
    for journey, definition in active_journeys(session, workspace_id, kind):
        trigger = definition.trigger
        if kind == "lifecycle_stage":
            # changes: [{customer_id, from, to}]; those who moved into the trigger's stage.
            moved = [c for c in payload.get("changes", []) if c.get("to") == trigger.stage]
            key = f"stage:{trigger.stage}:{payload.get('at', message.id)}"
            engine.enter(session, journey, [(int(c["customer_id"]), key) for c in moved])
            continue
        if int(payload.get("segment_id", -1)) != trigger.segment_id:
            continue
        key = f"{kind}:{trigger.segment_id}:{message.id}"
        engine.enter(session, journey, [(c, key) for c in ids])


@outbox.handler("journeys.segment_entered")
def on_segment_entered(session: Session, message: outbox.OutboxMessage) -> None:
    """Customers entered a segment."""
    _signal_entries(session, message, "segment_entered")


@outbox.handler("journeys.segment_exited")
def on_segment_exited(session: Session, message: outbox.OutboxMessage) -> None:
    """Customers left a segment."""
    _signal_entries(session, message, "segment_exited")


@outbox.handler("journeys.stage_changed")
def on_stage_changed(session: Session, message: outbox.OutboxMessage) -> None:
    """Customers moved to a lifecycle stage."""
    _signal_entries(session, message, "lifecycle_stage")


def wake(session: Session, workspace_id: int, customer_ids: list[int], types: list[str]) -> int:
    """Runs waiting for one of these event types leave their wait by the event branch now."""
    woken = 0
    for event_type in set(types):
        for i in range(0, len(customer_ids), CHUNK):
            runs = select(JourneyRun.id).where(
                JourneyRun.workspace_id == workspace_id,
                JourneyRun.customer_id.in_(customer_ids[i : i + CHUNK]),
                JourneyRun.status == "active",
                JourneyRun.waiting_for == event_type,
            )
            result = session.execute(
                update(JourneyTimer)
                .where(JourneyTimer.run_id.in_(runs), JourneyTimer.woken_by.is_(None))
                .values(due_at=now(), woken_by=event_type)
                .execution_options(synchronize_session=False)
            )
            woken += int(getattr(result, "rowcount", 0) or 0)
    return woken


def converted(session: Session, workspace_id: int, goal: str, revenue: dict[int, int]) -> int:
    """Runs whose goal this is convert (within the window): active ones exit, holdouts count."""
    if not revenue:
        return 0
    at, count = now(), 0
    for journey, definition in active_journeys(session, workspace_id):
        if definition.goal is None or definition.goal.event != goal:
            continue
        since = at - timedelta(days=definition.goal.within_days)
        ids = list(revenue)
        for i in range(0, len(ids), CHUNK):
            stmt = select(JourneyRun).where(
                JourneyRun.journey_id == journey.id,
                JourneyRun.customer_id.in_(ids[i : i + CHUNK]),
                JourneyRun.status.in_(("active", "holdout", "completed")),
                JourneyRun.converted_at.is_(None),
                JourneyRun.entered_at >= since,
            )
            for run in session.scalars(stmt):
                run.converted_at, run.revenue_fen = at, revenue[run.customer_id]
                if run.status == "active":
                    run.status, run.finished_at, run.waiting_for = "converted", at, None
                    session.execute(delete(JourneyTimer).where(JourneyTimer.run_id == run.id))
                count += 1
    session.flush()
    return count


# Per store: (the store, monotonic time of the last tick, the soonest firing it saw). A worker
# polls every few ms; a transaction each time just to find no schedule due was a third of an
# idle poll. Changes made in another process are seen within RECHECK real seconds.
_TICKED: dict[int, tuple[weakref.ref[Database], float, datetime | None]] = {}
RECHECK = 1.0


def tick_schedules(db: Database) -> int:
    """Enter the audiences of scheduled journeys that are due; returns how many entered.

    Skipped (0) when the last tick, under RECHECK seconds ago, saw no firing due before now."""
    if _recently_idle(db):
        return 0
    entered = 0
    scheduled = (Journey.status == "active", Journey.trigger_type == "schedule")
    with db.transaction() as session:
        stmt = select(Journey).where(*scheduled, Journey.next_fire_at <= now())
        if db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        for journey in list(session.scalars(stmt)):
            entered += fire(session, journey)
        soonest = session.scalar(select(func.min(Journey.next_fire_at)).where(*scheduled))
    _TICKED[id(db)] = (weakref.ref(db), time.monotonic(), soonest)
    return entered


def _recently_idle(db: Database) -> bool:
    seen = _TICKED.get(id(db))
    if seen is None or seen[0]() is not db or time.monotonic() - seen[1] >= RECHECK:
        return False
    return seen[2] is None or now() < seen[2]


def schedules_changed() -> None:
    """Forget what the last ticks saw (a journey was enabled or edited in this process)."""
    _TICKED.clear()


def fire(session: Session, journey: Journey) -> int:
    """One firing of a schedule: the audience enters, and the next firing is set."""
    from siyu.journeys.service import first_fire

    fired = journey.next_fire_at or now()
    definition = engine.compiled(session, journey.version_id or 0).definition
    key = f"schedule:{fired.isoformat()}"
    tz = engine.zone(session, journey.workspace_id)
    ids = audience(session, journey.workspace_id, definition, fired.astimezone(tz).date())
    entered = 0
    for i in range(0, len(ids), CHUNK):
        entered += engine.enter(session, journey, [(c, key) for c in ids[i : i + CHUNK]])
    journey.next_fire_at = first_fire(session, journey, definition, fired)
    session.flush()
    return entered


def audience(session: Session, workspace_id: int, definition: Definition, day: Any) -> list[int]:
    """Customer ids a scheduled journey enters."""
    who = definition.trigger.audience or Audience()
    stmt = select(Customer.id).where(
        Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None)
    )
    if who.segment_id is not None:
        from siyu.segments.models import SegmentMember

        stmt = stmt.where(
            Customer.id.in_(
                select(SegmentMember.customer_id).where(SegmentMember.segment_id == who.segment_id)
            )
        )
    if who.tag is not None:
        from siyu.tags.models import CustomerTag, Tag

        tagged = (
            select(CustomerTag.customer_id)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(Tag.workspace_id == workspace_id, Tag.name == who.tag)
        )
        stmt = stmt.where(Customer.id.in_(tagged))
    stages = [*who.stages, *([who.lifecycle_stage] if who.lifecycle_stage else [])]
    if stages:
        from siyu.lifecycle.models import CustomerMetrics

        staged = select(CustomerMetrics.customer_id).where(
            CustomerMetrics.workspace_id == workspace_id,
            CustomerMetrics.lifecycle_stage.in_(stages),
        )
        stmt = stmt.where(Customer.id.in_(staged))
    if who.birthday_today:
        stmt = stmt.where(Customer.birthday.like(f"%-{day.month:02d}-{day.day:02d}"))
    return list(session.scalars(stmt.order_by(Customer.id)))


def enter_manually(
    session: Session, journey: Journey, customer_ids: Iterable[int], key: str
) -> int:
    """Enter customers by hand (API, demo, benchmarks)."""
    return engine.enter(session, journey, [(c, f"manual:{key}") for c in customer_ids])
