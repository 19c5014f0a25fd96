"""Customer pages in a real headless Chromium: search → profile, accept in place, undo."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from siyu.api import create_app
from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database
from siyu.core.migrate import upgrade
from siyu.core.settings import Settings
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.browser import chromium, fresh_tab, own_keyring, path, serve

USER, PASSWORD = "ops", "correct horse battery"
PROFILE_SHOT = Path("/tmp/siyu-profile.png")
SUGGESTIONS_SHOT = Path("/tmp/siyu-suggestions.png")


@dataclass
class Live:
    """The running server and the data the API created in it."""

    url: str
    keyring: Keyring
    x: int  # the Tmall buyer found by nick
    y: int  # the device seen alone
    suggestion: int


def _call(url: str, key: str, method: str, path: str, body: Any = None) -> Any:
    """One API call over HTTP with the workspace's admin key."""
    request = urllib.request.Request(
        f"{url}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _seed(url: str, key: str) -> tuple[int, int, int]:
    """An order names x by phone and nick; a device names y; then nick and device meet."""
    line = {"sku": "LIP-01", "product": "丝绒口红", "quantity": 1}
    placed = _call(
        url,
        key,
        "POST",
        "/orders",
        {
            "external_id": "TM1",
            "channel": "tmall",
            "ordered_at": "2026-03-01T10:00:00+08:00",
            "total_fen": 12990,
            "paid_fen": 12990,
            "identifiers": {"phone": "13812345678", "taobao_nick": "小美"},
            "lines": [line | {"unit_price_fen": 12990, "amount_fen": 12990}],
        },
    )
    for event_id, identifiers in (
        ("e1", {"taobao_nick": "小美"}),
        ("e2", {"device_id": "d1"}),
        ("e3", {"taobao_nick": "小美", "device_id": "d1"}),
    ):
        one = {
            "event_id": event_id,
            "type": "view",
            "occurred_at": "2026-03-02T09:30:00+08:00",
            "identifiers": identifiers,
        }
        assert _call(url, key, "POST", "/events:batch", {"events": [one]})["accepted"] == 1
    (suggestion,) = _call(url, key, "GET", "/merge-suggestions")["items"]
    x = placed["customer_id"]
    y = suggestion["customer_b"] if suggestion["customer_a"] == x else suggestion["customer_a"]
    return x, y, suggestion["id"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real server over a fresh SQLite store, data created through its own API."""
    tmp = tmp_path_factory.mktemp("chromium-customers")
    with own_keyring(tmp) as ring:
        settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/siyu.db")
        db = Database.from_url(settings.resolved_database_url())
        upgrade(db.engine)
        with db.transaction() as session:
            workspace, key = workspaces.create_workspace(session, "品牌A")
            user = workspaces.create_user(session, USER, PASSWORD)
            workspaces.add_member(session, workspace.id, user, Role.operator)
        with serve(create_app(settings, db)) as url:
            yield Live(url, ring, *_seed(url, key))
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _server_keyring(live: Live) -> None:
    """Keep the server's keyring installed even if a conftest fixture swaps keyrings per test."""
    set_keyring(live.keyring)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian\'s headless Chromium, one per module."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    """A fresh tab with no cookies."""
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


def live_customers(page: Page) -> list[str]:
    """The ids the customer list shows (merged customers are hidden)."""
    page.goto("/customers")
    return page.locator("#customers-table .customer-link").all_inner_texts()


def test_search_profile_accept_in_place_then_undo(page: Page, live: Live) -> None:
    """Search by nick → profile; accept swaps the row without a reload; undo splits them again."""
    login(page)
    click_and_wait(page, "#nav-customers")
    page.select_option("#customer-id-type", "taobao_nick")
    page.fill("#customer-id-value", "小美")
    click_and_wait(page, "#customer-search")
    links = page.locator("#customers-table .customer-link")
    assert links.all_inner_texts() == [str(live.x)]
    click_and_wait(page, "#customers-table .customer-link")
    assert path(page) == f"/customers/{live.x}"
    assert page.is_visible("#identity-group-taobao_nick")
    assert page.inner_text("#kpi-paid") == "¥129.90"
    refs = page.locator("#timeline-table .ref").all_inner_texts()
    assert refs[-1] == "TM1" and "e1" in refs

    click_and_wait(page, "#nav-suggestions")
    row = f"#suggestion-{live.suggestion}"
    assert page.inner_text(f"{row}-status") == "待处理"
    page.screenshot(path=str(SUGGESTIONS_SHOT), full_page=True)
    page.evaluate("window.__sameDocument = true")
    page.click(f"#accept-{live.suggestion}")
    page.wait_for_selector(f"{row}[data-status='accepted']")
    assert page.inner_text(f"{row}-status") == "已合并"
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the row, no reload
    assert page.locator(f"#accept-{live.suggestion}").count() == 0

    survivor = min(live.x, live.y)
    click_and_wait(page, f"#merged-link-{live.suggestion}")
    assert path(page) == f"/customers/{survivor}"
    assert page.is_visible("#identity-group-device_id")
    undo = page.locator("#merges-table button.undo")
    assert undo.count() == 1
    page.screenshot(path=str(PROFILE_SHOT), full_page=True)
    assert live_customers(page) == [str(survivor)]

    page.goto(f"/customers/{survivor}")
    click_and_wait(page, "#merges-table button.undo")
    assert path(page) == f"/customers/{survivor}"
    assert page.is_visible("#profile-notice")
    assert page.locator("#merges-table button.undo").count() == 0
    assert live_customers(page) == sorted([str(live.x), str(live.y)], key=int)


def test_english_heading(page: Page) -> None:
    """Switching to English translates the suggestions page and keeps the user there."""
    login(page)
    page.goto("/merge-suggestions")
    assert page.inner_text("#suggestions-title") == "合并建议"
    click_and_wait(page, "#lang-en")
    assert path(page) == "/merge-suggestions"
    assert page.inner_text("#suggestions-title") == "Merge suggestions"
    assert page.inner_text("#tab-undone").startswith("Undone")
