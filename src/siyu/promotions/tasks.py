"""Coupons' reactions, run from the outbox: issue on events, give coupons back on full refunds
and cancels.
Importing this module registers the handlers and subscriptions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import outbox, signals
from siyu.core.auth import system_principal
from siyu.ingest.models import Order
from siyu.promotions.coupons import issue_on_events
from siyu.promotions.redemption import reverse_for_order

EVENTS_TOPIC = "promotions.events"
REFUND_TOPIC = "promotions.refund"
CANCEL_TOPIC = "promotions.cancel"

signals.subscribe(signals.EVENTS_INGESTED, EVENTS_TOPIC)
signals.subscribe(signals.ORDER_REFUNDED, REFUND_TOPIC)
signals.subscribe(signals.ORDER_CANCELLED, CANCEL_TOPIC)


@outbox.handler(EVENTS_TOPIC)
def _events(session: Session, message: outbox.OutboxMessage) -> None:
    assert message.workspace_id is not None
    issue_on_events(
        session,
        system_principal(message.workspace_id),
        [int(c) for c in message.payload["customer_ids"]],
        list(message.payload.get("types", [])),
        message.created_at - timedelta(minutes=1),
    )


@outbox.handler(REFUND_TOPIC)
def _refund(session: Session, message: outbox.OutboxMessage) -> None:
    order = session.get(Order, int(message.payload["order_id"]))
    if order is None or order.workspace_id != message.workspace_id:
        return
    if order.refunded_fen >= order.paid_fen:
        reverse_for_order(session, order.workspace_id, f"{order.channel}:{order.external_id}")


@outbox.handler(CANCEL_TOPIC)
def _cancel(session: Session, message: outbox.OutboxMessage) -> None:
    # A cancelled order gives its coupons back as a full refund does.
    orders = session.scalars(
        select(Order).where(
            Order.workspace_id == message.workspace_id,
            Order.id.in_([int(i) for i in message.payload["order_ids"]]),
        )
    )
    for order in orders:
        reverse_for_order(session, order.workspace_id, f"{order.channel}:{order.external_id}")
