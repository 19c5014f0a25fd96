"""A small private domain with known answers, built through the real ingest services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import column, select, table
from sqlalchemy.orm import Session

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers import merge
from siyu.customers.models import Customer
from siyu.ingest import service as ingest
from siyu.ingest.models import Order
from siyu.ingest.schemas import OrderIn
from siyu.lifecycle.models import CustomerMetrics
from tests.conftest import Tenant

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


@dataclass
class Domain:
    """Customer ids by role in the story (c5 was merged into c1; c6 is another workspace's)."""

    c1: int
    c2: int
    c3: int
    c4: int
    c5: int
    c6: int


def phone(n: int) -> str:
    return f"1380000{n:04d}"


def order(ext: str, who: int, days_ago: int, fen: int, category: str, **extra: Any) -> OrderIn:
    """A paid order of one line."""
    line = {"sku": f"SKU-{category}", "product": category, "category": category, "quantity": 1}
    return OrderIn.model_validate(
        {
            "external_id": ext,
            "channel": extra.pop("channel", "tmall"),
            "ordered_at": (NOW - timedelta(days=days_ago)).isoformat(),
            "total_fen": fen,
            "paid_fen": fen,
            "identifiers": {"phone": phone(who)},
            "lines": [line | {"unit_price_fen": fen, "amount_fen": fen}],
            **extra,
        }
    )


def event(eid: str, who: int, kind: str, days_ago: int, **properties: Any) -> dict[str, Any]:
    return {
        "event_id": eid,
        "type": kind,
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "identifiers": {"phone": phone(who)},
        "properties": properties,
    }


def contact(who: int, city: str) -> dict[str, Any]:
    """A sign-in event that also says where the person lives."""
    return event(f"hello-{who}", who, "view", 400) | {"attributes": {"city": city}}


def customer_of(session: Session, workspace_id: int, who: int) -> int:
    from siyu.core.pii import blind_index

    found = session.scalar(
        select(Customer.id).where(
            Customer.workspace_id == workspace_id,
            Customer.phone_bidx == blind_index("phone", phone(who)),
        )
    )
    assert found is not None
    return int(found)


def metrics(session: Session, workspace_id: int, customer_id: int, **values: Any) -> None:
    """A customer_metrics row as the lifecycle refresh would write it (only these columns)."""
    row = {"workspace_id": workspace_id, "customer_id": customer_id, "computed_at": NOW, **values}
    full = CustomerMetrics.__table__.c
    for col in full:
        # Required columns take their model default (whatever lifecycle adds later).
        if not col.nullable and col.name not in row and col.default is not None:
            row[col.name] = col.default.arg
    session.execute(
        table("customer_metrics", *(column(k, full[k].type) for k in row)).insert(), row
    )


def build(db: Database, clock: SimulatedClock, tenant: Tenant, other: Tenant) -> Domain:
    """Six people with known orders, events and metrics."""
    clock.set(NOW)
    p = tenant.principal
    with db.transaction() as session:
        cities = {1: "上海", 2: "北京", 3: "上海", 4: "广州", 5: "上海"}
        ingest.ingest_events(session, p, [contact(w, c) for w, c in cities.items()])
        ingest.upsert_orders(
            session,
            p,
            [
                order("o1", 1, 10, 10_000, "口红", touchpoint="package_card", store="上海店"),
                order("o2", 1, 100, 10_000, "口红"),
                order("o3", 2, 200, 30_000, "护肤", channel="jd"),
                order("o4", 4, 5, 5_000, "口红"),
                order("o5", 4, 50, 5_000, "口红"),
                order("o6", 4, 300, 5_000, "口红"),
                order("o7", 4, 60, 5_000, "眼影", channel="douyin"),
                order("o8", 5, 3, 99_000, "口红"),
            ],
        )
        ingest.ingest_events(
            session,
            p,
            [event(f"k{i}", 3, "click", 2 + i, campaign="618") for i in range(3)]
            + [event("k9", 1, "click", 40, campaign="618")],
        )
        ids = {w: customer_of(session, tenant.workspace_id, w) for w in cities}
        merge.merge(session, p, ids[1], ids[5], "test")
        ws = tenant.workspace_id
        metrics(
            session,
            ws,
            ids[1],
            order_count=2,
            total_spend_fen=20_000,
            aov_fen=10_000,
            last_order_at=NOW - timedelta(days=10),
            lifecycle_stage="repeat",
            rfm_cell="important_value",
        )
        metrics(
            session,
            ws,
            ids[2],
            order_count=1,
            total_spend_fen=30_000,
            aov_fen=30_000,
            last_order_at=NOW - timedelta(days=200),
            lifecycle_stage="dormant_heavy",
            rfm_cell="important_retain",
        )
        metrics(
            session,
            ws,
            ids[4],
            order_count=4,
            total_spend_fen=20_000,
            aov_fen=5_000,
            last_order_at=NOW - timedelta(days=5),
            lifecycle_stage="loyal",
            rfm_cell="important_value",
        )
        ingest.ingest_events(session, other.principal, [contact(6, "上海")])
        c6 = customer_of(session, other.workspace_id, 6)
        order_ids = session.scalars(select(Order.id).where(Order.workspace_id == ws)).all()
        assert len(order_ids) == 8
    return Domain(ids[1], ids[2], ids[3], ids[4], ids[5], c6)
