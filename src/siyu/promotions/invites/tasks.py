"""First orders convert invites whose goal is the first order."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.core import outbox, signals
from siyu.promotions.invites.service import on_first_orders

ORDERS_TOPIC = "invites.orders"
signals.subscribe(signals.ORDERS_STORED, ORDERS_TOPIC)


@outbox.handler(ORDERS_TOPIC)
def on_orders(session: Session, message: outbox.OutboxMessage) -> None:
    """Convert the registered invitees among the batch's customers."""
    assert message.workspace_id is not None
    on_first_orders(session, message.workspace_id, list(message.payload["customer_ids"]))
