"""Frequency and respect: caps per customer across channels and journeys, quiet hours,
unsubscribe / do-not-disturb, priorities, and tightening after complaints or mutes.

Caps count marketing touches per local day (`slot_day`, the workspace's zone) over a rolling
7 days. A touch holds its slot from decision time (queued or deferred) until it fails, so
deciding is the one place caps are enforced; a per-customer ContactState row lock (FOR UPDATE
on PostgreSQL, the single writer on SQLite) serializes decisions for one customer across
workers. A higher-priority touch displaces the lowest-priority pending (not yet sent) one that
frees a slot; the displaced touch is suppressed with reason "displaced".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.channels.models import COUNTED, PENDING, ContactState, FrequencyPolicy, Touch
from siyu.core.arrays import insert_unnest
from siyu.core.clock import now
from siyu.core.db import one_of, table_of
from siyu.customers.models import Consent
from siyu.workspaces.models import Workspace

WEEK = 7
Counted = list[Any]  # a touch holding a slot: [touch id, slot_day, priority, status]


@dataclass
class Decision:
    """Whether a marketing touch may take a slot, why not, and whom it displaces."""

    ok: bool
    reason: str | None = None
    victim: Counted | None = None


def policy_of(session: Session, workspace_id: int) -> FrequencyPolicy:
    """The workspace's policy, or the defaults (1 a day, 3 a week, quiet 22:00–08:00)."""
    found = session.scalars(
        select(FrequencyPolicy).where(FrequencyPolicy.workspace_id == workspace_id)
    ).first()
    if found is not None:
        return found
    return FrequencyPolicy(
        workspace_id=workspace_id,
        daily_cap=1,
        weekly_cap=3,
        low_activity_stages=["dormant_heavy", "lost"],
        low_activity_weekly_cap=1,
        tightened_weekly_cap=1,
        tighten_days=30,
        quiet_start="22:00",
        quiet_end="08:00",
    )


def zone_of(session: Session, workspace_id: int) -> ZoneInfo:
    """The workspace's time zone."""
    workspace = session.get(Workspace, workspace_id)
    return ZoneInfo(workspace.timezone if workspace else "Asia/Shanghai")


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(policy: FrequencyPolicy, at: datetime, zone: ZoneInfo) -> datetime | None:
    """If `at` falls in quiet hours, the UTC instant they end; else None."""
    start, end = _clock(policy.quiet_start), _clock(policy.quiet_end)
    if start == end:
        return None
    local = at.astimezone(zone)
    current = local.time()
    inside = start <= current < end if start < end else (current >= start or current < end)
    if not inside:
        return None
    day = local.date() if current < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(at.tzinfo)


def slot_day(at: datetime, zone: ZoneInfo) -> int:
    """The local date ordinal of an instant: the day whose cap a touch counts against."""
    return at.astimezone(zone).date().toordinal()


def lock_contact(session: Session, workspace_id: int, customer_id: int) -> ContactState:
    """The customer's ContactState, created if needed and row-locked for this transaction."""
    lock_contacts(session, workspace_id, [customer_id])
    # Already locked: read the ORM row for the caller to change (fresh, not a stale copy).
    stmt = select(ContactState).where(
        ContactState.workspace_id == workspace_id, ContactState.customer_id == customer_id
    )
    return session.scalars(stmt.execution_options(populate_existing=True)).one()


def lock_contacts(
    session: Session, workspace_id: int, customer_ids: Iterable[int]
) -> dict[int, datetime | None]:
    """Row-lock the customers' ContactState rows (created if needed) for this transaction;
    returns each customer's `tightened_until`, what deciding needs of the row.

    Locked in customer id order (rows that exist, then the new ones), so two batches that
    share customers queue up behind each other instead of deadlocking. Plain rows, not ORM
    objects: a batch locks thousands, and loading them as instances cost more than the lock.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    found = _locked(session, workspace_id, ids, dialect)
    missing = [c for c in ids if c not in found]
    if missing:
        rows = [{"workspace_id": workspace_id, "customer_id": c, "complaints": 0} for c in missing]
        unique = ("workspace_id", "customer_id")
        if dialect == "postgresql":  # one array statement, not a VALUES list psycopg must parse
            insert_unnest(session, table_of(ContactState), rows, unique)
        else:
            stmt = sqlite_insert(ContactState).values(rows)
            session.execute(stmt.on_conflict_do_nothing(index_elements=list(unique)))
        found.update(_locked(session, workspace_id, missing, dialect))
    return found


def _locked(
    session: Session, workspace_id: int, ids: list[int], dialect: str
) -> dict[int, datetime | None]:
    stmt = (
        select(ContactState.customer_id, ContactState.tightened_until)
        .where(
            ContactState.workspace_id == workspace_id,
            one_of(session, ContactState.customer_id, ids),
        )
        .order_by(ContactState.customer_id)
    )
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    return {customer_id: until for customer_id, until in session.execute(stmt)}


def consent_block(
    session: Session, workspace_id: int, customer_id: int, channel: str, purpose: str
) -> str | None:
    """ "dnd" (everything blocked on the channel), "unsubscribed" (marketing) or None."""
    rows = consent_rows(session, workspace_id, [customer_id], {channel})
    return block_of(rows.get(customer_id, []), channel, purpose)


ConsentRow = tuple[str, str, bool]  # channel, purpose, granted


def consent_rows(
    session: Session, workspace_id: int, customer_ids: Iterable[int], channels: Iterable[str]
) -> dict[int, list[ConsentRow]]:
    """The customers' consent rows for these channels or "all", in time order."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Consent.customer_id, Consent.channel, Consent.purpose, Consent.granted)
        .where(
            Consent.workspace_id == workspace_id,
            one_of(session, Consent.customer_id, ids),
            Consent.channel.in_(sorted({*channels, "all"})),
        )
        .order_by(Consent.at, Consent.id)
    )
    found: dict[int, list[ConsentRow]] = {}
    for customer_id, channel, row_purpose, granted in rows:
        found.setdefault(customer_id, []).append((channel, row_purpose, granted))
    return found


def block_of(rows: Iterable[ConsentRow], channel: str, purpose: str) -> str | None:
    """What a customer's consent rows (time order) block on a channel; the latest per purpose
    wins, so a later re-subscribe lifts an unsubscribe."""
    state = {p: granted for c, p, granted in rows if c in (channel, "all")}
    if state.get("all") is False:
        return "dnd"
    if purpose == "marketing" and state.get("marketing") is False:
        return "unsubscribed"
    return None


def caps_for(
    policy: FrequencyPolicy, tightened_until: datetime | None, stage: str | None
) -> tuple[int, int, str]:
    """(daily, weekly, suffix): tighter for low-activity and recently complaining customers
    (`tightened_until` from the customer's ContactState)."""
    daily, weekly, suffix = policy.daily_cap, policy.weekly_cap, ""
    if stage and stage in (policy.low_activity_stages or []):
        weekly, suffix = min(weekly, policy.low_activity_weekly_cap), "_low_activity"
    if tightened_until is not None and tightened_until > now():
        weekly, suffix = min(weekly, policy.tightened_weekly_cap), "_tightened"
    return min(daily, weekly), weekly, suffix


def _fits(per_day: dict[int, int], day: int, daily: int, weekly: int) -> str | None:
    if per_day.get(day, 0) + 1 > daily:
        return "cap_daily"
    for start in range(day - WEEK + 1, day + 1):
        if sum(per_day.get(d, 0) for d in range(start, start + WEEK)) + 1 > weekly:
            return "cap_weekly"
    return None


def counted_touches(
    session: Session, customer_ids: Iterable[int], first_day: int, last_day: int
) -> dict[int, list[Counted]]:
    """Marketing touches holding slots between two days (widened by a week each side), by
    customer. Call with the customers' row locks held."""
    ids = sorted(set(customer_ids))
    found: dict[int, list[Counted]] = {c: [] for c in ids}
    if not ids:
        return found
    rows = session.execute(
        select(Touch.customer_id, Touch.id, Touch.slot_day, Touch.priority, Touch.status).where(
            one_of(session, Touch.customer_id, ids),
            Touch.purpose == "marketing",
            Touch.status.in_(COUNTED),
            Touch.slot_day.between(first_day - WEEK + 1, last_day + WEEK - 1),
        )
    )
    for customer_id, *row in rows:
        found[customer_id].append(row)
    return found


def decide(rows: list[Counted], day: int, priority: int, daily: int, weekly: int) -> Decision:
    """May a marketing touch take a slot on `day`, given the customer's counted touches?"""
    per_day: dict[int, int] = {}
    for _, d, _, _ in rows:
        per_day[d] = per_day.get(d, 0) + 1
    reason = _fits(per_day, day, daily, weekly)
    if reason is None:
        return Decision(True)
    pending = [r for r in rows if r[3] in PENDING and r[2] < priority]
    for row in sorted(pending, key=lambda r: (r[2], -(r[0] or 0))):
        per_day[row[1]] -= 1
        if _fits(per_day, day, daily, weekly) is None:
            return Decision(True, victim=row)
        per_day[row[1]] += 1
    return Decision(False, reason)
