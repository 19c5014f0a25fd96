"""/api/v1/lifecycle on both stores, after a full refresh of committed data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.core.outbox import OutboxMessage
from siyu.ingest.models import Order
from siyu.lifecycle.models import CustomerMetrics, LifecycleSettings
from siyu.lifecycle.refresh import refresh_workspace
from tests.conftest import Tenant
from tests.lifecycle.factory import order, phone, place
from tests.lifecycle.test_refresh import NOW, history

API = "/api/v1/lifecycle"


@pytest.fixture
def db(committed_db: Database) -> Database:
    """The full pass reads committed data: these tests commit to a store of their own."""
    return committed_db


@pytest.fixture
def loaded(db: Database, tenant: Tenant, clock: SimulatedClock) -> dict[int, CustomerMetrics]:
    place(db, tenant.principal, history())
    clock.set(NOW)
    with db.transaction() as session:
        refresh_workspace(db, session, tenant.workspace_id)
        rows = session.scalars(select(CustomerMetrics)).all()
        return {r.customer_id: r for r in rows}


def test_metrics_grid_funnel_and_stages(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, loaded: dict, db: Database
) -> None:
    some = min(loaded)
    got = client.get(f"{API}/customers/{some}", headers=tenant.headers)
    assert got.status_code == 200
    assert got.json()["order_count"] == loaded[some].order_count
    assert got.json()["rfm_cell"] == loaded[some].rfm_cell
    denied = client.get(f"{API}/customers/{some}", headers=other_tenant.headers)
    assert denied.status_code == 404
    grid = client.get(f"{API}/rfm", headers=tenant.headers).json()
    assert grid["levels"] == 5 and sum(map(sum, grid["grid"])) == 40
    assert sum(c["count"] for c in grid["cells"]) == 40
    assert grid["cells"][0]["key"] == "important_value"
    assert client.get(f"{API}/rfm", headers=other_tenant.headers).json()["cells"][0]["count"] == 0
    funnel = {
        c["key"]: c["count"] for c in client.get(f"{API}/funnel", headers=tenant.headers).json()
    }
    repeat = sum(1 for r in loaded.values() if r.order_count >= 2)
    loyal = sum(1 for r in loaded.values() if r.order_count >= 4)  # no one spent 3,000 yuan
    assert funnel == {"fan": 40, "member": 40, "buyer": 40, "repeat": repeat, "loyal": loyal}
    stages = {
        c["key"]: c["count"] for c in client.get(f"{API}/stages", headers=tenant.headers).json()
    }
    assert sum(stages.values()) == 40
    assert stages == {s: sum(1 for r in loaded.values() if r.lifecycle_stage == s) for s in stages}


def test_dormancy_list_pages_and_filters(client: TestClient, tenant: Tenant, loaded: dict) -> None:
    dormant = sorted(
        (r.id, r.customer_id) for r in loaded.values() if r.lifecycle_stage.startswith("dormant_")
    )
    assert dormant, "the history must leave someone dormant"
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get(f"{API}/dormancy", params=params, headers=tenant.headers).json()
        seen += [item["customer_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [cid for _, cid in dormant]
    light = client.get(f"{API}/dormancy", params={"stage": "dormant_light"}, headers=tenant.headers)
    assert all(i["lifecycle_stage"] == "dormant_light" for i in light.json()["items"])
    item = client.get(f"{API}/dormancy", headers=tenant.headers).json()["items"][0]
    row = loaded[item["customer_id"]]
    assert item["days_idle"] == pytest.approx(
        (NOW - row.last_order_at).total_seconds() / 86400, abs=0.1
    )
    assert item["days_idle"] >= 1.5 * row.expected_interval_days
    bad = client.get(f"{API}/dormancy", params={"stage": "loyal"}, headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "stage"


def test_clv_summary_and_lookalike(client: TestClient, tenant: Tenant, loaded: dict) -> None:
    clv = client.get(f"{API}/clv", headers=tenant.headers).json()
    assert clv["fitted"] is True and clv["customers"] == 40
    assert set(clv["params"]) == {"bgnbd", "gamma_gamma"}
    assert clv["total_clv_fen"] == sum(r.clv_fen for r in loaded.values())
    assert sum(b["count"] for b in clv["histogram"]) == 40
    seed = sorted(cid for cid, r in loaded.items() if r.favourite_category == "lipstick")
    body = {"customer_ids": seed, "limit": 5, "holdout": 0.3}
    got = client.post(f"{API}/lookalike", json=body, headers=tenant.headers)
    assert got.status_code == 200
    answer = got.json()
    assert answer["seed_size"] == len(seed) and answer["holdout_size"] == round(0.3 * len(seed))
    assert len(answer["items"]) == 5 and not {i["customer_id"] for i in answer["items"]} & set(seed)
    scores = [i["score"] for i in answer["items"]]
    assert scores == sorted(scores, reverse=True)
    # Category is a strong signal here: held-out lipstick lovers rank above chance.
    assert answer["holdout_precision"] > answer["base_rate"]


def test_lookalike_refuses_foreign_ids(
    client: TestClient, tenant: Tenant, other_tenant: Tenant, loaded: dict
) -> None:
    got = client.post(
        f"{API}/lookalike", json={"customer_ids": sorted(loaded)[:3]}, headers=other_tenant.headers
    )
    assert got.status_code == 422 and got.json()["errors"][0]["field"] == "customer_ids"
    assert "3" in got.json()["message"]


def test_settings_validated_and_nothing_saved_on_error(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    defaults = client.get(f"{API}/settings", headers=tenant.headers).json()
    assert defaults["rfm"]["mode"] == "quantile" and defaults["rfm"]["quantiles"] == 5
    bad = defaults | {"rfm": defaults["rfm"] | {"recency_days": [90, 30, 180, 365]}}
    refused = client.put(f"{API}/settings", json=bad, headers=tenant.headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "rfm"
    assert "ascending" in refused.json()["message"]
    unknown = client.put(f"{API}/settings", json={"rfm": {"bogus": 1}}, headers=tenant.headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "rfm.bogus"
    with db.transaction() as session:
        assert session.scalar(select(func.count(LifecycleSettings.id))) == 0
    good = defaults | {"stages": defaults["stages"] | {"dormancy_basis": "days"}}
    saved = client.put(f"{API}/settings", json=good, headers=tenant.headers)
    assert saved.status_code == 200
    assert (
        client.get(f"{API}/settings", headers=tenant.headers).json()["stages"]["dormancy_basis"]
        == "days"
    )


def test_refresh_is_queued_once_per_idempotency_key(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    headers = tenant.headers | {"Idempotency-Key": "refresh-1"}
    first = client.post(f"{API}/refresh", headers=headers)
    again = client.post(f"{API}/refresh", headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    with db.transaction() as session:
        topics = list(session.scalars(select(OutboxMessage.topic).order_by(OutboxMessage.id)))
    assert topics.count("lifecycle.refresh") == 1


def test_an_order_through_the_api_refreshes_its_customer(
    client: TestClient, tenant: Tenant, db: Database, loaded: dict
) -> None:
    from siyu.core import outbox
    from siyu.lifecycle import tasks  # noqa: F401  (handlers)

    place(db, tenant.principal, [order(phone(500), "NEW-1", 299, 8000)])
    outbox.run_due(db)
    with db.transaction() as session:
        cid = session.scalar(select(Order.customer_id).where(Order.external_id == "NEW-1"))
        row = session.scalars(
            select(CustomerMetrics).where(CustomerMetrics.customer_id == cid)
        ).one()
        assert (row.order_count, row.lifecycle_stage, row.r_score) == (1, "new", 5)
        nightly = session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "lifecycle.nightly")
        ).one()
        assert nightly.run_at.hour == 19  # 03:00 in Asia/Shanghai
