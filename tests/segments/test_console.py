"""Segment console forms over both stores: bad rules stored nowhere, the look-alike fragment."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.segments.models import Segment
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role
from tests.conftest import Tenant
from tests.segments.test_lookalike import SEED_RULE, World, lookalike_world

PASSWORD = "correct horse battery"


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


@pytest.fixture
def ops(client: TestClient, db: Database, tenant: Tenant) -> str:
    """An operator logged in to the tenant's workspace; the CSRF token."""
    with db.transaction() as session:
        user = workspaces.create_user(session, "ops", PASSWORD)
        workspaces.add_member(session, tenant.workspace_id, user, Role.operator)
    token = _csrf(client.get("/login").text)
    done = client.post(
        "/login", data={"username": "ops", "password": PASSWORD, "csrf_token": token}
    )
    assert done.status_code in (200, 303), done.text
    return _csrf(client.get("/").text)


def _segments(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Segment)) or 0


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"kind_0": "attribute", "field_0": "shoe_size", "value_0": "38"}, "shoe_size"),
        ({"kind_0": "tag", "field_0": "999999"}, "999999"),
        ({"kind_0": "order", "field_0": "口红", "value_0": "1", "days_0": "-3"}, "last_days"),
        (
            {"kind_0": "attribute", "field_0": "city", "value_0": "上海'; DROP TABLE customer; --"},
            "value",
        ),
    ],
)
def test_builder_save_refuses_bad_rules_and_stores_nothing(
    client: TestClient, db: Database, ops: str, row: dict[str, str], words: str
) -> None:
    form = {"csrf_token": ops, "name": "坏规则", "combine": "and", "op_0": "eq"} | row
    answer = client.post("/segments/new", data=form, follow_redirects=False)
    assert answer.status_code == 422
    assert 'id="builder-error"' in answer.text and words in answer.text
    assert _segments(db) == 0


@pytest.fixture
def world(db: Database, clock: SimulatedClock, tenant: Tenant) -> World:
    """Built before `ops` logs in: it sets the clock, which would age the login otherwise."""
    return lookalike_world(db, clock, tenant)


def test_lookalike_fragment_shows_the_table_or_why_not(
    client: TestClient, tenant: Tenant, world: World, ops: str
) -> None:
    made = client.post(
        "/api/v1/segments", json={"name": "种子", "rule": SEED_RULE}, headers=tenant.headers
    )
    seed = made.json()["id"]
    page = client.get(f"/segments/{seed}")
    assert 'id="lookalike-run"' in page.text
    url = f"/segments/{seed}/lookalike"
    shown = client.post(url, data={"csrf_token": ops, "top_n": "2", "holdout": "0.2"})
    assert shown.status_code == 200
    ranked = re.findall(r'class="lookalike-link">(\d+)<', shown.text)
    assert ranked == [str(world.ids[7]), str(world.ids[6])]
    assert re.findall(r'class="lookalike-score">([\d.]+)<', shown.text) == ["0.833333", "0.730297"]
    assert re.search(r'id="lookalike-precision">1.000<', shown.text)
    bounds = client.post(url, data={"csrf_token": ops, "top_n": "0"})
    assert 'id="lookalike-error"' in bounds.text and "top_n" in bounds.text
    too_small = client.post(url, data={"csrf_token": ops, "holdout": "0.05"})
    assert 'id="lookalike-error"' in too_small.text and 'id="lookalike-table"' not in too_small.text
    missing = client.post("/segments/987654/lookalike", data={"csrf_token": ops})
    assert 'id="lookalike-error"' in missing.text
