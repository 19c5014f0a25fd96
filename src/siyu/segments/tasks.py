"""Background work: incremental recompute on ingest signals, and the nightly full pass."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.analytics.engine import AnalyticsUnavailable
from siyu.core import outbox, signals
from siyu.core.clock import now
from siyu.core.outbox import OutboxMessage
from siyu.customers.merge import canonical_id
from siyu.customers.models import Customer
from siyu.lifecycle.tasks import database_of
from siyu.segments import full, service

INCREMENTAL = service.INCREMENTAL
for _signal in (signals.EVENTS_INGESTED, signals.ORDERS_STORED, signals.ORDER_REFUNDED):
    signals.subscribe(_signal, INCREMENTAL)


def named_customers(session: Session, payload: dict[str, Any]) -> list[int]:
    """The live customers a signal names (merged-away ids resolve to their survivor)."""
    ids = set(payload.get("customer_ids") or [])
    if payload.get("customer_id") is not None:
        ids.add(payload["customer_id"])
    stmt = select(Customer.id).where(
        Customer.id.in_(sorted(ids)), Customer.merged_into_id.is_not(None)
    )
    # A merged-away customer leaves every segment; its survivor is recomputed too.
    survivors = {canonical_id(session, c) for c in session.scalars(stmt)}
    return sorted(ids | survivors)


@outbox.handler(INCREMENTAL)
def incremental(session: Session, message: OutboxMessage) -> None:
    """Recompute rule tags and segments for only the customers the signal names."""
    assert message.workspace_id is not None
    only = named_customers(session, message.payload)
    if only:
        service.refresh_workspace(session, message.workspace_id, only)


@outbox.handler(service.NIGHTLY)
def nightly(session: Session, message: OutboxMessage) -> None:
    """The full pass (time alone moves people in and out), then queue tomorrow's."""
    assert message.workspace_id is not None
    try:
        full.refresh_all(database_of(session), session, message.workspace_id)
    except AnalyticsUnavailable:  # e.g. an in-memory store: the same pass on the store itself
        service.refresh_workspace(session, message.workspace_id)
    service.schedule_nightly(session, message.workspace_id, after=now())
