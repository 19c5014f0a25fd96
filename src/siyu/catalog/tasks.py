"""Reaction to cancelled orders: the stock they held goes back.

A reservation belongs to an order when its ref is the order's external id, or that id followed
by `#` and anything (one reservation per line: `T123#1`, `T123#2`). Only held units are
released; confirmed ones already left stock, and the supplier's next versioned count is the
truth about them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from siyu.catalog.models import Reservation
from siyu.catalog.service import release
from siyu.core import outbox, signals
from siyu.core.outbox import OutboxMessage
from siyu.ingest.closing import external_ids

CANCEL_TOPIC = "catalog.order_cancelled"
# External ids per statement: each also becomes a prefix test.
BATCH = 200

signals.subscribe(signals.ORDER_CANCELLED, CANCEL_TOPIC)


def release_for_orders(session: Session, workspace_id: int, order_ids: Sequence[int]) -> int:
    """Release the held reservations of these orders; returns how many (0 on a replay)."""
    refs = external_ids(session, workspace_id, order_ids)
    released = 0
    for start in range(0, len(refs), BATCH):
        chunk = refs[start : start + BATCH]
        mine = or_(
            Reservation.ref.in_(chunk),
            *[Reservation.ref.startswith(f"{ref}#", autoescape=True) for ref in chunk],
        )
        held = session.scalars(
            select(Reservation)
            .where(Reservation.workspace_id == workspace_id, Reservation.status == "held", mine)
            .order_by(Reservation.id)
        ).all()
        released += sum(release(session, r) for r in held)
    return released


@outbox.handler(CANCEL_TOPIC)
def on_cancelled(session: Session, message: OutboxMessage) -> None:
    """Give back what the cancelled orders held."""
    assert message.workspace_id is not None
    release_for_orders(session, message.workspace_id, message.payload["order_ids"])
