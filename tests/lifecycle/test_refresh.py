"""The full refresh (DuckDB over committed data) and the incremental one agree, on both stores."""

from __future__ import annotations

import math
from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select

from siyu.core import signals
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from siyu.ingest.models import Event, Order
from siyu.lifecycle.incremental import refresh_customers
from siyu.lifecycle.models import CustomerMetrics, LifecycleState
from siyu.lifecycle.refresh import refresh_workspace
from tests.conftest import Tenant
from tests.lifecycle.factory import T0, order, phone, place

NOW = (T0 - timedelta(hours=8)).replace(tzinfo=UTC) + timedelta(days=300)
COLUMNS = [c.name for c in CustomerMetrics.__table__.columns if c.name not in ("id", "computed_at")]


@pytest.fixture
def db(committed_db: Database) -> Database:
    """The full pass reads committed data: these tests commit to a store of their own."""
    return committed_db


def history(n: int = 40) -> list:
    """Customer i buys 1 + i % 5 times, every 20 + i days from day 3i, for 1,000 x (1 + i % 7)."""
    orders = []
    for i in range(n):
        for k in range(1 + i % 5):
            category = ("lipstick", "eyeshadow", "skincare")[(i + k) % 3]
            channel = ("tmall", "jd", "wechat")[(i * k) % 3]
            days = 3 * i + k * (20 + i)
            orders.append(
                order(
                    phone(i),
                    f"O{i}-{k}",
                    days,
                    1000 * (1 + i % 7),
                    channel=channel,
                    category=category,
                )
            )
    return orders


def metrics(db: Database, workspace_id: int) -> dict[int, dict]:
    with db.transaction() as session:
        rows = session.scalars(
            select(CustomerMetrics).where(CustomerMetrics.workspace_id == workspace_id)
        ).all()
        return {r.customer_id: {c: getattr(r, c) for c in COLUMNS} for r in rows}


def expected_quintiles(values: dict[int, object]) -> dict[int, int]:
    """1 + floor(5 (rank - 1) / n), ties sharing their first rank: the reference."""
    ordered = sorted(values.values())  # type: ignore[type-var]
    return {k: 1 + math.floor(5 * ordered.index(v) / len(ordered)) for k, v in values.items()}


def test_full_refresh_scores_stages_and_fits_clv(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    place(db, tenant.principal, history())
    with db.transaction() as session:
        fan = customers.create_customer(session, tenant.principal, CustomerCreate(name="粉丝"))
    clock.set(NOW)
    with db.transaction() as session:
        result = refresh_workspace(db, session, tenant.workspace_id)
    assert (result.customers, result.buyers, result.changes, result.fitted) == (41, 40, 0, True)
    rows = metrics(db, tenant.workspace_id)
    assert rows[fan.id]["lifecycle_stage"] == "fan" and rows[fan.id]["r_score"] is None
    buyers = {cid: r for cid, r in rows.items() if r["order_count"]}
    assert sorted(r["order_count"] for r in buyers.values()) == sorted(1 + i % 5 for i in range(40))
    assert {cid: r["r_score"] for cid, r in buyers.items()} == expected_quintiles(
        {cid: r["last_order_at"] for cid, r in buyers.items()}
    )
    assert {cid: r["f_score"] for cid, r in buyers.items()} == expected_quintiles(
        {cid: r["order_count"] for cid, r in buyers.items()}
    )
    assert {cid: r["m_score"] for cid, r in buyers.items()} == expected_quintiles(
        {cid: r["total_spend_fen"] for cid, r in buyers.items()}
    )
    # Customer 4: five orders 24 days apart from day 12, 1,000 x 5 fen each.
    four = next(r for r in buyers.values() if r["order_count"] == 5 and r["aov_fen"] == 5000)
    assert four["total_spend_fen"] == 25000 and four["purchase_cycle_days"] == pytest.approx(24.0)
    # Ties go by name: eyeshadow (k=0,3) and skincare (k=1,4) both in two orders of 5,000.
    assert four["favourite_category"] == "eyeshadow"
    assert four["preferred_channel"] == "jd"  # tmall k=0,3 and jd k=1,4: a tie, by name
    # Last order day 108, idle 192 days = 8 cycles: lost.
    assert four["lifecycle_stage"] == "lost"
    assert all(0 <= r["p_alive"] <= 1 and r["clv_fen"] >= 0 for r in buyers.values())
    assert all(r["clv_fen"] <= r["expected_spend_fen"] for r in buyers.values())
    with db.transaction() as session:
        state = session.scalars(select(LifecycleState)).one()
        assert set(state.clv_params["bgnbd"]) == {"r", "alpha", "a", "b"}
        assert state.customers == 41


def test_incremental_agrees_with_the_full_pass(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    place(db, tenant.principal, history())
    clock.set(NOW)
    with db.transaction() as session:
        refresh_workspace(db, session, tenant.workspace_id)
    full = metrics(db, tenant.workspace_id)
    with db.transaction() as session:
        assert refresh_customers(session, tenant.workspace_id, list(full)) == 0
    again = metrics(db, tenant.workspace_id)
    for cid, row in full.items():
        for column, value in row.items():
            if isinstance(value, float):
                assert again[cid][column] == pytest.approx(value, rel=1e-6), column
            else:
                assert again[cid][column] == value, column


def test_a_new_order_moves_a_lost_customer_and_says_so(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    place(db, tenant.principal, history())
    clock.set(NOW)
    with db.transaction() as session:
        refresh_workspace(db, session, tenant.workspace_id)
    signals.subscribe(signals.LIFECYCLE_STAGE_CHANGED, "test.stage_changed")
    try:
        place(db, tenant.principal, [order(phone(4), "BACK", 300, 5000)])
        with db.transaction() as session:
            cid = session.scalar(select(Order.customer_id).where(Order.external_id == "BACK"))
            assert refresh_customers(session, tenant.workspace_id, [cid]) == 1
        with db.transaction() as session:
            row = session.scalars(
                select(CustomerMetrics).where(CustomerMetrics.customer_id == cid)
            ).one()
            assert (row.order_count, row.lifecycle_stage) == (6, "loyal")
            assert row.stage_since == NOW
            event = session.scalars(
                select(Event).where(Event.type == "lifecycle_stage_changed")
            ).one()
            assert (event.customer_id, event.properties) == (cid, {"from": "lost", "to": "loyal"})
            message = session.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == "test.stage_changed")
            ).one()
            assert message.payload["changes"] == [
                {"customer_id": cid, "from": "lost", "to": "loyal"}
            ]
    finally:
        signals.SUBSCRIBERS[signals.LIFECYCLE_STAGE_CHANGED].remove("test.stage_changed")


def test_merged_away_customers_lose_their_row(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    place(db, tenant.principal, history(3))
    clock.set(NOW)
    with db.transaction() as session:
        refresh_workspace(db, session, tenant.workspace_id)
        ids = sorted(session.scalars(select(CustomerMetrics.customer_id)))
    from siyu.customers import merge

    with db.transaction() as session:
        merge.merge(session, tenant.principal, ids[0], ids[1], "manual:test")
        refresh_customers(session, tenant.workspace_id, ids[:2])
    with db.transaction() as session:
        assert sorted(session.scalars(select(CustomerMetrics.customer_id))) == [ids[0], ids[2]]
        assert session.scalar(select(func.count(CustomerMetrics.id))) == 2
