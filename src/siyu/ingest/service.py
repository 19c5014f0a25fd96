"""Ingestion: events in batches, orders and refunds, each attached to a customer by OneID."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import signals
from siyu.core.auth import Principal, get_scoped
from siyu.core.clock import now
from siyu.core.db import bulk_insert, one_of, reserve_ids, table_of
from siyu.core.errors import Conflict, InvalidField, NotFound
from siyu.customers.identifiers import TYPES as IDENTIFIER_TYPES
from siyu.customers.oneid import Resolver, Sighting
from siyu.ingest.closing import close_orders
from siyu.ingest.layouts import mapping_fields
from siyu.ingest.models import CHANNELS, ColumnMapping, Event, Order, OrderLine, Refund
from siyu.ingest.schemas import (
    Attributes,
    BatchResult,
    ColumnMappingIn,
    ColumnMappingOut,
    EventIn,
    EventResult,
    OrderIn,
    RefundIn,
)
from siyu.ingest.validation import identifiers_of, validate_events
from siyu.workspaces.models import Role, Workspace


def to_utc(value: datetime, tz: str) -> datetime:
    """Naive times in a file or payload are the workspace's local time."""
    return value.replace(tzinfo=ZoneInfo(tz)) if value.tzinfo is None else value


def workspace_tz(session: Session, principal: Principal) -> str:
    workspace = session.get(Workspace, principal.workspace_id)
    return workspace.timezone if workspace else "Asia/Shanghai"


def attributes_of(attrs: Attributes | None) -> dict[str, str]:
    return {k: v for k, v in (attrs.model_dump() if attrs else {}).items() if v}


def ingest_events(
    session: Session, principal: Principal, items: list[dict[str, Any]]
) -> BatchResult:
    """Store a batch; a replayed event_id is accepted once, a bad event costs only itself."""
    principal.require(Role.operator)
    tz = workspace_tz(session, principal)
    results, parsed = validate_events(items)
    ids = [e.event_id for _, e, _ in parsed]
    seen = (
        set(
            session.scalars(
                select(Event.event_id).where(
                    Event.workspace_id == principal.workspace_id,
                    one_of(session, Event.event_id, ids),
                )
            )
        )
        if ids
        else set()
    )
    fresh: list[tuple[int, EventIn]] = []
    identifiers = {index: ident for index, _, ident in parsed}
    for index, event, _ in parsed:
        if event.event_id in seen:
            results.append(EventResult(index=index, event_id=event.event_id, status="duplicate"))
            continue
        seen.add(event.event_id)
        fresh.append((index, event))
    sightings = [
        Sighting(
            f"event:{e.event_id}",
            identifiers[i],
            e.source,
            to_utc(e.occurred_at, tz),
            attributes_of(e.attributes),
        )
        for i, e in fresh
    ]
    resolved = Resolver(session, principal).resolve_many(sightings)
    received = now()
    rows = []
    for (index, event), sighting, (customer_id, identity_id) in zip(
        fresh, sightings, resolved, strict=True
    ):
        rows.append(
            {
                "workspace_id": principal.workspace_id,
                "event_id": event.event_id,
                "customer_id": customer_id,
                "identity_id": identity_id,
                "type": event.type,
                "name": event.name,
                "source": event.source,
                "occurred_at": sighting.at,
                "received_at": received,
                "amount_fen": event.amount_fen,
                "properties": event.properties,
            }
        )
        results.append(
            EventResult(
                index=index, event_id=event.event_id, status="accepted", customer_id=customer_id
            )
        )
    bulk_insert(session, table_of(Event), rows)
    if rows:
        signals.emit(
            session,
            principal.workspace_id,
            signals.EVENTS_INGESTED,
            {
                "customer_ids": sorted({r["customer_id"] for r in rows}),
                "types": sorted({r["type"] for r in rows}),
            },
        )
    results.sort(key=lambda r: r.index)
    count = {s: sum(r.status == s for r in results) for s in ("accepted", "duplicate", "rejected")}
    return BatchResult(
        accepted=count["accepted"],
        duplicates=count["duplicate"],
        rejected=count["rejected"],
        results=results,
    )


def upsert_order(
    session: Session, principal: Principal, data: OrderIn, resolver: Resolver | None = None
) -> tuple[Order, bool]:
    """Store an order once per (channel, external_id); a repeat returns the stored order."""
    ((order_id, created),) = upsert_orders(session, principal, [data], resolver)
    order = session.get(Order, order_id)
    assert order is not None
    return order, created


def check_order(data: OrderIn) -> None:
    """Refuse an order whose amounts or identifiers are wrong (an error names the field)."""
    _check_amounts(data)
    identifiers_of(data.identifiers)


def upsert_orders(
    session: Session,
    principal: Principal,
    orders: Sequence[OrderIn],
    resolver: Resolver | None = None,
) -> list[tuple[int, bool]]:
    """Store orders once each per (channel, external_id): (order id, created) per order.

    One lookup of stored orders, one OneID batch and bulk inserts, so a file import of many
    orders costs a few statements per chunk. A bad order raises before anything is written.
    A stored order reported again as cancelled is closed (ingest.closing); nothing else changes.
    """
    principal.require(Role.operator)
    stored = _stored_orders(session, principal.workspace_id, orders)
    fresh: dict[tuple[str, str], OrderIn] = {}
    normalized: list[list[tuple[str, str]]] = []
    for data in orders:
        key = (data.channel, data.external_id)
        if key not in stored and key not in fresh:
            _check_amounts(data)
            normalized.append(identifiers_of(data.identifiers))
            fresh[key] = data
    tz = workspace_tz(session, principal)
    sightings = [
        Sighting(
            f"order:{d.channel}:{d.external_id}",
            ident,
            d.channel,
            to_utc(d.ordered_at, tz),
            attributes_of(d.attributes),
        )
        for d, ident in zip(fresh.values(), normalized, strict=True)
    ]
    resolved = (resolver or Resolver(session, principal)).resolve_many(sightings)
    created_at = now()
    rows = []
    for data, sighting, (customer_id, identity_id) in zip(
        fresh.values(), sightings, resolved, strict=True
    ):
        attrs = sighting.attributes
        rows.append(
            {
                "workspace_id": principal.workspace_id,
                "external_id": data.external_id,
                "channel": data.channel,
                "customer_id": customer_id,
                "identity_id": identity_id,
                "status": data.status,
                "ordered_at": sighting.at,
                "paid_at": to_utc(data.paid_at, tz) if data.paid_at else None,
                "total_fen": data.total_fen,
                "paid_fen": data.paid_fen,
                "refunded_fen": 0,
                "store": data.store,
                "distributor_id": data.distributor_id,
                "touchpoint": data.touchpoint,
                "province": attrs.get("province"),
                "city": attrs.get("city"),
                "address": attrs.get("address"),
                "created_at": created_at,
            }
        )
    ids = reserve_ids(session, table_of(Order), len(rows))
    for row, order_id in zip(rows, ids, strict=True):
        row["id"] = order_id
    if rows:
        bulk_insert(session, table_of(Order), rows)
        lines = [
            {
                "workspace_id": principal.workspace_id,
                "order_id": order_id,
                "refunded_quantity": 0,
                "refunded_fen": 0,
                **line.model_dump(),
            }
            for order_id, data in zip(ids, fresh.values(), strict=True)
            for line in data.lines
        ]
        bulk_insert(session, table_of(OrderLine), lines)
        signals.emit(
            session,
            principal.workspace_id,
            signals.ORDERS_STORED,
            {"order_ids": ids, "customer_ids": sorted({r["customer_id"] for r in rows})},
        )
    new = dict(zip(fresh, ids, strict=True))
    close_orders(
        session,
        principal.workspace_id,
        [
            stored[k]
            for d in orders
            if d.status == "cancelled" and (k := (d.channel, d.external_id)) in stored
        ],
        [new[k] for k, d in fresh.items() if d.status == "cancelled"],
    )
    results: list[tuple[int, bool]] = []
    for data in orders:
        key = (data.channel, data.external_id)
        if key in new:
            # The first occurrence of a new order created it; any repeat is a duplicate.
            stored[key] = new.pop(key)
            results.append((stored[key], True))
        else:
            results.append((stored[key], False))
    return results


def _stored_orders(
    session: Session, workspace_id: int, orders: Sequence[OrderIn]
) -> dict[tuple[str, str], int]:
    by_channel: dict[str, set[str]] = {}
    for order in orders:
        by_channel.setdefault(order.channel, set()).add(order.external_id)
    found: dict[tuple[str, str], int] = {}
    for channel, external_ids in by_channel.items():
        # One channel at a time walks the unique index (workspace, channel, external_id);
        # (channel, external_id) IN (...) pairs can't use it on SQLite.
        keys = sorted(external_ids)
        for start in range(0, len(keys), 900):
            stmt = select(Order.external_id, Order.id).where(
                Order.workspace_id == workspace_id,
                Order.channel == channel,
                one_of(session, Order.external_id, keys[start : start + 900]),
            )
            found.update({(channel, e): i for e, i in session.execute(stmt)})
    return found


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
    signals.emit(
        session,
        principal.workspace_id,
        signals.ORDER_REFUNDED,
        {
            "order_id": order.id,
            "refund_id": record.id,
            "customer_id": order.customer_id,
            "amount_fen": data.amount_fen,
        },
    )
    return record


def save_column_mapping(
    session: Session, principal: Principal, data: ColumnMappingIn
) -> ColumnMapping:
    """Save (or replace, by name) a generic layout; a mapping that cannot import is refused."""
    principal.require(Role.operator)
    allowed = mapping_fields(data.kind)
    fields = list(data.columns.values())
    for header, fld in data.columns.items():
        if not header.strip() or header.startswith("="):
            raise InvalidField(
                "columns", "表头不能为空或以 = 开头", "a header is empty or starts with ="
            )
        if fld not in allowed:
            raise InvalidField(f"columns.{header}", f"未知的字段 {fld}", f"unknown field {fld}")
        if fields.count(fld) > 1:
            raise InvalidField(f"columns.{header}", f"字段 {fld} 重复", f"field {fld} mapped twice")
    for key, value in data.constants.items():
        ok = (key == "channel" and value in CHANNELS) or (
            key == "amounts" and value in ("order", "line")
        )
        if not ok:
            raise InvalidField(f"constants.{key}", "不支持的常量", "unsupported constant or value")
    needed: list[tuple[str, ...]] = [tuple(IDENTIFIER_TYPES)]
    if data.kind == "orders":
        needed += [("external_id",), ("ordered_at",), ("paid_fen", "paid_yuan")]
        if "channel" not in data.constants:
            needed.append(("channel",))
    else:
        needed.append(("added_at",))
    for options in needed:
        if not set(options) & set(fields):
            name = options[0] if len(options) < 3 else "identifier"
            raise InvalidField("columns", f"缺少字段 {name}", f"no column maps to {name}")
    mapping = session.scalars(
        select(ColumnMapping).where(
            ColumnMapping.workspace_id == principal.workspace_id, ColumnMapping.name == data.name
        )
    ).first()
    if mapping is None:
        mapping = ColumnMapping(workspace_id=principal.workspace_id, name=data.name)
        session.add(mapping)
    mapping.kind = data.kind
    # Constants live beside the headers under "=<field>" keys (no column of their own).
    mapping.columns = {**data.columns, **{f"={k}": v for k, v in data.constants.items()}}
    session.flush()
    return mapping


def get_column_mapping(session: Session, principal: Principal, name: str) -> ColumnMapping:
    """A saved mapping of the caller's workspace by name."""
    mapping = session.scalars(
        select(ColumnMapping).where(
            ColumnMapping.workspace_id == principal.workspace_id, ColumnMapping.name == name
        )
    ).first()
    if mapping is None:
        raise NotFound(zh=f"没有名为 {name} 的列映射", en=f"No column mapping named {name}")
    return mapping


def column_mapping_out(mapping: ColumnMapping) -> ColumnMappingOut:
    """A saved mapping with its constants split back out."""
    cols = mapping.columns or {}
    return ColumnMappingOut(
        id=mapping.id,
        name=mapping.name,
        kind=mapping.kind,
        columns={k: v for k, v in cols.items() if not k.startswith("=")},
        constants={k[1:]: v for k, v in cols.items() if k.startswith("=")},
    )
