"""The async event path: accept a batch fast, resolve it with OneID later, in bulk.

`accept_events` validates every event (per-event errors as in the synchronous path), drops
replays (an event_id already stored or already waiting), writes the rest to `event_landing` in
one bulk statement and enqueues one outbox message. The worker's handler drains the landing
table in chunks through the same `ingest_events` (OneID, `event` rows, signals) and deletes
what it stored. An event answered "queued" is visible once a worker has run (`siyu worker`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic_core import to_json
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from siyu.core import outbox
from siyu.core.auth import Principal, system_principal
from siyu.core.clock import now
from siyu.core.db import bulk_insert, table_of
from siyu.core.raw import raw_in, raw_rows
from siyu.ingest import service
from siyu.ingest.models import EventLanding
from siyu.ingest.schemas import BatchResult, EventResult
from siyu.ingest.validation import validate_events
from siyu.workspaces.models import Role

log = logging.getLogger(__name__)
TOPIC = "ingest.landing"
# Landed events one worker message resolves in one transaction (one OneID batch).
DRAIN = 10_000
_KEYS = 5_000


def accept_events(
    session: Session, principal: Principal, items: list[dict[str, Any]]
) -> BatchResult:
    """Validate and land a batch: errors and duplicates are answered now, OneID runs later."""
    principal.require(Role.operator)
    results, parsed = validate_events(items)
    # What needs no store comes first: on SQLite the first statement takes the write lock.
    # The same compact UTF-8 JSON as json.dumps(ensure_ascii=False), several times faster.
    landed = [(index, event.event_id, to_json(items[index]).decode()) for index, event, _ in parsed]
    seen = _known(session, principal.workspace_id, [event_id for _, event_id, _ in landed])
    received = now()
    rows = []
    for index, event_id, payload in landed:
        if event_id in seen:
            results.append(EventResult(index=index, event_id=event_id, status="duplicate"))
            continue
        seen.add(event_id)
        rows.append(
            {
                "workspace_id": principal.workspace_id,
                "event_id": event_id,
                "payload": payload,
                "received_at": received,
            }
        )
        results.append(EventResult(index=index, event_id=event_id, status="queued"))
    if rows:
        bulk_insert(session, table_of(EventLanding), rows)
        _wake_worker(session, principal.workspace_id)
    results.sort(key=lambda r: r.index)
    count = {s: sum(r.status == s for r in results) for s in ("queued", "duplicate", "rejected")}
    return BatchResult(
        accepted=0,
        queued=count["queued"],
        duplicates=count["duplicate"],
        rejected=count["rejected"],
        results=results,
    )


def _wake_worker(session: Session, workspace_id: int) -> None:
    """Enqueue a drain unless one is waiting that no worker has claimed yet.

    A claimed message may already have read the landing table, so only an unclaimed one is
    sure to see these rows. On PostgreSQL the row lock makes a claim wait for this commit
    (claim skips locked rows; if the claim came first, the re-checked row no longer matches).
    SQLite writers are serial, so no claim can fall between this check and the commit.
    """
    sql = _WAITING + (" FOR UPDATE" if session.get_bind().dialect.name == "postgresql" else "")
    if not raw_rows(session, sql, (TOPIC, workspace_id)):
        outbox.enqueue(session, TOPIC, {}, workspace_id=workspace_id)


# Raw statements (core.raw.raw_rows): each batch runs them, and SQLAlchemy's own work per
# statement costs more than these indexed reads.
_WAITING = (
    "SELECT id FROM outbox WHERE status = 'pending' AND topic = ? AND workspace_id = ? "
    "AND locked_until IS NULL LIMIT 1"
)


def _known(session: Session, workspace_id: int, ids: list[str]) -> set[str]:
    """Event ids already stored or already waiting in the landing table (one query a chunk)."""
    found: set[str] = set()
    for start in range(0, len(ids), _KEYS):
        test, values = raw_in(session, ids[start : start + _KEYS])
        sql = (
            f"SELECT event_id FROM event WHERE workspace_id = ? AND event_id {test} UNION ALL "
            f"SELECT event_id FROM event_landing WHERE workspace_id = ? AND event_id {test}"
        )
        found.update(r[0] for r in raw_rows(session, sql, [workspace_id, *values] * 2))
    return found


@outbox.handler(TOPIC)
def drain(session: Session, message: outbox.OutboxMessage) -> None:
    """Resolve and store up to DRAIN landed events of the message's workspace, oldest first."""
    assert message.workspace_id is not None
    stored = drain_workspace(session, message.workspace_id, DRAIN)
    if stored >= DRAIN:
        # More may be waiting: keep going in a fresh transaction.
        outbox.enqueue(session, TOPIC, {}, workspace_id=message.workspace_id)


def drain_workspace(session: Session, workspace_id: int, limit: int) -> int:
    """One chunk of the landing table through ingest_events; returns how many rows it took."""
    stmt = (
        select(EventLanding.id, EventLanding.payload)
        .where(EventLanding.workspace_id == workspace_id)
        .order_by(EventLanding.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Several workers split the backlog instead of resolving the same rows twice.
        stmt = stmt.with_for_update(skip_locked=True)
    landed = session.execute(stmt).all()
    if not landed:
        return 0
    items = [json.loads(payload) for _, payload in landed]
    result = service.ingest_events(session, system_principal(workspace_id), items)
    if result.rejected:
        # Validated on acceptance, so only a rule changed in between can refuse one now.
        log.warning("landed events rejected on resolution: %s", result.rejected)
    ids = [row_id for row_id, _ in landed]
    for start in range(0, len(ids), _KEYS):
        session.execute(delete(EventLanding).where(EventLanding.id.in_(ids[start : start + _KEYS])))
    return len(landed)
