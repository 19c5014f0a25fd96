"""Membership and coupon pages in a real headless Chromium: overview chart, member card,
a refused then accepted adjustment, the ledger, coupon templates, tier configuration."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from siyu.api import create_app
from siyu.core import outbox
from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database
from siyu.core.migrate import upgrade
from siyu.core.settings import Settings
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.browser import chromium, fresh_tab, own_keyring, path, serve

USER, PASSWORD = "loyalty-ops", "correct horse battery"
CARD_SHOT = Path("/tmp/siyu-member-card.png")
COUPONS_SHOT = Path("/tmp/siyu-coupons.png")


@dataclass
class Live:
    url: str
    keyring: Keyring
    customer_id: int


def _call(url: str, key: str, method: str, route: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{url}/api/v1{route}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _seed(url: str, key: str, db: Database) -> int:
    """A member who spent ¥1,200 yesterday on Tmall (银卡, 1,200 points)."""
    made = _call(url, key, "POST", "/customers", {"name": "林小雨", "phone": "13912345678"})
    _call(
        url,
        key,
        "POST",
        "/loyalty/members",
        {"customer_id": made["id"], "channel": "wechat", "consent": True},
    )
    at = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    line = {
        "sku": "SER-1",
        "product": "精华",
        "category": "精华",
        "quantity": 1,
        "unit_price_fen": 120000,
        "amount_fen": 120000,
    }
    _call(
        url,
        key,
        "POST",
        "/orders",
        {
            "external_id": "TM-1",
            "channel": "tmall",
            "ordered_at": at,
            "paid_at": at,
            "total_fen": 120000,
            "paid_fen": 120000,
            "identifiers": {"phone": "13912345678"},
            "lines": [line],
        },
    )
    outbox.run_due(db)
    return int(made["id"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real server over a fresh SQLite store; data made through its own API."""
    tmp = tmp_path_factory.mktemp("chromium-loyalty")
    with own_keyring(tmp) as ring:
        settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/siyu.db")
        db = Database.from_url(settings.resolved_database_url())
        upgrade(db.engine)
        with db.transaction() as session:
            workspace, key = workspaces.create_workspace(session, "品牌A")
            user = workspaces.create_user(session, USER, PASSWORD)
            workspaces.add_member(session, workspace.id, user, Role.operator)
        with serve(create_app(settings, db)) as url:
            yield Live(url, ring, _seed(url, key, db))
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _server_keyring(live: Live) -> None:
    set_keyring(live.keyring)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    with fresh_tab(browser, live.url) as tab:
        yield tab


def login(page: Page) -> None:
    page.goto("/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")


def click_and_wait(page: Page, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def test_overview_card_adjustment_and_ledger(page: Page, live: Live) -> None:
    login(page)
    click_and_wait(page, "#nav-loyalty")
    assert path(page) == "/loyalty"
    page.wait_for_selector("#tier-chart[data-ready='1'] canvas")
    assert page.inner_text("#kpi-members") == "1"
    assert page.inner_text("#kpi-issued") == "1200"
    assert page.locator("#tiers-table .tier-row td b").all_inner_texts() == [
        "普通会员",
        "银卡",
        "金卡",
        "黑金",
    ]
    page.fill("#member-id", str(live.customer_id))
    click_and_wait(page, "#open-member")
    assert path(page) == f"/loyalty/members/{live.customer_id}"
    assert page.inner_text("#card-tier") == "银卡"
    assert page.inner_text("#card-points") == "1200"
    assert "全场包邮" in page.locator("#card-benefits .benefit").all_inner_texts()

    # No reason: refused, shown, and the balance is unchanged.
    page.fill("#adjust-delta", "-200")
    click_and_wait(page, "#adjust-submit")
    assert "原因" in page.inner_text("#card-error")
    assert page.inner_text("#card-points") == "1200"
    page.fill("#adjust-delta", "-200")
    page.fill("#adjust-reason", "重复积分更正")
    click_and_wait(page, "#adjust-submit")
    assert page.inner_text("#card-notice") == "积分已调整"
    assert page.inner_text("#card-points") == "1000"
    first = page.locator("#card-history .history-row").first.inner_text()
    assert "手动调整" in first and "−200" in first and "重复积分更正" in first
    page.screenshot(path=str(CARD_SHOT), full_page=True)

    click_and_wait(page, "#card-ledger-link")
    assert path(page) == "/loyalty/ledger"
    rows = page.locator("#ledger-table .ledger-row")
    assert rows.count() == 2
    page.select_option("#ledger-kind", "earn")
    click_and_wait(page, "#ledger-apply")
    assert page.locator("#ledger-table .ledger-row").count() == 1


def test_coupon_template_issue_and_tier_configuration(page: Page, live: Live) -> None:
    login(page)
    page.goto("/promotions/coupons")
    page.fill("#template-name", "满50减20")
    page.select_option("#template-kind", "threshold")
    page.fill("#template-threshold", "50")
    page.fill("#template-discount", "20.5")
    click_and_wait(page, "#template-create")
    assert page.inner_text("#coupons-notice") == "券模板已创建"
    row = page.locator("#templates-table .template-row").first
    assert "¥50.00 − ¥20.50" in row.inner_text()
    row.locator(".issue-ids").fill(str(live.customer_id))
    with page.expect_navigation():
        row.locator(".issue-button").click()
    assert page.inner_text("#coupons-notice") == "已发放 1 张"
    row = page.locator("#templates-table .template-row").first
    assert (row.locator(".issued").inner_text(), row.locator(".rate").inner_text()) == ("1", "0.0%")
    page.wait_for_selector("#coupon-chart[data-ready='1'] canvas")
    page.screenshot(path=str(COUPONS_SHOT), full_page=True)

    page.goto("/loyalty")
    page.click("#tier-1 summary")
    page.fill("#tier-form-1 input[name=min_spend_yuan]", "abc")
    click_and_wait(page, "#save-tier-1")
    assert page.is_visible("#loyalty-error")
    page.click("#tier-1 summary")
    page.fill("#tier-form-1 input[name=min_spend_yuan]", "2000")
    click_and_wait(page, "#save-tier-1")
    assert page.inner_text("#loyalty-notice") == "已保存"
    assert "¥2,000.00" in page.inner_text("#tier-1")
    click_and_wait(page, "#lang-en")
    assert page.inner_text("h1") == "Membership"
