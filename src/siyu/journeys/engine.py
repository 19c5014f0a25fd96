"""Durable execution: entering customers, and running due timers in batches.

A timer names the step a run does next. The worker claims hundreds of due timers in one
transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, the single writer lock on SQLite), walks each
run through its instant steps up to the next wait or the end, and in the same transaction
records every step (unique per run and step), deletes the claimed timers and writes the next.
A worker killed at any moment rolls back whole: nothing is lost (the timers are still there)
and nothing is done twice (the step rows and side effects went with the rollback, and the side
effects carry the run+step idempotency key besides).
"""

from __future__ import annotations

import hashlib
import logging
import time as clock_time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from siyu.core.auth import system_principal
from siyu.core.clock import now
from siyu.core.db import Database, bulk_insert, reserve_ids, table_of
from siyu.customers.models import Customer
from siyu.journeys import conditions, effects
from siyu.journeys.definition import (
    BranchStep,
    Definition,
    ExitStep,
    SplitStep,
    WaitStep,
)
from siyu.journeys.models import Journey, JourneyRun, JourneyStep, JourneyTimer, JourneyVersion
from siyu.workspaces.models import Workspace

log = logging.getLogger(__name__)
BATCH = 500
# A batch stops taking new timers after this long (the rest stay due for the next batch), so a
# worker killed mid-batch loses at most this much work however slow the steps are.
BUDGET = 1.0
MIN_PER_BATCH = 50
MAX_ATTEMPTS = 5
ACTIONS = {
    "send": effects.send,
    "coupon": effects.coupon,
    "points": effects.points,
    "tag": effects.tag,
    "task": effects.task,
    "webhook": effects.webhook,
}


@dataclass
class Compiled:
    """A version's definition with its steps by key (versions never change, so it is cached)."""

    journey_id: int
    workspace_id: int
    definition: Definition
    steps: dict[str, Any]


def compiled(
    session: Session, version_id: int, cache: dict[int, Compiled] | None = None
) -> Compiled:
    """A version's compiled form; a batch passes its own cache (ids of rolled-back rows recur,
    so nothing is cached across transactions)."""
    found = cache.get(version_id) if cache is not None else None
    if found is None:
        row = session.get(JourneyVersion, version_id)
        if row is None:
            raise LookupError(f"journey version {version_id} is gone")
        definition = Definition.model_validate(row.definition)
        steps = {s.key: s for s in definition.steps}
        found = Compiled(row.journey_id, row.workspace_id, definition, steps)
        if cache is not None:
            cache[version_id] = found
    return found


def zone(session: Session, workspace_id: int) -> ZoneInfo:
    """The workspace's time zone (waits until a time of day use it; the session caches the row)."""
    workspace = session.get(Workspace, workspace_id)
    return ZoneInfo(workspace.timezone if workspace else "Asia/Shanghai")


def bucket(journey_id: int, customer_id: int, salt: str, size: int) -> int:
    """A stable number in [0, size) from customer and journey (holdout and A/B splits)."""
    digest = hashlib.sha256(f"{journey_id}:{customer_id}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % size


def wait_until(session: Session, workspace_id: int, step: WaitStep, at: datetime) -> datetime:
    """When a wait entered at `at` ends (for an event wait: when it times out)."""
    if step.duration is not None:
        return at + step.duration.delta()
    if step.until_event is not None and step.until_event.timeout is not None:
        return at + step.until_event.timeout.delta()
    local = at.astimezone(zone(session, workspace_id))
    target = time.fromisoformat(step.until_time or "00:00")
    when = local.replace(hour=target.hour, minute=target.minute, second=0, microsecond=0)
    if when <= local:
        when += timedelta(days=1)
    return when.astimezone(ZoneInfo("UTC"))


# ---------------------------------------------------------------- entering


def enter(
    session: Session,
    journey: Journey,
    entries: Iterable[tuple[int, str]],
    at: datetime | None = None,
) -> int:
    """Start runs for (customer id, entry key) pairs, honouring re-entry and the holdout."""
    if journey.status != "active" or journey.version_id is None:
        return 0
    at = at or now()
    version = compiled(session, journey.version_id)
    wanted: dict[int, str] = {}
    for customer_id, key in entries:
        wanted.setdefault(customer_id, key[:96])
    ids = _live_customers(session, journey.workspace_id, list(wanted))
    ids = _admissible(session, journey, version.definition, ids, wanted, at)
    if not ids:
        return 0
    run_ids = reserve_ids(session, table_of(JourneyRun), len(ids))
    holdout = version.definition.holdout_percent
    runs, timers = [], []
    start = version.steps[version.definition.start]
    due = (
        wait_until(session, journey.workspace_id, start, at) if isinstance(start, WaitStep) else at
    )
    for run_id, customer_id in zip(run_ids, ids, strict=True):
        held = holdout > 0 and bucket(journey.id, customer_id, "holdout", 100) < holdout
        runs.append(
            {
                "id": run_id,
                "workspace_id": journey.workspace_id,
                "journey_id": journey.id,
                "version_id": journey.version_id,
                "customer_id": customer_id,
                "entry_key": wanted[customer_id],
                "status": "holdout" if held else "active",
                "step_key": None if held else start.key,
                "waiting_for": _listens(start),
                "entered_at": at,
                "revenue_fen": 0,
            }
        )
        if not held:
            timers.append(_timer(journey.workspace_id, run_id, start.key, due))
    bulk_insert(session, table_of(JourneyRun), runs)
    bulk_insert(session, table_of(JourneyTimer), timers)
    return len(runs)


def _live_customers(session: Session, workspace_id: int, ids: list[int]) -> list[int]:
    found: list[int] = []
    for i in range(0, len(ids), 5000):
        chunk = ids[i : i + 5000]
        stmt = select(Customer.id).where(
            Customer.workspace_id == workspace_id,
            Customer.id.in_(chunk),
            Customer.merged_into_id.is_(None),
        )
        found += session.scalars(stmt)
    return sorted(found)


def _admissible(
    session: Session,
    journey: Journey,
    definition: Definition,
    ids: list[int],
    wanted: dict[int, str],
    at: datetime,
) -> list[int]:
    """Drop customers the re-entry policy keeps out (and repeats of one entry key)."""
    policy = definition.re_entry
    previous: dict[int, tuple[datetime, set[str]]] = {}
    for i in range(0, len(ids), 5000):
        stmt = select(JourneyRun.customer_id, JourneyRun.entered_at, JourneyRun.entry_key).where(
            JourneyRun.journey_id == journey.id, JourneyRun.customer_id.in_(ids[i : i + 5000])
        )
        for customer_id, entered, key in session.execute(stmt):
            last, keys = previous.get(customer_id, (entered, set()))
            keys.add(key)
            previous[customer_id] = (max(last, entered), keys)
    keep = []
    for customer_id in ids:
        if customer_id not in previous:
            keep.append(customer_id)
            continue
        last, keys = previous[customer_id]
        if wanted[customer_id] in keys or policy.policy == "never":
            continue
        if policy.policy == "after_days" and at - last < timedelta(days=policy.days or 0):
            continue
        keep.append(customer_id)
    return keep


def _timer(workspace_id: int, run_id: int, step_key: str, due: datetime) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "run_id": run_id,
        "step_key": step_key,
        "due_at": due,
        "woken_by": None,
        "attempts": 0,
        "last_error": None,
    }


def _listens(step: Any) -> str | None:
    if isinstance(step, WaitStep) and step.until_event is not None:
        return step.until_event.event
    return None


# ---------------------------------------------------------------- running


@dataclass
class Batch:
    """What one batch writes at the end, in bulk."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    done_timers: list[int] = field(default_factory=list)
    versions: dict[int, Compiled] = field(default_factory=dict)


def claim(session: Session, is_postgres: bool, limit: int, at: datetime) -> list[Any]:
    """Due timers of active runs of active journeys, oldest first, locked for this worker."""
    stmt = (
        select(
            JourneyTimer.id,
            JourneyTimer.run_id,
            JourneyTimer.step_key,
            JourneyTimer.woken_by,
            JourneyTimer.attempts,
            JourneyRun.workspace_id,
            JourneyRun.journey_id,
            JourneyRun.version_id,
            JourneyRun.customer_id,
            JourneyRun.status,
            JourneyRun.variant,
        )
        .join(JourneyRun, JourneyRun.id == JourneyTimer.run_id)
        .join(Journey, Journey.id == JourneyRun.journey_id)
        .where(JourneyTimer.due_at <= at, Journey.status == "active")
        .order_by(JourneyTimer.due_at, JourneyTimer.id)
        .limit(limit)
    )
    if is_postgres:
        stmt = stmt.with_for_update(skip_locked=True, of=JourneyTimer)
    return list(session.execute(stmt))


def run_due(db: Database, limit: int = BATCH) -> int:
    """Run one batch of due timers; returns the number of steps executed (0: nothing due)."""
    try:
        with db.transaction() as session:
            return _run_batch(session, db.is_postgres, limit, careful=False)
    except Exception as exc:  # one bad step must not hold back the batch: redo it carefully
        log.warning("journey batch failed (%s); retrying step by step", type(exc).__name__)
        with db.transaction() as session:
            return _run_batch(session, db.is_postgres, limit, careful=True)


def _run_batch(session: Session, is_postgres: bool, limit: int, careful: bool) -> int:
    at = now()
    timers = claim(session, is_postgres, limit, at)
    if not timers:
        return 0
    batch = Batch()
    executed = 0
    deadline = clock_time.monotonic() + BUDGET
    for done, timer in enumerate(timers):
        if done >= MIN_PER_BATCH and clock_time.monotonic() > deadline:
            break
        if timer.status != "active":
            batch.done_timers.append(timer.id)
            continue
        if not careful:
            executed += _advance(session, timer, at, batch)
            batch.done_timers.append(timer.id)
            continue
        mark = len(batch.steps), len(batch.timers), len(batch.runs)
        try:
            with session.begin_nested():
                executed += _advance(session, timer, at, batch)
                session.flush()
            batch.done_timers.append(timer.id)
        except Exception as exc:
            del batch.steps[mark[0] :], batch.timers[mark[1] :], batch.runs[mark[2] :]
            _failed(session, timer, at, exc, batch)
    _write(session, batch)
    return executed


def _advance(session: Session, timer: Any, at: datetime, batch: Batch) -> int:
    """Walk one run from its timer's step through instant steps to the next wait or the end."""
    version = compiled(session, timer.version_id, batch.versions)
    principal = system_principal(timer.workspace_id)
    key: str | None = timer.step_key
    woken = timer.woken_by
    variant = timer.variant
    executed, fired_wait = 0, True
    while key is not None:
        step = version.steps[key]
        if isinstance(step, WaitStep):
            if not fired_wait:  # arriving at a wait: sleep until it ends
                due = wait_until(session, timer.workspace_id, step, at)
                batch.timers.append(_timer(timer.workspace_id, timer.run_id, key, due))
                batch.runs.append(_run_row(timer.run_id, "active", key, _listens(step), variant))
                return executed
            reason = ("event" if woken else "timeout") if step.until_event else None
            _log(batch, timer, step, "done", reason, None, at)
            nxt = step.until_event.on_event if (woken and step.until_event) else step.next
            key, fired_wait, executed = nxt, False, executed + 1
            continue
        fired_wait = False
        if isinstance(step, ExitStep):
            _log(batch, timer, step, "done", None, None, at)
            batch.runs.append(_run_row(timer.run_id, "exited", key, None, variant, at))
            return executed + 1
        if isinstance(step, BranchStep):
            nxt = step.next
            for rule in step.rules:
                if conditions.holds(session, timer.workspace_id, timer.customer_id, rule.all, at):
                    nxt = rule.next
                    break
            _log(batch, timer, step, "done", nxt or "end", None, at)
        elif isinstance(step, SplitStep):
            total = sum(v.weight for v in step.variants)
            pick = bucket(timer.journey_id, timer.customer_id, key, total)
            for arm in step.variants:
                if pick < arm.weight:
                    break
                pick -= arm.weight
            variant, nxt = arm.name, arm.next
            _log(batch, timer, step, "done", arm.name, None, at)
        else:
            ctx = effects.Ctx(
                session, principal, timer.journey_id, timer.run_id, timer.customer_id, key, at
            )
            outcome, reason, ref = ACTIONS[step.type](ctx, step)
            _log(batch, timer, step, outcome, reason, ref, at)
            nxt = step.next
        executed += 1
        key = nxt
    batch.runs.append(_run_row(timer.run_id, "completed", None, None, variant, at))
    return executed


def _run_row(
    run_id: int,
    status: str,
    step_key: str | None,
    waiting_for: str | None,
    variant: str | None,
    finished: datetime | None = None,
) -> dict[str, Any]:
    return {
        "b_id": run_id,
        "status": status,
        "step_key": step_key,
        "waiting_for": waiting_for,
        "variant": variant,
        "finished_at": finished,
    }


def _log(
    batch: Batch,
    timer: Any,
    step: Any,
    outcome: str,
    reason: str | None,
    ref: str | None,
    at: datetime,
) -> None:
    batch.steps.append(
        {
            "workspace_id": timer.workspace_id,
            "run_id": timer.run_id,
            "journey_id": timer.journey_id,
            "step_key": step.key,
            "kind": step.type,
            "outcome": outcome,
            "reason": None if reason is None else str(reason)[:64],
            "ref": ref,
            "at": at,
        }
    )


def _failed(session: Session, timer: Any, at: datetime, exc: Exception, batch: Batch) -> None:
    """Retry a failing step with backoff; after MAX_ATTEMPTS the run is dead-lettered."""
    error = f"{type(exc).__name__}: {exc}"[:2000]
    attempts = timer.attempts + 1
    if attempts < MAX_ATTEMPTS:
        session.execute(
            update(JourneyTimer)
            .where(JourneyTimer.id == timer.id)
            .values(
                attempts=attempts,
                last_error=error,
                due_at=at + timedelta(seconds=min(30 * 2**attempts, 3600)),
            )
        )
        return
    batch.done_timers.append(timer.id)
    batch.steps.append(
        {
            "workspace_id": timer.workspace_id,
            "run_id": timer.run_id,
            "journey_id": timer.journey_id,
            "step_key": timer.step_key,
            "kind": "dead",
            "outcome": "failed",
            "reason": "dead_letter",
            "ref": None,
            "at": at,
        }
    )
    session.execute(
        update(JourneyRun)
        .where(JourneyRun.id == timer.run_id)
        .values(status="failed", error=error, finished_at=at)
    )


def _write(session: Session, batch: Batch) -> None:
    """Everything the batch did, in a few statements."""
    session.flush()  # side effects the steps added through the ORM
    if batch.done_timers:
        session.execute(delete(JourneyTimer).where(JourneyTimer.id.in_(batch.done_timers)))
    bulk_insert(session, table_of(JourneyStep), batch.steps)
    bulk_insert(session, table_of(JourneyTimer), batch.timers)
    if batch.runs:
        table = table_of(JourneyRun)
        stmt = (
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values(
                status=bindparam("status"),
                step_key=bindparam("step_key"),
                waiting_for=bindparam("waiting_for"),
                variant=bindparam("variant"),
                finished_at=bindparam("finished_at"),
            )
        )
        session.connection().execute(stmt, batch.runs)


def next_due(session: Session) -> datetime | None:
    """When the earliest timer of an active journey is due (simulations jump there)."""
    stmt = (
        select(JourneyTimer.due_at)
        .join(JourneyRun, JourneyRun.id == JourneyTimer.run_id)
        .join(Journey, Journey.id == JourneyRun.journey_id)
        .where(Journey.status == "active")
        .order_by(JourneyTimer.due_at)
        .limit(1)
    )
    return session.scalar(stmt)
