"""Lifecycle pages in a real headless Chromium: the RFM grid, funnel, CLV and dormancy list draw."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select

from siyu.api import create_app
from siyu.core.auth import system_principal
from siyu.core.clock import SimulatedClock, set_clock
from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database
from siyu.core.migrate import upgrade
from siyu.core.settings import Settings
from siyu.lifecycle.models import CustomerMetrics
from siyu.lifecycle.refresh import refresh_workspace
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.browser import chromium, fresh_tab, own_keyring, path, serve
from tests.lifecycle.factory import place
from tests.lifecycle.test_refresh import NOW, history

USER, PASSWORD = "analyst", "correct horse battery"
SHOT = Path("/tmp/siyu-lifecycle.png")
DORMANCY_SHOT = Path("/tmp/siyu-dormancy.png")


@dataclass
class Live:
    url: str
    keyring: Keyring
    dormant: list[int]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A real server over a fresh SQLite store with a refreshed lifecycle."""
    tmp = tmp_path_factory.mktemp("chromium-lifecycle")
    previous = set_clock(SimulatedClock(NOW.astimezone(UTC)))
    try:
        with own_keyring(tmp) as ring:
            settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp}/siyu.db")
            db = Database.from_url(settings.resolved_database_url())
            upgrade(db.engine)
            with db.transaction() as session:
                workspace, _ = workspaces.create_workspace(session, "品牌A")
                user = workspaces.create_user(session, USER, PASSWORD)
                workspaces.add_member(session, workspace.id, user, Role.analyst)
            place(db, system_principal(workspace.id), history())
            with db.transaction() as session:
                refresh_workspace(db, session, workspace.id)
            with db.transaction() as session:
                dormant = sorted(
                    session.scalars(
                        select(CustomerMetrics.customer_id).where(
                            CustomerMetrics.lifecycle_stage.like("dormant_%")
                        )
                    )
                )
            with serve(create_app(settings, db)) as url:
                yield Live(url, ring, dormant)
            db.engine.dispose()
    finally:
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


def drawn(page: Page, chart: str) -> bool:
    """The chart was initialised and ECharts painted a canvas of real size in it."""
    page.wait_for_selector(f"#{chart}[data-ready='1'] canvas")
    box = page.locator(f"#{chart} canvas").first.bounding_box()
    return box is not None and box["width"] > 100 and box["height"] > 100


def test_lifecycle_page_draws_every_chart(page: Page) -> None:
    login(page)
    with page.expect_navigation():
        page.click("#nav-lifecycle")
    assert path(page) == "/lifecycle"
    assert page.inner_text("h1") == "生命周期与 RFM"
    for chart in ("rfm-grid", "rfm-cells", "funnel-chart", "stage-chart", "clv-chart"):
        assert drawn(page, chart), chart
    # The funnel's first step is every customer; ECharts holds the data it drew.
    first = page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('funnel-chart'))"
        ".getOption().series[0].data[0]"
    )
    assert first == {"name": "粉丝", "value": 40}
    cells = page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('rfm-cells')).getOption().xAxis[0].data"
    )
    assert cells[0] == "重要价值客户" and len(cells) == 8
    assert page.inner_text("#kpi-clv").startswith("¥")
    page.screenshot(path=str(SHOT), full_page=True)


def test_dormancy_list_shows_the_overdue(page: Page, live: Live) -> None:
    login(page)
    with page.expect_navigation():
        page.click("#nav-dormancy")
    assert path(page) == "/lifecycle/dormancy"
    assert drawn(page, "dormancy-chart")
    ids = page.locator("#dormancy-table tbody tr td:first-child a").all_inner_texts()
    assert [int(i) for i in ids] == live.dormant
    with page.expect_navigation():
        page.click("#filter-dormant_heavy")
    stages = page.locator("#dormancy-table .dormant-row").evaluate_all(
        "rows => rows.map(r => r.dataset.stage)"
    )
    assert set(stages) <= {"dormant_heavy"}
    page.screenshot(path=str(DORMANCY_SHOT), full_page=True)
