"""Durable execution: running due timers in batches (entering runs is in entry.py).

A timer names the step a run does next. The worker claims hundreds of due timers in one
transaction (FOR UPDATE SKIP LOCKED on PostgreSQL, the single writer lock on SQLite), walks each
run through its instant steps up to the next wait or the end, decides the batch's sends, coupons
and points in one call to each domain, and in the same transaction records every step (unique
per run and step), deletes the claimed timers and writes the next. A worker killed at any
moment rolls back whole: nothing is lost (the timers are still there) and nothing is done twice
(the step rows and side effects went with the rollback, and the side effects carry the run+step
idempotency key besides).
"""

from __future__ import annotations

import functools
import logging
import time as clock_time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, system_principal
from siyu.core.clock import now
from siyu.core.db import Database, bulk_insert, bulk_update, one_of, table_of
from siyu.journeys import conditions, effects
from siyu.journeys.definition import BranchStep, ExitStep, SplitStep, WaitStep
from siyu.journeys.entry import (  # noqa: F401  (enter, zone: re-exported for callers)
    Compiled,
    bucket,
    compiled,
    enter,
    listens,
    timer_row,
    wait_until,
    zone,
)
from siyu.journeys.models import Journey, JourneyRun, JourneyStep, JourneyTimer

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


# ---------------------------------------------------------------- running


@dataclass
class Batch:
    """What one batch writes at the end, in bulk."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    timers: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    done_timers: list[int] = field(default_factory=list)
    versions: dict[int, Compiled] = field(default_factory=dict)
    # Sends, coupons and points the steps asked for, decided together at the end (one call
    # per domain: effects.decide_later), and the step rows their outcomes go to, in order.
    sends: list[tuple[effects.Ctx, Any]] = field(default_factory=list)
    send_rows: list[dict[str, Any]] = field(default_factory=list)


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
                steps = _advance(session, timer, at, batch)
                _send(session, batch)
                session.flush()
            executed += steps
            batch.done_timers.append(timer.id)
        except Exception as exc:
            del batch.steps[mark[0] :], batch.timers[mark[1] :], batch.runs[mark[2] :]
            batch.sends.clear()
            batch.send_rows.clear()
            _failed(session, timer, at, exc, batch)
    _send(session, batch)
    _write(session, batch)
    return executed


def _send(session: Session, batch: Batch) -> None:
    """Decide the effects the steps put off and record their outcomes on the step rows."""
    if not batch.sends:
        return
    results = effects.decide_later(session, batch.sends)
    for row, (outcome, reason, ref) in zip(batch.send_rows, results, strict=True):
        row["outcome"], row["ref"] = outcome, ref
        row["reason"] = None if reason is None else str(reason)[:64]
    batch.sends.clear()
    batch.send_rows.clear()


@functools.lru_cache(maxsize=256)
def _principal(workspace_id: int) -> Principal:
    # Frozen, so one per workspace serves every step (building one per step showed in profiles).
    return system_principal(workspace_id)


def _advance(session: Session, timer: Any, at: datetime, batch: Batch) -> int:
    """Walk one run from its timer's step through instant steps to the next wait or the end."""
    version = compiled(session, timer.version_id, batch.versions)
    principal = _principal(timer.workspace_id)
    key: str | None = timer.step_key
    woken = timer.woken_by
    variant = timer.variant
    executed, fired_wait = 0, True
    while key is not None:
        step = version.steps[key]
        if isinstance(step, WaitStep):
            if not fired_wait:  # arriving at a wait: sleep until it ends
                due = wait_until(session, timer.workspace_id, step, at)
                batch.timers.append(timer_row(timer.workspace_id, timer.run_id, key, due))
                batch.runs.append(_run_row(timer.run_id, "active", key, listens(step), variant))
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
                session,
                principal,
                timer.journey_id,
                timer.run_id,
                timer.customer_id,
                key,
                at,
                batch.sends,
            )
            result = ACTIONS[step.type](ctx, step)
            row = _log(batch, timer, step, *result, at)
            if result is effects.LATER:
                batch.send_rows.append(row)
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
        "id": run_id,
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
) -> dict[str, Any]:
    row = {
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
    batch.steps.append(row)
    return row


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
        done = one_of(session, JourneyTimer.id, batch.done_timers)
        session.execute(delete(JourneyTimer).where(done))
    bulk_insert(session, table_of(JourneyStep), batch.steps)
    bulk_insert(session, table_of(JourneyTimer), batch.timers)
    bulk_update(session, table_of(JourneyRun), "id", batch.runs)


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
