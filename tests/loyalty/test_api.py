"""The loyalty and coupon API over HTTP: enrollment, card, points, benefit check, coupons."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from tests.conftest import Tenant
from tests.loyalty.helpers import customer, order, snapshot

MEMBER_DAY = datetime(2026, 1, 18, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai on the 18th


def enroll(client: TestClient, tenant: Tenant, customer_id: int) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/loyalty/members",
        json={"customer_id": customer_id, "channel": "wechat", "consent": True},
        headers=tenant.headers,
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def test_free_enrollment_records_consent_and_is_idempotent(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    who = customer(db, tenant)
    before = snapshot(db, tenant.workspace_id)
    refused = client.post(
        "/api/v1/loyalty/members",
        json={"customer_id": who, "channel": "wechat", "consent": False},
        headers=tenant.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"field": "consent", "reason": "the customer must agree to join"}
    ]
    assert snapshot(db, tenant.workspace_id) == before
    first = client.post(
        "/api/v1/loyalty/members",
        json={"customer_id": who, "channel": "wechat", "consent": True},
        headers=tenant.headers,
    )
    again = client.post(
        "/api/v1/loyalty/members",
        json={"customer_id": who, "channel": "store", "consent": True},
        headers=tenant.headers,
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["card_no"] == again.json()["card_no"]
    from sqlalchemy import select

    from siyu.customers.models import Consent

    with db.transaction() as session:
        consents = session.execute(
            select(Consent.customer_id, Consent.purpose, Consent.granted, Consent.channel)
        ).all()
    assert [tuple(c) for c in consents] == [(who, "membership", True, "wechat")]


def test_gold_member_on_member_day_gets_tier_price_extra_20_off_and_the_best_coupon(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    who = customer(db, tenant)
    enroll(client, tenant, who)
    order(db, tenant, who, "TM-1", 300_000, at="2026-01-09T10:00:00+08:00")
    made = client.post(
        "/api/v1/coupon-templates",
        json={"name": "满50减20", "kind": "threshold", "threshold_fen": 5000, "discount_fen": 2000},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    issued = client.post(
        f"/api/v1/coupon-templates/{made.json()['id']}/issue",
        json={"customer_id": who, "idempotency_key": "welcome"},
        headers=tenant.headers,
    )
    assert issued.status_code == 201
    clock.set(MEMBER_DAY)
    checked = client.post(
        "/api/v1/loyalty/benefits:check",
        json={
            "customer_id": who,
            "channel": "store",
            "lines": [{"sku": "LIP", "category": "口红", "quantity": 2, "unit_price_fen": 10000}],
            "shipping_fen": 1000,
            "launch_at": "2026-01-19T12:00:00+08:00",
        },
        headers=tenant.headers,
    )
    assert checked.status_code == 200, checked.text
    body = checked.json()
    # 金卡: 95折 on 200.00 = 10.00 off; member day 8折 on 190.00 = 38.00 off; 满50减20;
    # free shipping; 24 h early access.
    assert {
        k: body[k]
        for k in (
            "tier_name",
            "subtotal_fen",
            "tier_discount_fen",
            "member_day",
            "member_day_discount_fen",
            "coupon_discount_fen",
            "free_shipping",
            "shipping_discount_fen",
            "early_access_hours",
            "may_buy_now",
            "total_discount_fen",
            "payable_fen",
            "points_balance",
        )
    } == {
        "tier_name": "金卡",
        "subtotal_fen": 20000,
        "tier_discount_fen": 1000,
        "member_day": True,
        "member_day_discount_fen": 3800,
        "coupon_discount_fen": 2000,
        "free_shipping": True,
        "shipping_discount_fen": 1000,
        "early_access_hours": 24,
        "may_buy_now": False,  # the gold window opens at 12:00 on the 18th
        "total_discount_fen": 7800,
        "payable_fen": 13200,
        "points_balance": 3000,
    }
    assert body["best_coupons"] == [issued.json()["code"]]
    assert body["early_access_from"] == "2026-01-18T04:00:00Z"


def test_redeeming_too_much_or_a_fraction_is_refused_over_http_and_nothing_changes(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(datetime(2026, 1, 10, tzinfo=UTC))
    who = customer(db, tenant)
    enroll(client, tenant, who)
    order(db, tenant, who, "TM-1", 5000, at="2026-01-09T10:00:00+08:00")
    before = snapshot(db, tenant.workspace_id)
    url = f"/api/v1/loyalty/members/{who}/points:redeem"
    too_much = client.post(url, json={"points": 51, "idempotency_key": "a"}, headers=tenant.headers)
    assert too_much.status_code == 409
    assert too_much.json() == {
        "code": "insufficient_points",
        "message": "积分不足：可用 50，需要 51",
        "balance": 50,
    }
    fraction = client.post(
        url, json={"points": 2.5, "idempotency_key": "b"}, headers=tenant.headers
    )
    assert fraction.status_code == 422
    assert fraction.json()["errors"][0]["field"] == "points"
    negative = client.post(url, json={"points": -1, "idempotency_key": "c"}, headers=tenant.headers)
    assert negative.status_code == 422
    elsewhere = client.post(
        url, json={"points": 1, "idempotency_key": "d"}, headers=other_tenant.headers
    )
    assert elsewhere.status_code == 404
    assert snapshot(db, tenant.workspace_id) == before
    ok = client.post(url, json={"points": 20, "idempotency_key": "e"}, headers=tenant.headers)
    assert ok.json() == {
        "transfer_id": ok.json()["transfer_id"],
        "points": 20,
        "balance_after": 30,
        "replay": False,
    }
    card = client.get(f"/api/v1/loyalty/members/{who}", headers=tenant.headers).json()
    assert (card["points_balance"], card["tier"]["name"], card["next_tier"]["name"]) == (
        30,
        "普通会员",
        "银卡",
    )
    assert [h["kind"] for h in card["history"]] == ["redeem", "earn"]
    page = client.get(
        f"/api/v1/loyalty/members/{who}/statement?limit=1", headers=tenant.headers
    ).json()
    rest = client.get(
        f"/api/v1/loyalty/members/{who}/statement?limit=1&cursor={page['next_cursor']}",
        headers=tenant.headers,
    ).json()
    assert [i["balance_after"] for i in page["items"] + rest["items"]] == [30, 50]


def test_coupon_redemption_over_http_refuses_a_used_code(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    who = customer(db, tenant)
    made = client.post(
        "/api/v1/coupon-templates",
        json={"name": "立减10元", "kind": "fixed", "discount_fen": 1000},
        headers=tenant.headers,
    ).json()
    code = client.post(
        f"/api/v1/coupon-templates/{made['id']}/issue",
        json={"customer_id": who, "idempotency_key": "k"},
        headers=tenant.headers,
    ).json()["code"]
    body = {
        "customer_id": who,
        "channel": "youzan",
        "order_external_id": "YZ-1",
        "lines": [{"sku": "LIP", "quantity": 1, "unit_price_fen": 3000}],
    }
    used = client.post(f"/api/v1/coupons/{code}:redeem", json=body, headers=tenant.headers)
    assert (used.status_code, used.json()["discount_fen"]) == (200, 1000)
    again = client.post(f"/api/v1/coupons/{code}:redeem", json=body, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["reason"] == "used"
    stats = client.get(f"/api/v1/coupon-templates/{made['id']}", headers=tenant.headers).json()
    assert (
        stats["issued_count"],
        stats["redeemed_count"],
        stats["redemption_rate"],
        stats["redeemed_fen"],
    ) == (1, 1, 1.0, 1000)
