"""The console in a real headless Chromium against a real uvicorn server over demo data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Cookie, Page
from sqlalchemy import select

from siyu.api import create_app
from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database
from siyu.core.migrate import upgrade
from siyu.core.settings import Settings
from siyu.customers.models import Customer
from siyu.demo import service as demo
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role, User
from tests.browser import chromium, fresh_tab, own_keyring, path, serve

SECOND = "第二品牌"
SCREENSHOT = Path("/tmp/siyu-overview.png")
# Counts canvas pixels that are not fully transparent, i.e. what ECharts actually drew.
PAINTED_JS = """() => {
  const c = document.querySelector('#growth-chart canvas');
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) n++;
  return {width: c.width, height: c.height, painted: n};
}"""


@dataclass
class Live:
    """The running server and what the tests need to know about its data."""

    url: str
    keyring: Keyring
    phone: str
    customer_id: int
    customers: int  # after OneID: the demo's people seen on several channels, merged


def _seed(db: Database) -> tuple[str, int, int]:
    """Demo data plus a second, empty workspace for the admin; one customer's phone and id, and
    how many customers OneID made of the demo's 32 people."""
    summary = demo.build(db, n_customers=32, seed=1)
    with db.transaction() as session:
        user = session.scalars(select(User).where(User.username == demo.ADMIN_USER)).one()
        workspace, _ = workspaces.create_workspace(session, SECOND)
        workspaces.add_member(session, workspace.id, user, Role.operator)
        customer = session.scalars(
            select(Customer)
            .where(Customer.merged_into_id.is_(None), Customer.phone_bidx.is_not(None))
            .order_by(Customer.id)
            .offset(7)
        ).first()
        assert customer is not None and customer.phone
        return customer.phone, customer.id, summary.customers


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real server over a fresh SQLite store with the demo loaded, under its own keyring."""
    tmp = tmp_path_factory.mktemp("chromium")
    with own_keyring(tmp) as ring:
        settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/siyu.db")
        db = Database.from_url(settings.resolved_database_url())
        upgrade(db.engine)
        phone, customer_id, customers = _seed(db)
        with serve(create_app(settings, db)) as url:
            yield Live(url, ring, phone, customer_id, customers)
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


def session_cookie(page: Page) -> Cookie | None:
    """The console session cookie, if the browser holds one."""
    return next((c for c in page.context.cookies() if c["name"] == "siyu_session"), None)


def login(page: Page, password: str = demo.ADMIN_PASSWORD) -> None:
    """Submit the login form as the demo admin."""
    page.goto("/login")
    page.fill("#username", demo.ADMIN_USER)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#login-submit")


def click_and_wait(page: Page, selector: str) -> None:
    """Click something that navigates, and wait for the new page."""
    with page.expect_navigation():
        page.click(selector)


def test_login_required_and_wrong_password(page: Page) -> None:
    """Anonymous visitors land on a Chinese login page; a wrong password sets no session."""
    page.goto("/")
    assert path(page) == "/login"
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("#login-submit") == "登录"
    login(page, password="not-the-password")
    assert path(page) == "/login"
    assert page.inner_text("#login-error") == "用户名或密码错误"
    assert session_cookie(page) is None


def test_overview_kpi_and_chart(page: Page, live: Live) -> None:
    """The overview counts the demo's customers and ECharts really paints the growth chart."""
    login(page)
    assert path(page) == "/"
    assert page.inner_text("#kpi-total") == str(live.customers)
    page.wait_for_selector("#growth-chart[data-ready='1'] canvas")
    canvas = page.evaluate(PAINTED_JS)
    assert canvas["width"] > 0 and canvas["height"] > 0
    assert canvas["painted"] > 1000, canvas
    cookie = session_cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_language_switch(page: Page) -> None:
    """English and back: the shell and <html lang> follow the language cookie."""
    login(page)
    click_and_wait(page, "#lang-en")
    assert path(page) == "/"
    assert page.get_attribute("html", "lang") == "en"
    assert page.inner_text("#nav-overview") == "Overview"
    assert page.inner_text("#nav-customers") == "Customers"
    assert page.inner_text("#logout") == "Log out"
    click_and_wait(page, "#lang-zh")
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert page.inner_text("#nav-overview") == "概览"


def test_customers_list_and_phone_search(page: Page, live: Live) -> None:
    """All customers fit one page; a phone typed in another format finds exactly its owner."""
    login(page)
    click_and_wait(page, "#nav-customers")
    assert path(page) == "/customers"
    rows = page.locator("#customers-table tbody tr")
    assert 32 <= live.customers <= 50 and rows.count() == live.customers
    p = live.phone
    page.fill("#customer-q", f"+86 {p[:3]}-{p[3:7]}-{p[7:]}")
    click_and_wait(page, "#customer-search")
    assert page.locator("#customers-error").count() == 0
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] == str(live.customer_id) and cells[2] == p


def test_workspace_switch(page: Page, live: Live) -> None:
    """Switching to the empty second workspace shows 0 and the empty-chart note; and back."""
    login(page)
    with page.expect_navigation():
        page.select_option("#workspace-select", label=SECOND)
    assert path(page) == "/"
    assert page.inner_text("#kpi-total") == "0"
    assert page.is_visible("#chart-empty")
    assert page.locator("#nav-audit").count() == 0  # an operator there, not an admin
    with page.expect_navigation():
        page.select_option("#workspace-select", label=demo.WORKSPACE)
    assert page.inner_text("#kpi-total") == str(live.customers)
    assert page.locator("#chart-empty").count() == 0


def test_logout_needs_csrf_and_ends_the_session(page: Page, live: Live) -> None:
    """A tokenless POST /logout is refused and harmless; the real button ends the session."""
    login(page)
    refused = page.request.post(f"{live.url}/logout", form={"next": "/"}, max_redirects=0)
    assert refused.status == 403
    assert refused.json()["code"] == "csrf_failed"
    page.goto("/")
    assert path(page) == "/" and page.inner_text("#kpi-total") == str(live.customers)
    old = session_cookie(page)
    assert old is not None
    click_and_wait(page, "#logout")
    assert path(page) == "/login"
    assert session_cookie(page) is None
    page.goto("/")
    assert path(page) == "/login"
    page.context.add_cookies([{"name": old["name"], "value": old["value"], "url": live.url}])
    page.goto("/")
    assert path(page) == "/login"  # the server forgot the session, not just the browser
