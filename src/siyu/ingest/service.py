"""Ingestion: events in batches, orders and refunds, each attached to a customer by OneID."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, get_scoped
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField, SiyuError
from siyu.customers.identifiers import normalize
from siyu.customers.oneid import Resolver, Sighting
from siyu.ingest.models import Event, Order, OrderLine, Refund
from siyu.ingest.schemas import Attributes, BatchResult, EventIn, EventResult, OrderIn, RefundIn
from siyu.workspaces.models import Role, Workspace


def to_utc(value: datetime, tz: str) -> datetime:
    """Naive times in a file or payload are the workspace's local time."""
    return value.replace(tzinfo=ZoneInfo(tz)) if value.tzinfo is None else value


def workspace_tz(session: Session, principal: Principal) -> str:
    workspace = session.get(Workspace, principal.workspace_id)
    return workspace.timezone if workspace else "Asia/Shanghai"


def identifiers_of(raw: dict[str, str], prefix: str = "identifiers") -> list[tuple[str, str]]:
    """Normalize a record's identifiers; the first bad one is an error naming it."""
    return [(kind, normalize(kind, value, f"{prefix}.{kind}")) for kind, value in raw.items()]


def attributes_of(attrs: Attributes | None) -> dict[str, str]:
    return {k: v for k, v in (attrs.model_dump() if attrs else {}).items() if v}


def ingest_events(
    session: Session, principal: Principal, items: list[dict[str, Any]]
) -> BatchResult:
    """Store a batch; a replayed event_id is accepted once, a bad event costs only itself."""
    principal.require(Role.operator)
    tz = workspace_tz(session, principal)
    results: list[EventResult] = []
    parsed: list[tuple[int, EventIn, list[tuple[str, str]]]] = []
    for index, item in enumerate(items):
        try:
            event = EventIn.model_validate(item)
            parsed.append((index, event, identifiers_of(event.identifiers)))
        except ValidationError as exc:
            errors = [
                {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
                for e in exc.errors()
            ]
            results.append(
                EventResult(index=index, event_id=_event_id(item), status="rejected", errors=errors)
            )
        except SiyuError as exc:
            results.append(
                EventResult(
                    index=index,
                    event_id=_event_id(item),
                    status="rejected",
                    errors=exc.detail.get("errors", []),
                )
            )
    ids = [e.event_id for _, e, _ in parsed]
    seen = (
        set(
            session.scalars(
                select(Event.event_id).where(
                    Event.workspace_id == principal.workspace_id, Event.event_id.in_(ids)
                )
            )
        )
        if ids
        else set()
    )
    resolver = Resolver(session, principal)
    sightings = {
        i: Sighting(
            f"event:{e.event_id}",
            ident,
            e.source,
            to_utc(e.occurred_at, tz),
            attributes_of(e.attributes),
        )
        for i, e, ident in parsed
    }
    resolver.prefetch(sightings.values())
    received = now()
    for index, event, _ in parsed:
        if event.event_id in seen:
            results.append(EventResult(index=index, event_id=event.event_id, status="duplicate"))
            continue
        seen.add(event.event_id)
        customer_id, identity_id = resolver.resolve(sightings[index])
        session.add(
            Event(
                workspace_id=principal.workspace_id,
                event_id=event.event_id,
                customer_id=customer_id,
                identity_id=identity_id,
                type=event.type,
                name=event.name,
                source=event.source,
                occurred_at=sightings[index].at,
                received_at=received,
                amount_fen=event.amount_fen,
                properties=event.properties,
            )
        )
        results.append(
            EventResult(
                index=index, event_id=event.event_id, status="accepted", customer_id=customer_id
            )
        )
    session.flush()
    results.sort(key=lambda r: r.index)
    count = {s: sum(r.status == s for r in results) for s in ("accepted", "duplicate", "rejected")}
    return BatchResult(
        accepted=count["accepted"],
        duplicates=count["duplicate"],
        rejected=count["rejected"],
        results=results,
    )


def _event_id(item: Any) -> str | None:
    value = item.get("event_id") if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def upsert_order(
    session: Session, principal: Principal, data: OrderIn, resolver: Resolver | None = None
) -> tuple[Order, bool]:
    """Store an order once per (channel, external_id); a repeat returns the stored order."""
    principal.require(Role.operator)
    existing = session.scalars(
        select(Order).where(
            Order.workspace_id == principal.workspace_id,
            Order.channel == data.channel,
            Order.external_id == data.external_id,
        )
    ).first()
    if existing is not None:
        return existing, False
    _check_amounts(data)
    tz = workspace_tz(session, principal)
    ordered_at = to_utc(data.ordered_at, tz)
    resolver = resolver or Resolver(session, principal)
    attrs = attributes_of(data.attributes)
    sighting = Sighting(
        f"order:{data.channel}:{data.external_id}",
        identifiers_of(data.identifiers),
        data.channel,
        ordered_at,
        attrs,
    )
    customer_id, identity_id = resolver.resolve(sighting)
    order = Order(
        workspace_id=principal.workspace_id,
        external_id=data.external_id,
        channel=data.channel,
        customer_id=customer_id,
        identity_id=identity_id,
        status=data.status,
        ordered_at=ordered_at,
        paid_at=to_utc(data.paid_at, tz) if data.paid_at else None,
        total_fen=data.total_fen,
        paid_fen=data.paid_fen,
        store=data.store,
        distributor_id=data.distributor_id,
        touchpoint=data.touchpoint,
        province=attrs.get("province"),
        city=attrs.get("city"),
        address=attrs.get("address"),
        created_at=now(),
    )
    session.add(order)
    session.flush()
    session.add_all(
        OrderLine(workspace_id=principal.workspace_id, order_id=order.id, **line.model_dump())
        for line in data.lines
    )
    return order, True


def _check_amounts(data: OrderIn) -> None:
    if data.paid_fen > data.total_fen:
        raise InvalidField("paid_fen", "实付金额不能大于订单金额", "cannot exceed total_fen")
    if data.lines and sum(line.amount_fen for line in data.lines) > data.total_fen:
        raise InvalidField(
            "lines", "明细金额合计大于订单金额", "line amounts add up to more than total_fen"
        )


def refund(session: Session, principal: Principal, order_id: int, data: RefundIn) -> Refund:
    """Refund part or all of an order; more than was paid is refused and nothing changes."""
    principal.require(Role.operator)
    order = get_scoped(session, Order, order_id, principal)
    if session.scalar(
        select(Refund.id).where(Refund.order_id == order.id, Refund.external_id == data.external_id)
    ):
        raise Conflict(zh="此退款已登记", en="This refund is already recorded")
    remaining = order.paid_fen - order.refunded_fen
    if data.amount_fen > remaining:
        raise InvalidField(
            "amount_fen",
            f"退款金额超过可退金额 {remaining} 分",
            f"exceeds the refundable {remaining} fen",
        )
    lines = {
        line.sku: line
        for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))
    }
    for i, item in enumerate(data.lines):
        line = lines.get(item.sku)
        if line is None:
            raise InvalidField(f"lines.{i}.sku", "订单中没有此商品", "not on this order")
        if item.quantity > line.quantity - line.refunded_quantity:
            raise InvalidField(
                f"lines.{i}.quantity", "退货数量超过可退数量", "more than remains on the line"
            )
        line.refunded_quantity += item.quantity
        line.refunded_fen += item.amount_fen
    order.refunded_fen += data.amount_fen
    order.status = "refunded" if order.refunded_fen == order.paid_fen else "partially_refunded"
    record = Refund(
        workspace_id=principal.workspace_id,
        order_id=order.id,
        external_id=data.external_id,
        amount_fen=data.amount_fen,
        reason=data.reason,
        at=now(),
    )
    session.add(record)
    session.flush()
    return record
