"""Earning rules on both stores: the tier multiplier, bonuses for actions (sign-in, review,
share, joining a group) from events and over HTTP, and upgrades by activity score."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.errors import InvalidField
from siyu.ingest import service as ingest
from siyu.ingest.schemas import EventIn, RefundIn
from siyu.loyalty import service
from siyu.loyalty.models import PointsTransfer
from tests.conftest import Tenant
from tests.loyalty.helpers import PHONES, customer, member, order, refund, snapshot

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def earned(db: Database, customer_id: int) -> list[tuple[str, int, str | None]]:
    with db.transaction() as session:
        rows = session.execute(
            select(PointsTransfer.kind, PointsTransfer.points, PointsTransfer.reason)
            .where(PointsTransfer.customer_id == customer_id)
            .order_by(PointsTransfer.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def events(db: Database, tenant: Tenant, customer_id: int, *items: tuple[str, str]) -> None:
    """Ingest (event_id, type) events for the customer, then the outbox runs."""
    batch = [
        EventIn.model_validate(
            {
                "event_id": event_id,
                "type": kind,
                "occurred_at": "2026-01-06T10:00:00+08:00",
                "identifiers": {"phone": PHONES[customer_id]},
            }
        )
        for event_id, kind in items
    ]
    with db.transaction() as session:
        ingest.ingest_events(session, tenant.principal, batch)
    outbox.run_due(db)


def test_a_silver_member_earns_at_120_percent_and_double_on_member_day(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 20, tzinfo=UTC))
    who = member(db, tenant)
    # ¥1,000 at 普通会员 (100%) earns 1,000 and lifts the member to 银卡 (120%).
    order(db, tenant, who, "TM-1", 100_000, at="2026-01-05T10:00:00+08:00")
    order(db, tenant, who, "TM-2", 10_000, at="2026-01-06T10:00:00+08:00")
    # 银卡 on member day (the 18th): 100 × 120% × 200%.
    order(db, tenant, who, "TM-3", 10_000, at="2026-01-18T10:00:00+08:00")
    # Fractions are floored once: ¥0.99 × 120% = 1.188 → 1.
    order(db, tenant, who, "TM-4", 99, at="2026-01-19T10:00:00+08:00")
    assert [p for _, p, _ in earned(db, who)] == [1000, 120, 240, 1]
    with db.transaction() as session:
        details = session.scalars(
            select(PointsTransfer.detail)
            .where(PointsTransfer.customer_id == who)
            .order_by(PointsTransfer.id)
        ).all()
    assert [(d["tier"], d["member_day"]) for d in details] == [
        (0, False),
        (1, False),
        (1, True),
        (1, False),
    ]


def test_sign_in_review_share_and_joining_a_group_earn_once_per_event(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who, stranger = member(db, tenant), customer(db, tenant, "路人")
    done = [("e1", "sign_in"), ("e2", "feedback"), ("e3", "share"), ("e4", "join_group")]
    events(db, tenant, who, *done, ("e5", "view"))
    # The same events again (a replayed batch) earn nothing more.
    events(db, tenant, who, *done)
    events(db, tenant, stranger, ("e6", "sign_in"))
    assert earned(db, who) == [
        ("bonus", 5, "sign_in"),
        ("bonus", 10, "feedback"),
        ("bonus", 5, "share"),
        ("bonus", 20, "join_group"),
    ]
    assert earned(db, stranger) == []
    # A second sign-in is a new event: it earns again.
    events(db, tenant, who, ("e7", "sign_in"))
    assert [p for _, p, _ in earned(db, who)] == [5, 10, 5, 20, 5]


def test_an_action_over_http_earns_once_per_key_and_an_unknown_one_writes_nothing(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    url = f"/api/v1/loyalty/members/{who}/actions"
    answers: list[Any] = [
        client.post(url, json={"action": a, "idempotency_key": k}, headers=tenant.headers)
        for a, k in (("review", "rv-1"), ("review", "rv-1"), ("share", "sh-1"))
    ]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [(r.json()["points"], r.json()["replay"]) for r in answers] == [
        (10, False),
        (10, True),
        (5, False),
    ]
    before = snapshot(db, tenant.workspace_id)
    unknown = client.post(
        url, json={"action": "dance", "idempotency_key": "x-1"}, headers=tenant.headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "action"
    assert snapshot(db, tenant.workspace_id) == before
    assert earned(db, who) == [("bonus", 10, "review"), ("bonus", 5, "share")]


def test_an_action_the_program_does_not_reward_is_refused(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id).action_points = {"sign_in": 0}
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(InvalidField), db.transaction() as session:
        service.award_action(session, tenant.principal, who, "sign_in", "d1")
    events(db, tenant, who, ("e1", "sign_in"))
    assert snapshot(db, tenant.workspace_id) == before


def test_activity_alone_upgrades_at_once(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    with db.transaction() as session:
        service.tiers(session, tenant.workspace_id)[1].min_activity = 3
    events(db, tenant, who, ("e1", "sign_in"), ("e2", "share"))
    with db.transaction() as session:
        row = service.find_member(session, tenant.workspace_id, who)
        assert row is not None
        assert (row.tier_rank, row.activity_score) == (0, 2)
    events(db, tenant, who, ("e3", "join_group"))
    with db.transaction() as session:
        row = service.find_member(session, tenant.workspace_id, who)
        assert row is not None
        assert (row.tier_rank, row.activity_score) == (1, 3)


def test_a_second_refund_beyond_what_is_left_is_refused_and_no_more_points_move(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order_id = order(db, tenant, who, "TM-1", 5000)
    refund(db, tenant, order_id, "R1", 3000)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(InvalidField) as refused, db.transaction() as session:
        ingest.refund(
            session, tenant.principal, order_id, RefundIn(external_id="R2", amount_fen=2001)
        )
    assert refused.value.detail["errors"][0]["field"] == "amount_fen"
    outbox.run_due(db)
    assert snapshot(db, tenant.workspace_id) == before
    assert earned(db, who) == [("earn", 50, None), ("clawback", 30, None)]


@pytest.mark.parametrize("delta", [0, 2.5, True, "5"])
def test_an_adjustment_that_is_not_a_whole_number_is_refused(
    db: Database, tenant: Tenant, clock: SimulatedClock, delta: object
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    before = snapshot(db, tenant.workspace_id)
    with pytest.raises(InvalidField) as refused, db.transaction() as session:
        service.adjust(session, tenant.principal, who, delta, "补偿", "adj-1")  # type: ignore[arg-type]
    assert refused.value.detail["errors"][0]["field"] == "delta"
    assert snapshot(db, tenant.workspace_id) == before


def test_points_that_never_expire_are_spent_after_those_that_do(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    from siyu.loyalty.models import PointsLot
    from siyu.loyalty.schedule import run_day

    clock.set(JAN6)
    who = member(db, tenant)
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id).expiry = "never"
    order(db, tenant, who, "TM-1", 4000)  # 40 points, never expire
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id).expiry = "days:30"
    order(db, tenant, who, "TM-2", 6000, at="2026-01-06T11:00:00+08:00")  # 60, expire 30 days on
    with db.transaction() as session:
        service.redeem(session, tenant.principal, who, 70, "r1")
    clock.advance(days=400)
    with db.transaction() as session:
        assert run_day(session, tenant.workspace_id)["expired"] == 0
        lots = session.execute(
            select(PointsLot.points, PointsLot.remaining, PointsLot.expires_at)
            .where(PointsLot.customer_id == who)
            .order_by(PointsLot.id)
        ).all()
    assert [tuple(lot) for lot in lots] == [
        (40, 30, None),
        (60, 0, datetime(2026, 2, 5, 3, 0, tzinfo=UTC)),
    ]


def test_amounts_beyond_any_store_are_refused_over_http_and_nothing_is_written(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    huge = 10**19  # past BIGINT: once a 500 from the store, now a named field
    line = {"sku": "LIP", "quantity": 1, "unit_price_fen": huge}
    before = snapshot(db, tenant.workspace_id)
    for method, route, body, field in (
        ("post", f"members/{who}/points:adjust", {"delta": huge, "reason": "x"}, "delta"),
        ("post", f"members/{who}/points:adjust", {"delta": -huge, "reason": "x"}, "delta"),
        ("post", f"members/{who}/points:redeem", {"points": huge}, "points"),
        ("put", "tiers/3", {"name": "黑金", "min_spend_fen": huge}, "min_spend_fen"),
        ("post", "benefits:check", {"customer_id": who, "channel": "tmall", "lines": [line]}, ""),
        ("post", "/coupon-templates", {"name": "x", "kind": "fixed", "discount_fen": huge}, ""),
    ):
        url = route if route.startswith("/") else f"/loyalty/{route}"
        if "points:" in route:
            body = body | {"idempotency_key": "k1"}
        answer = getattr(client, method)(f"/api/v1{url}", json=body, headers=tenant.headers)
        assert answer.status_code == 422, (route, answer.text)
        if field:
            assert answer.json()["errors"][0]["field"] == field
    assert snapshot(db, tenant.workspace_id) == before
    with db.transaction() as session:
        assert service.tiers(session, tenant.workspace_id)[3].min_spend_fen == 1_000_000


def test_points_earned_on_one_channel_are_spent_on_another(
    db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    who = member(db, tenant)
    order(db, tenant, who, "TM-1", 3000, channel="tmall")
    order(db, tenant, who, "DY-1", 2000, channel="douyin")
    with db.transaction() as session:
        service.redeem(session, tenant.principal, who, 45, "pos-1", channel="store")
        rows = session.execute(
            select(PointsTransfer.kind, PointsTransfer.channel, PointsTransfer.balance_after)
            .where(PointsTransfer.customer_id == who)
            .order_by(PointsTransfer.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("earn", "tmall", 30),
        ("earn", "douyin", 50),
        ("redeem", "store", 5),
    ]
