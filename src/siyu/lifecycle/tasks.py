"""Background lifecycle work: incremental refresh on orders and refunds, the nightly full pass.

The nightly pass is an outbox message with a run_at at 03:00 in the workspace's time zone; it
refreshes the workspace and enqueues the next night's message (deduplicated by date).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from siyu.core import outbox, signals
from siyu.core.clock import now
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.core.statistics import refresh_statistics
from siyu.lifecycle.incremental import refresh_customers
from siyu.lifecycle.refresh import refresh_workspace
from siyu.workspaces.models import Workspace

INCREMENTAL = "lifecycle.incremental"
NIGHTLY = "lifecycle.nightly"
NIGHTLY_AT = time(3, 0)

signals.subscribe(signals.ORDERS_STORED, INCREMENTAL)
signals.subscribe(signals.ORDER_REFUNDED, INCREMENTAL)


@outbox.handler(INCREMENTAL)
def on_orders(session: Session, message: OutboxMessage) -> None:
    """Recompute the customers an ORDERS_STORED or ORDER_REFUNDED payload names."""
    payload = message.payload
    ids = list(payload.get("customer_ids") or [])
    if payload.get("customer_id") is not None:
        ids.append(int(payload["customer_id"]))
    assert message.workspace_id is not None
    refresh_customers(session, message.workspace_id, ids)
    ensure_nightly(session, message.workspace_id)


@outbox.handler(NIGHTLY)
def on_nightly(session: Session, message: OutboxMessage) -> None:
    """Full refresh through the analytics engine, then schedule the next night."""
    assert message.workspace_id is not None
    refresh_statistics(session)
    refresh_workspace(database_of(session), session, message.workspace_id)
    schedule_nightly(session, message.workspace_id, after=now() + timedelta(hours=1))


def database_of(session: Session) -> Database:
    """The store a session writes to, for the analytics engine to read (committed data)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return Database(engine)


def next_run(session: Session, workspace_id: int, after: datetime) -> datetime:
    """The next 03:00 in the workspace's time zone after an instant."""
    workspace = session.get(Workspace, workspace_id)
    zone = ZoneInfo(workspace.timezone if workspace else "Asia/Shanghai")
    local = after.astimezone(zone)
    run = datetime.combine(local.date(), NIGHTLY_AT, tzinfo=zone)
    if run <= local:
        run += timedelta(days=1)
    return run


def schedule_nightly(
    session: Session, workspace_id: int, after: datetime | None = None
) -> datetime:
    """Enqueue the nightly pass after an instant, once per workspace and night."""
    run = next_run(session, workspace_id, after or now())
    key = f"{NIGHTLY}:{workspace_id}:{run.date().isoformat()}"
    found = session.scalars(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)).first()
    if found is None:
        outbox.enqueue(
            session,
            NIGHTLY,
            {"workspace_id": workspace_id},
            workspace_id=workspace_id,
            dedupe_key=key,
            run_at=run,
        )
    return run


def ensure_nightly(session: Session, workspace_id: int) -> None:
    """Start the nightly chain if no pass is pending for the workspace."""
    pending = session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.topic == NIGHTLY,
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.status == "pending",
        )
    ).first()
    if pending is None:
        schedule_nightly(session, workspace_id)


REFRESH = "lifecycle.refresh"


@outbox.handler(REFRESH)
def on_refresh(session: Session, message: OutboxMessage) -> None:
    """A full refresh someone asked for (API or console)."""
    assert message.workspace_id is not None
    refresh_workspace(database_of(session), session, message.workspace_id)
    ensure_nightly(session, message.workspace_id)


def enqueue_refresh(session: Session, workspace_id: int) -> OutboxMessage:
    """Queue a full refresh to run now."""
    return outbox.enqueue(
        session, REFRESH, {"workspace_id": workspace_id}, workspace_id=workspace_id
    )
