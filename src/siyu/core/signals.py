"""Domain signals: something happened (orders stored, events ingested, a refund) and every
domain that cares runs its reaction after commit, from the outbox, in its own transaction.

A producer calls `emit` inside its transaction; each subscriber gets its own outbox message on
its own topic, so one failing reaction retries alone and a rollback drops them all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.core import outbox

# What producers emit, with the payload keys they carry.
ORDERS_STORED = "orders.stored"  # order_ids, customer_ids: new orders of one batch
ORDER_REFUNDED = "order.refunded"  # order_id, refund_id, customer_id, amount_fen
# order_ids, customer_ids: orders that became cancelled (closed) in one batch, or arrived so.
ORDER_CANCELLED = "order.cancelled"
EVENTS_INGESTED = "events.ingested"  # customer_ids, types: accepted events of one batch
# at (ISO instant), changes: [{customer_id, from, to}] (stage codes of lifecycle.schemas.STAGES),
# at most 1,000 per message; also written as `lifecycle_stage_changed` events.
LIFECYCLE_STAGE_CHANGED = "lifecycle.stage_changed"
SEGMENT_ENTERED = "segment.entered"  # segment_id, customer_ids: who just joined the segment
SEGMENT_EXITED = "segment.exited"  # segment_id, customer_ids: who just left the segment

SUBSCRIBERS: dict[str, list[str]] = {}


def subscribe(signal: str, topic: str) -> None:
    """Run the outbox handler of `topic` for every `signal` (register the handler as usual)."""
    topics = SUBSCRIBERS.setdefault(signal, [])
    if topic not in topics:
        topics.append(topic)


def emit(session: Session, workspace_id: int, signal: str, payload: dict[str, Any]) -> int:
    """Enqueue one message per subscriber in the caller's transaction; returns how many."""
    outbox.load_handlers()
    topics = SUBSCRIBERS.get(signal, [])
    if topics:
        outbox.fan_out(session, topics, {"signal": signal, **payload}, workspace_id)
    return len(topics)
