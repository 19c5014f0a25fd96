"""Writing membership changes: rows, sizes, the day's size point, enter/exit events and signals.

Every pass (one segment, the full pass, the incremental one) ends here with the differences it
found, for one segment or many at once; the writes are Core statements in bulk (a handful per
call whatever the number of segments), so an event that moves a customer costs little.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from siyu.core import signals
from siyu.core.db import bulk_insert, table_of
from siyu.ingest.models import Event
from siyu.segments.models import Segment, SegmentMember, SegmentSize

CHUNK = 500
FEW = 50
_UPSERTS: dict[str, Any] = {}


@dataclass
class Change:
    """Who entered and left one segment; `size` after a full pass (else moved by the change)."""

    segment_id: int
    entered: list[int]
    exited: list[int]
    size: int | None = None


def write(
    session: Session, workspace_id: int, changes: list[Change], at: datetime, tz: str
) -> None:
    """Apply the changes in the caller's transaction (entries after a baseline are events)."""
    changes = [c for c in changes if c.entered or c.exited or c.size is not None]
    if not changes:
        return
    session.flush()  # nothing pending may later overwrite what these statements write
    conn = session.connection()
    ids = [c.segment_id for c in changes]
    known = {
        row.id: row
        for row in conn.execute(
            select(Segment.id, Segment.name, Segment.size, Segment.refreshed_at).where(
                Segment.id.in_(ids)
            )
        )
    }
    rows = [
        {"workspace_id": workspace_id, "segment_id": c.segment_id, "customer_id": m, "since": at}
        for c in changes
        for m in c.entered
    ]
    _insert(session, table_of(SegmentMember), rows)
    for change in changes:
        for start in range(0, len(change.exited), CHUNK):
            conn.execute(
                delete(SegmentMember).where(
                    SegmentMember.segment_id == change.segment_id,
                    SegmentMember.customer_id.in_(change.exited[start : start + CHUNK]),
                )
            )
    sizes = _sizes(session, changes, known, at)
    _points(session, workspace_id, sizes, at.astimezone(ZoneInfo(tz)).date())
    announced = [c for c in changes if known[c.segment_id].refreshed_at is not None]
    _announce(session, workspace_id, announced, {i: known[i].name for i in ids}, at)


def _insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """A few rows as one multi-row INSERT (PostgreSQL's COPY costs more to set up than a
    handful of rows take), many through bulk_insert."""
    if len(rows) > FEW:
        bulk_insert(session, table, rows)
    elif rows:
        session.connection().execute(insert(table), rows)


def _sizes(
    session: Session, changes: list[Change], known: dict[int, Any], at: datetime
) -> dict[int, int]:
    """Store the new sizes (a full pass also stamps refreshed_at); returns them by segment."""
    conn = session.connection()
    moved = [
        {"sid": c.segment_id, "delta": len(c.entered) - len(c.exited)}
        for c in changes
        if c.size is None
    ]
    exact = [{"sid": c.segment_id, "n": c.size} for c in changes if c.size is not None]
    where = Segment.id == bindparam("sid")
    if moved:  # relative, so two workers moving the same segment both count
        conn.execute(
            update(Segment).where(where).values(size=Segment.size + bindparam("delta")), moved
        )
    if exact:
        conn.execute(
            update(Segment).where(where).values(size=bindparam("n"), refreshed_at=at), exact
        )
    for change in changes:  # loaded segments see the new values
        loaded = session.identity_map.get(identity_key(Segment, change.segment_id))
        if loaded is not None:
            session.expire(loaded, ["size", "refreshed_at"])
    sizes = {m["sid"]: known[m["sid"]].size + m["delta"] for m in moved}
    return sizes | {e["sid"]: e["n"] for e in exact}


def _upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (segment_id, day) DO UPDATE SET size (built once per dialect)."""
    if dialect not in _UPSERTS:
        stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(SegmentSize)
        _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=["segment_id", "day"], set_={"size": stmt.excluded.size}
        )
    return _UPSERTS[dialect]


def _points(session: Session, workspace_id: int, sizes: dict[int, int], day: Any) -> None:
    """The day's size point of each segment: inserted, or updated to the size now."""
    stmt = _upsert(session.get_bind().dialect.name)
    values = [
        {"workspace_id": workspace_id, "segment_id": sid, "day": day, "size": n}
        for sid, n in sorted(sizes.items())
    ]
    session.connection().execute(stmt, values)


def _announce(
    session: Session,
    workspace_id: int,
    changes: list[Change],
    names: dict[int, str],
    at: datetime,
) -> None:
    """Entering and leaving are events on the customer's timeline and signals for journeys."""
    stamp = at.strftime("%Y%m%d%H%M%S%f")
    rows = []
    for change in changes:
        for kind, ids in (("segment_entered", change.entered), ("segment_exited", change.exited)):
            rows += [
                {
                    "workspace_id": workspace_id,
                    "event_id": f"{kind}:{change.segment_id}:{c}:{stamp}",
                    "customer_id": c,
                    "type": kind,
                    "name": names[change.segment_id][:64],
                    "source": "segments",
                    "occurred_at": at,
                    "received_at": at,
                    "properties": {"segment_id": change.segment_id},
                }
                for c in ids
            ]
    _insert(session, table_of(Event), rows)
    for change in changes:
        for signal, ids in (
            (signals.SEGMENT_ENTERED, change.entered),
            (signals.SEGMENT_EXITED, change.exited),
        ):
            if ids:
                payload = {"segment_id": change.segment_id, "customer_ids": ids}
                signals.emit(session, workspace_id, signal, payload)
