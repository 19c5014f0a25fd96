"""Reactions to ingest: attribute and commission new orders, claw back refunds, reverse
cancelled orders, record touchpoint steps, settle commissions once their return window passed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import outbox, signals
from siyu.core.clock import now
from siyu.core.outbox import OutboxMessage
from siyu.distribution.commissions import claw_back, reverse, settle_due
from siyu.distribution.ledger import Ledger
from siyu.distribution.models import Touchpoint
from siyu.distribution.touchpoints import add_steps, last_scanned
from siyu.ingest.models import Event, Order

ORDERS_TOPIC = "distribution.orders"
REFUND_TOPIC = "distribution.refund"
CANCEL_TOPIC = "distribution.cancel"
EVENTS_TOPIC = "distribution.events"
SETTLE_TOPIC = "distribution.settle"

signals.subscribe(signals.ORDERS_STORED, ORDERS_TOPIC)
signals.subscribe(signals.ORDER_REFUNDED, REFUND_TOPIC)
signals.subscribe(signals.ORDER_CANCELLED, CANCEL_TOPIC)
signals.subscribe(signals.EVENTS_INGESTED, EVENTS_TOPIC)


@outbox.handler(ORDERS_TOPIC)
def on_orders(session: Session, message: OutboxMessage) -> None:
    """Attribute, commission, and record first orders on touchpoints."""
    workspace_id = message.workspace_id
    assert workspace_id is not None
    order_ids = list(message.payload["order_ids"])
    if Ledger(session, workspace_id).run(order_ids):
        schedule_settlement(session, workspace_id)
    first_orders(session, workspace_id, order_ids)


@outbox.handler(REFUND_TOPIC)
def on_refund(session: Session, message: OutboxMessage) -> None:
    """Claw back the refunded share of the order's commission."""
    assert message.workspace_id is not None
    claw_back(
        session, message.workspace_id, message.payload["order_id"], message.payload["refund_id"]
    )


@outbox.handler(CANCEL_TOPIC)
def on_cancel(session: Session, message: OutboxMessage) -> None:
    """Reverse what is left of the cancelled orders' commissions."""
    assert message.workspace_id is not None
    reverse(session, message.workspace_id, message.payload["order_ids"])


@outbox.handler(EVENTS_TOPIC)
def on_events(session: Session, message: OutboxMessage) -> None:
    """Customers who scanned a touchpoint and then added WeCom or joined as members."""
    workspace_id = message.workspace_id
    assert workspace_id is not None
    types = set(message.payload.get("types", []))
    if not types & {"add_contact", "custom", "sign_in"}:
        return
    customers = list(message.payload["customer_ids"])
    scanned = last_scanned(session, workspace_id, customers)
    if not scanned:
        return
    stmt = select(Event.customer_id, Event.type, Event.name).where(
        Event.workspace_id == workspace_id, Event.customer_id.in_(list(scanned))
    )
    steps = set()
    for customer_id, kind, name in session.execute(stmt):
        if kind == "add_contact":
            steps.add((scanned[customer_id], customer_id, "add_wecom"))
        elif name == "member_join" or kind == "sign_in":
            steps.add((scanned[customer_id], customer_id, "member"))
    add_steps(session, workspace_id, sorted(steps))


def first_orders(session: Session, workspace_id: int, order_ids: list[int]) -> None:
    """A customer's first order counts on the touchpoint named on it, or the one they scanned."""
    rows = session.execute(
        select(Order.customer_id, Order.touchpoint).where(Order.id.in_(order_ids[:5000]))
    ).all()
    customers = sorted({c for c, _ in rows})
    counts = dict(
        session.execute(
            select(Order.customer_id, func.count())
            .where(Order.workspace_id == workspace_id, Order.customer_id.in_(customers[:5000]))
            .group_by(Order.customer_id)
        ).all()
    )
    codes = {code for _, code in rows if code}
    by_code = (
        dict(
            session.execute(
                select(Touchpoint.code, Touchpoint.id).where(
                    Touchpoint.workspace_id == workspace_id, Touchpoint.code.in_(codes)
                )
            ).all()
        )
        if codes
        else {}
    )
    scanned = last_scanned(session, workspace_id, customers)
    steps = set()
    for customer_id, code in rows:
        if counts.get(customer_id) != 1:
            continue
        point = by_code.get(code or "") or scanned.get(customer_id)
        if point is not None:
            if code in by_code:
                steps.add((point, customer_id, "scan"))
            steps.add((point, customer_id, "first_order"))
    add_steps(session, workspace_id, sorted(steps))


def schedule_settlement(session: Session, workspace_id: int) -> None:
    """A daily settlement run for the workspace (enqueued once per day)."""
    day = now().date()
    key = f"settle:{workspace_id}:{day.isoformat()}"
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key)):
        return
    outbox.enqueue(
        session,
        SETTLE_TOPIC,
        {},
        workspace_id=workspace_id,
        dedupe_key=key,
        run_at=now() + timedelta(days=1),
    )


@outbox.handler(SETTLE_TOPIC)
def on_settle(session: Session, message: OutboxMessage) -> None:
    """Settle what is due, and come back tomorrow while anything is still pending."""
    assert message.workspace_id is not None
    settle_due(session, message.workspace_id)
    from siyu.distribution.models import CommissionEntry

    if session.scalar(
        select(CommissionEntry.id).where(
            CommissionEntry.workspace_id == message.workspace_id,
            CommissionEntry.status == "pending",
        )
    ):
        schedule_settlement(session, message.workspace_id)
