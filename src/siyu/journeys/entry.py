"""Entering journeys: compiled versions, admission (live customers, re-entry, holdout) and
when waits end; the timers written here are what the engine (engine.py) runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import now
from siyu.core.db import bulk_insert, reserve_ids, table_of
from siyu.customers.models import Customer
from siyu.journeys.definition import Definition, WaitStep
from siyu.journeys.models import Journey, JourneyRun, JourneyTimer, JourneyVersion
from siyu.workspaces.models import Workspace


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
    """The workspace's time zone (waits until a time of day use it), read once per session."""
    # Memoized by hand: a step's savepoint rollback expires the Workspace row, and session.get
    # would then read it again for every timer of the batch.
    zones = session.info.setdefault("journeys.zones", {})
    if workspace_id not in zones:
        workspace = session.get(Workspace, workspace_id)
        zones[workspace_id] = ZoneInfo(workspace.timezone if workspace else "Asia/Shanghai")
    found: ZoneInfo = zones[workspace_id]
    return found


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
                "waiting_for": listens(start),
                "entered_at": at,
                "revenue_fen": 0,
            }
        )
        if not held:
            timers.append(timer_row(journey.workspace_id, run_id, start.key, due))
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


def timer_row(workspace_id: int, run_id: int, step_key: str, due: datetime) -> dict[str, Any]:
    """A JourneyTimer row for bulk insert: the run does `step_key` at `due`."""
    return {
        "workspace_id": workspace_id,
        "run_id": run_id,
        "step_key": step_key,
        "due_at": due,
        "woken_by": None,
        "attempts": 0,
        "last_error": None,
    }


def listens(step: Any) -> str | None:
    """The event a step waits for (a run's waiting_for), if any."""
    if isinstance(step, WaitStep) and step.until_event is not None:
        return step.until_event.event
    return None
