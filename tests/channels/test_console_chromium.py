"""The channels console page in a real headless Chromium: configs without secrets, touches
with suppression reasons, htmx preview against a real customer, the sandbox outbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from siyu.api import create_app
from siyu.channels import service
from siyu.channels.schemas import ConfigIn, TemplateIn
from siyu.core.clock import SimulatedClock, set_clock
from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database
from siyu.core.migrate import upgrade
from siyu.core.settings import Settings
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.browser import chromium, fresh_tab, own_keyring, path, serve
from tests.channels.conftest import MORNING, drain, person

USER, PASSWORD = "ops", "correct horse battery"
SHOT = Path("/tmp/siyu-channels.png")


@dataclass
class Live:
    url: str
    keyring: Keyring
    customer: int
    template: int
    suppressed: int


def _seed(db: Database, workspace_id: int) -> tuple[int, int, int]:
    from siyu.core.auth import system_principal

    p = system_principal(workspace_id)
    c = person(db, p, 1)
    with db.transaction() as session:
        service.put_config(
            session,
            p,
            "sms",
            ConfigIn(
                provider="aliyun",
                base_url="http://127.0.0.1:9",
                options={"sign_name": "美妆小店"},
                secrets={"access_key_secret": "TOP-SECRET-VALUE"},
            ),
        )
        template = service.create_template(
            session,
            p,
            TemplateIn(
                name="新客券",
                body="{{ customer.name }}，满50减20券 {{ coupon_code }} 已到账",
                variables=["coupon_code"],
            ),
        )
        template_id = template.id
        service.send(
            session,
            p,
            customer_id=c,
            channel="sandbox",
            template_id=template_id,
            context={"coupon_code": "MJ5020"},
            idempotency_key="one",
            source="journey:1:step:welcome",
        )
        second = service.send(
            session,
            p,
            customer_id=c,
            channel="sandbox",
            content={"text": "第二条"},
            idempotency_key="two",
        )
    drain(db)
    return c, template_id, second.id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("chromium-channels")
    previous = set_clock(SimulatedClock(MORNING))
    with own_keyring(tmp) as ring:
        settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/siyu.db")
        db = Database.from_url(settings.resolved_database_url())
        upgrade(db.engine)
        with db.transaction() as session:
            workspace, _ = workspaces.create_workspace(session, "品牌A")
            user = workspaces.create_user(session, USER, PASSWORD)
            workspaces.add_member(session, workspace.id, user, Role.operator)
        seeded = _seed(db, workspace.id)
        with serve(create_app(settings, db)) as url:
            yield Live(url, ring, *seeded)
        db.engine.dispose()
    set_clock(previous)


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


def test_channels_page_reasons_preview_and_sandbox(page: Page, live: Live) -> None:
    login(page)
    with page.expect_navigation():
        page.click("#nav-channels")
    assert path(page) == "/channels"
    assert page.inner_text("#channels-title") == "渠道与触达"
    assert page.inner_text("#config-sms .secret-names") == "access_key_secret"
    assert "TOP-SECRET-VALUE" not in page.content()
    row = f"#touch-{live.suppressed}"
    assert page.inner_text(f"{row} .status") == "已拦截"
    assert page.inner_text(f"{row} .reason") == "超出每日上限"
    page.wait_for_selector("#reasons-chart[data-ready='1']")
    assert page.locator("#sandbox-table .body").all_inner_texts() == [
        "王小美，满50减20券 MJ5020 已到账"
    ]

    page.evaluate("window.__sameDocument = true")
    page.fill("#preview-customer", str(live.customer))
    page.click("#preview-submit")
    page.wait_for_selector("#preview-error")
    assert "coupon_code" in page.inner_text("#preview-error")
    page.fill("#preview-context", '{"coupon_code": "VIP88"}')
    page.click("#preview-submit")
    page.wait_for_selector("#preview-text")
    assert page.inner_text("#preview-text") == "王**，满50减20券 VIP88 已到账"
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(SHOT), full_page=True)

    page.select_option("#filter-status", "suppressed")
    with page.expect_navigation():
        page.click("#filter-submit")
    assert page.locator("#touches-table tr[data-status]").count() == 1


def test_english(page: Page) -> None:
    login(page)
    page.goto("/channels")
    with page.expect_navigation():
        page.click("#lang-en")
    assert path(page) == "/channels"
    assert page.inner_text("#channels-title") == "Channels and touches"
