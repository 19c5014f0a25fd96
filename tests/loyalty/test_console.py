"""Console pages on both stores (no browser): coupon templates show redemption rate and cost,
the ledger explorer filters by customer and kind within the workspace, the member card."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.loyalty import service
from siyu.workspaces.models import Role
from tests.conftest import Tenant
from tests.customers.test_console import add_user, login
from tests.loyalty.helpers import member, order
from tests.promotions.test_coupons import cart, issue, redeem, template

JAN6 = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)


def cells(html: str, row_id: str) -> dict[str, str]:
    """The classed cells of one table row: class -> text."""
    row = re.search(rf'<tr[^>]*id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None, row_id
    found = re.findall(r'<td class="num (\w+)">([^<]*)</td>', row.group(1))
    return {name: text.strip() for name, text in found}


def test_coupon_templates_show_issued_redeemed_rate_and_cost(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, b = member(db, tenant, "甲"), member(db, tenant, "乙")
    tid = template(db, tenant)
    used = issue(db, tenant, tid, a, "k1")
    issue(db, tenant, tid, b, "k2")
    redeem(db, tenant, used.code, a, cart(("LIP", "口红", 6000)))
    add_user(db, tenant, "ops", Role.operator)
    login(client, "ops")
    html = client.get("/promotions/coupons").text
    assert cells(html, f"template-{tid}") == {
        "issued": "2",
        "redeemed": "1",
        "rate": "50.0%",
        "cost": "¥20.00",
    }


def test_the_ledger_explorer_filters_by_customer_and_kind_and_the_card_shows_the_member(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant, clock: SimulatedClock
) -> None:
    clock.set(JAN6)
    a, b = member(db, tenant, "甲"), member(db, tenant, "乙")
    stranger = member(db, other_tenant, "丙")
    order(db, tenant, a, "TM-1", 12000)
    order(db, tenant, b, "TM-2", 3000)
    order(db, other_tenant, stranger, "TM-3", 7000)
    with db.transaction() as session:
        service.adjust(session, tenant.principal, a, -20, "重复积分更正", "adj-1")
    add_user(db, tenant, "ops", Role.operator)
    login(client, "ops")

    def rows(query: str) -> list[str]:
        html = client.get(f"/loyalty/ledger{query}").text
        return re.findall(r'<tr class="ledger-row">.*?<td class="num">(\d+)</td>', html, re.S)

    assert rows("") == ["20", "30", "120"]  # newest first, the other workspace's not shown
    assert rows(f"?customer_id={a}") == ["20", "120"]
    assert rows(f"?customer_id={a}&kind=earn") == ["120"]
    assert rows(f"?customer_id={stranger}") == []
    card = client.get(f"/loyalty/members/{a}")
    assert card.status_code == 200
    points = re.search(r'id="card-points">(\d+)<', card.text)
    tier = re.search(r'id="card-tier">([^<]+)<', card.text)
    assert (points and points.group(1), tier and tier.group(1)) == ("100", "普通会员")
    assert "重复积分更正" in card.text
    assert client.get(f"/loyalty/members/{stranger}").status_code == 404


def tier_form(csrf: str, **values: str) -> dict[str, str]:
    """The 银卡 row's form as the page fills it, with some values changed."""
    base = {
        "csrf_token": csrf,
        "name": "银卡",
        "min_spend_yuan": "1000.0",
        "min_activity": "60",
        "points_multiplier_pct": "120",
        "discount_pct": "98",
        "birthday_points": "100",
        "early_access_hours": "0",
        "member_day_pct": "90",
        "free_shipping": "on",
    }
    return base | values


def test_a_tier_or_template_amount_with_fractional_fen_or_not_finite_is_refused(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    from siyu.promotions.models import CouponTemplate
    from tests.loyalty.helpers import snapshot

    add_user(db, tenant, "ops", Role.operator)
    csrf = login(client, "ops")
    with db.transaction() as session:
        service.get_program(session, tenant.workspace_id)
    before = snapshot(db, tenant.workspace_id)
    for bad in ("1500.005", "inf", "-inf", "nan", "-1", "abc", "1e400"):
        answer = client.post("/loyalty/tiers/1", data=tier_form(csrf, min_spend_yuan=bad))
        assert answer.status_code == 422, (bad, answer.status_code)
        template = {"csrf_token": csrf, "name": "满50减20", "kind": "threshold"}
        made = client.post(
            "/promotions/coupons", data=template | {"threshold": bad, "discount": "20"}
        )
        assert made.status_code == 422, (bad, made.status_code)
    with db.transaction() as session:
        silver = service.tiers(session, tenant.workspace_id)[1]
        assert silver.min_spend_fen == 100_000
        assert session.scalars(select(CouponTemplate.id)).all() == []
    assert snapshot(db, tenant.workspace_id) == before
    saved = client.post("/loyalty/tiers/1", data=tier_form(csrf, min_spend_yuan="1500.05"))
    assert saved.status_code in (200, 303)
    with db.transaction() as session:
        assert service.tiers(session, tenant.workspace_id)[1].min_spend_fen == 150_005
