"""Loyalty's reactions to ingest, run from the outbox: earn on orders, claw back on refunds
and cancels, bonus points for actions. Importing this module registers the handlers and
subscriptions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import outbox, signals
from siyu.ingest.models import Event
from siyu.loyalty import schedule  # noqa: F401  (registers the daily tick's handler)
from siyu.loyalty.earning import (
    clawback_for_cancel,
    clawback_for_refund,
    earn_for_orders,
    members_of,
)
from siyu.loyalty.grants import credit_many
from siyu.loyalty.ledger import Entry
from siyu.loyalty.service import expires_at, get_program, workspace_tz
from siyu.loyalty.tiers import evaluate_many

ORDERS_TOPIC = "loyalty.orders"
REFUND_TOPIC = "loyalty.refund"
CANCEL_TOPIC = "loyalty.cancel"
EVENTS_TOPIC = "loyalty.events"
# Events arrive in one batch with one received_at; the message is made in the same transaction.
BATCH_SLACK = timedelta(minutes=1)

signals.subscribe(signals.ORDERS_STORED, ORDERS_TOPIC)
signals.subscribe(signals.ORDER_REFUNDED, REFUND_TOPIC)
signals.subscribe(signals.ORDER_CANCELLED, CANCEL_TOPIC)
signals.subscribe(signals.EVENTS_INGESTED, EVENTS_TOPIC)


@outbox.handler(ORDERS_TOPIC)
def _orders(session: Session, message: outbox.OutboxMessage) -> None:
    assert message.workspace_id is not None
    earn_for_orders(session, message.workspace_id, [int(i) for i in message.payload["order_ids"]])


@outbox.handler(REFUND_TOPIC)
def _refund(session: Session, message: outbox.OutboxMessage) -> None:
    assert message.workspace_id is not None
    payload = message.payload
    clawback_for_refund(
        session, message.workspace_id, int(payload["order_id"]), int(payload["refund_id"])
    )


@outbox.handler(CANCEL_TOPIC)
def _cancel(session: Session, message: outbox.OutboxMessage) -> None:
    assert message.workspace_id is not None
    for order_id in message.payload["order_ids"]:
        clawback_for_cancel(session, message.workspace_id, int(order_id))


@outbox.handler(EVENTS_TOPIC)
def _events(session: Session, message: outbox.OutboxMessage) -> None:
    ws = message.workspace_id
    assert ws is not None
    program = get_program(session, ws)
    rewarded = {k: v for k, v in (program.action_points or {}).items() if v}
    # "review" is what a product review arrives as: a feedback event.
    types = {"feedback" if k == "review" else k: v for k, v in rewarded.items()}
    wanted = [t for t in message.payload.get("types", []) if t in types]
    if not wanted:
        return
    events = session.execute(
        # By customer alone (they are the workspace's): SQLite would read the workspace's
        # whole index for a big batch to spare the sort.
        select(Event.id, Event.customer_id, Event.type)
        .where(
            Event.customer_id.in_(message.payload["customer_ids"]),
            Event.type.in_(wanted),
            Event.received_at >= message.created_at - BATCH_SLACK,
        )
        .order_by(Event.id)
    ).all()
    expiry = expires_at(program.expiry, message.created_at, workspace_tz(session, ws))
    members = members_of(session, ws, {customer_id for _, customer_id, _ in events})
    entries = [
        Entry(customer_id, int(types[kind]), "bonus", f"event:{event_id}", reason=kind)
        for event_id, customer_id, kind in events
        if customer_id in members
    ]
    # One set of statements for the batch; a replayed message answers from the stored keys.
    credit_many(session, ws, entries, expiry)
    # Tiers read spend and activity, not points: one re-tier after all the credits.
    evaluate_many(session, ws, list(members.values()))
