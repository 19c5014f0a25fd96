"""The outbox: work to do after commit, enqueued in the same transaction, run by `siyu worker`."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Index, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from siyu.core.clock import now
from siyu.core.db import Base, BigId, Database, UTCDateTime, bulk_insert, one_of, table_of
from siyu.core.models import IdMixin

log = logging.getLogger(__name__)

Handler = Callable[[Session, "OutboxMessage"], None]
HANDLERS: dict[str, Handler] = {}
# Topics whose messages may also run many at once in one transaction; the handler returns the
# ids it finished, and the rest run one by one (each in its own transaction, with retries).
BatchHandler = Callable[[Session, list["OutboxMessage"]], set[int]]
BATCH_HANDLERS: dict[str, BatchHandler] = {}
MAX_ATTEMPTS = 8
# A lease is over at its end instant (claimable when locked_until <= now): a simulated clock
# that jumps to exactly a dead worker's lease expiry must find the message claimable.
LEASE = timedelta(minutes=5)


class OutboxMessage(IdMixin, Base):
    """A unit of background work; dedupe_key makes enqueueing idempotent."""

    __tablename__ = "outbox"
    # Ends with id: the claim reads due messages in (run_at, id) order off the index.
    __table_args__ = (Index("ix_outbox_due", "status", "run_at", "id"),)

    workspace_id: Mapped[int | None] = mapped_column(BigId, default=None)
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedupe_key: Mapped[str | None] = mapped_column(String(128), unique=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    locked_by: Mapped[str | None] = mapped_column(String(64), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


def handler(topic: str) -> Callable[[Handler], Handler]:
    """Register the function that runs messages of a topic."""

    def register(fn: Handler) -> Handler:
        HANDLERS[topic] = fn
        return fn

    return register


def batch_handler(topic: str) -> Callable[[BatchHandler], BatchHandler]:
    """Register a function that runs many messages of a topic in one transaction."""

    def register(fn: BatchHandler) -> BatchHandler:
        BATCH_HANDLERS[topic] = fn
        return fn

    return register


def load_handlers() -> None:
    """Register every domain's handlers and subscriptions (once; see siyu.handlers)."""
    import siyu.handlers  # noqa: F401


def enqueue(
    session: Session,
    topic: str,
    payload: dict[str, Any],
    *,
    workspace_id: int | None = None,
    dedupe_key: str | None = None,
    run_at: datetime | None = None,
) -> OutboxMessage:
    """Add work in the caller's transaction: a rollback drops it, a commit makes it due."""
    message = OutboxMessage(
        workspace_id=workspace_id,
        topic=topic,
        payload=payload,
        dedupe_key=dedupe_key,
        run_at=run_at or now(),
        created_at=now(),
    )
    session.add(message)
    session.flush()
    return message


def enqueue_many(
    session: Session,
    topic: str,
    items: list[tuple[dict[str, Any], int | None, str | None, datetime | None]],
) -> None:
    """Add many messages of one topic in one bulk insert: (payload, workspace, dedupe key,
    run at) each; the caller's transaction decides, as for `enqueue`."""
    t = now()
    rows = [_row(topic, payload, ws, key, run_at or t, t) for payload, ws, key, run_at in items]
    bulk_insert(session, table_of(OutboxMessage), rows)


def fan_out(
    session: Session, topics: list[str], payload: dict[str, Any], workspace_id: int | None
) -> None:
    """The same payload to several topics, one message each, in one bulk insert."""
    t = now()
    rows = [_row(topic, payload, workspace_id, None, t, t) for topic in topics]
    bulk_insert(session, table_of(OutboxMessage), rows)


def _row(
    topic: str,
    payload: dict[str, Any],
    workspace_id: int | None,
    dedupe_key: str | None,
    run_at: datetime,
    at: datetime,
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "topic": topic,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "status": "pending",
        "attempts": 0,
        "run_at": run_at,
        "locked_until": None,
        "locked_by": None,
        "last_error": None,
        "created_at": at,
        "done_at": None,
    }


def pending_through(session: Session, topic: str, workspace_id: int) -> int | None:
    """The newest pending message of a topic the caller's transaction can see (for `supersede`)."""
    return session.scalar(
        select(func.max(OutboxMessage.id)).where(
            OutboxMessage.topic == topic,
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.status == "pending",
        )
    )


def supersede(session: Session, topic: str, workspace_id: int, through: int | None) -> int:
    """Mark a topic's unleased pending messages up to `through` done: a full pass that read the
    store after they were committed has already done their work. Returns how many."""
    if through is None:
        return 0
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.topic == topic,
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.status == "pending",
            OutboxMessage.locked_until.is_(None),
            OutboxMessage.id <= through,
        )
        .values(status="done", done_at=now(), last_error="superseded by a full pass")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def worker_name() -> str:
    """host:pid, recorded on the messages a worker holds."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(db: Database, limit: int = 100, owner: str | None = None) -> list[int]:
    """Lease due messages to this worker, the earliest due first; SKIP LOCKED lets several
    workers share PostgreSQL."""
    owner = owner or worker_name()
    t = now()
    with db.transaction() as session:
        stmt = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.run_at <= t)
            .where(or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until <= t))
            .order_by(OutboxMessage.run_at, OutboxMessage.id)
            .limit(limit)
        )
        if db.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(session.scalars(stmt))
        if ids:
            session.execute(
                update(OutboxMessage)
                .where(one_of(session, OutboxMessage.id, ids))
                .values(locked_until=t + LEASE, locked_by=owner)
                .execution_options(synchronize_session=False)  # no instances were loaded
            )
    return ids


def run_one(db: Database, message_id: int) -> str:
    """Run one leased message in its own transaction; on failure retry with backoff."""
    try:
        with db.transaction() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status != "pending":
                return "skipped"
            load_handlers()
            fn = HANDLERS.get(message.topic)
            if fn is None:
                raise LookupError(f"no handler for topic {message.topic}")
            fn(session, message)
            message.status, message.done_at, message.locked_until = "done", now(), None
            return "done"
    except Exception as exc:  # the message records why; other messages go on
        log.warning("outbox message %s failed: %s", message_id, type(exc).__name__)
        return _fail(db, message_id, exc)


def _fail(db: Database, message_id: int, exc: Exception) -> str:
    with db.transaction() as session:
        message = session.get(OutboxMessage, message_id)
        if message is None:
            return "skipped"
        message.attempts += 1
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        message.locked_until = None
        if message.attempts >= MAX_ATTEMPTS:
            message.status = "dead"
            return "dead"
        message.run_at = now() + timedelta(seconds=min(2**message.attempts * 5, 3600))
        return "retry"


def run_due(db: Database, limit: int = 100) -> dict[str, int]:
    """Claim and run what is due now; returns counts by outcome."""
    counts: dict[str, int] = {}
    ids = claim(db, limit)
    done = run_batches(db, ids) if ids else set()
    if done:
        counts["done"] = len(done)
    for message_id in ids:
        if message_id not in done:
            outcome = run_one(db, message_id)
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def run_batches(db: Database, ids: list[int]) -> set[int]:
    """Run the leased messages of batch topics in one transaction; returns the ids done (none
    if it fails: then every message runs on its own)."""
    load_handlers()
    if not BATCH_HANDLERS:
        return set()
    try:
        with db.transaction() as session:
            stmt = (
                select(OutboxMessage)
                .where(
                    one_of(session, OutboxMessage.id, ids),
                    OutboxMessage.status == "pending",
                    OutboxMessage.topic.in_(list(BATCH_HANDLERS)),
                )
                .order_by(OutboxMessage.id)
            )
            by_topic: dict[str, list[OutboxMessage]] = {}
            for message in session.scalars(stmt):
                by_topic.setdefault(message.topic, []).append(message)
            done: set[int] = set()
            for topic, messages in by_topic.items():
                done |= BATCH_HANDLERS[topic](session, messages)
            if done:
                session.execute(
                    update(OutboxMessage)
                    .where(one_of(session, OutboxMessage.id, sorted(done)))
                    .values(status="done", done_at=now(), locked_until=None)
                    .execution_options(synchronize_session=False)
                )
            return done
    except Exception as exc:  # one bad message must not hold back the rest: one by one
        log.warning("outbox batch failed (%s); running one by one", type(exc).__name__)
        return set()
