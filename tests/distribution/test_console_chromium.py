"""The distributor's own shop in a real headless Chromium: only her customers, orders and
commissions; she makes a share link; the staff pages are out of reach."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from siyu.api import create_app
from siyu.core import outbox
from siyu.core.auth import system_principal
from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database
from siyu.core.migrate import upgrade
from siyu.core.settings import Settings
from siyu.distribution import service
from siyu.workspaces import service as workspaces
from tests.browser import chromium, fresh_tab, own_keyring, path, serve

USER, PASSWORD = "shop-a", "correct horse battery"


@dataclass
class Live:
    url: str
    keyring: Keyring


def _call(url: str, key: str, method: str, route: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{url}/api/v1{route}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _order(url: str, key: str, external_id: str, phone: str, distributor: int) -> None:
    _call(
        url,
        key,
        "POST",
        "/orders",
        {
            "external_id": external_id,
            "channel": "wechat",
            "ordered_at": "2026-03-01T10:00:00+08:00",
            "total_fen": 20000,
            "paid_fen": 20000,
            "identifiers": {"phone": phone},
            "attributes": {"name": f"客户{external_id}"},
            "distributor_id": distributor,
        },
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("chromium-distribution")
    with own_keyring(tmp) as ring:
        settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/siyu.db")
        db = Database.from_url(settings.resolved_database_url())
        upgrade(db.engine)
        with db.transaction() as session:
            workspace, key = workspaces.create_workspace(session, "品牌A")
        with serve(create_app(settings, db)) as url:
            a = _call(url, key, "POST", "/distributors", {"code": "A", "name": "店主小美"})["id"]
            b = _call(url, key, "POST", "/distributors", {"code": "B", "name": "店主阿花"})["id"]
            _call(url, key, "POST", "/commission-rules", {"name": "默认", "rates": ["10"]})
            _order(url, key, "A-1", "13800000011", a)
            _order(url, key, "B-1", "13800000022", b)
            outbox.run_due(db)
            with db.transaction() as session:
                admin = system_principal(workspace.id)
                service.add_console_user(session, admin, USER, PASSWORD, distributor_id=a)
            yield Live(url, ring)
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


def test_the_distributor_sees_her_own_shop_only_and_makes_a_share_link(page: Page) -> None:
    page.goto("/login")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-submit")
    with page.expect_navigation():
        page.click("#nav-fission")
    assert path(page) == "/distribution/me"
    assert page.inner_text("#me-title").startswith("我的店铺 · 店主小美")
    assert page.locator("#me-orders .me-order td:first-child").all_inner_texts() == ["A-1"]
    assert page.locator("#me-customers .me-customer").count() == 1
    assert page.locator("#me-entries .me-entry").count() == 1
    assert page.inner_text("#me-pending") == "¥20.00"
    assert "B-1" not in page.content()
    assert page.locator("#me-links .me-link").count() == 0
    page.select_option("#link-kind", "poster")
    with page.expect_navigation():
        page.click("#new-link")
    assert page.locator("#me-links .me-link").count() == 1
    assert "海报" in page.inner_text("#me-links")
    page.goto("/distribution")
    assert path(page) == "/distribution/me"
    page.screenshot(path="/tmp/siyu-distributor-shop.png", full_page=True)
