"""The distribution API: a distributor's key sees only its own customers, orders, commissions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.distribution.models import ShareVisit
from tests.conftest import Tenant


def post(client: TestClient, tenant_or_key: Tenant | str, path: str, body: Any) -> Any:
    headers = (
        tenant_or_key.headers
        if isinstance(tenant_or_key, Tenant)
        else {"Authorization": f"Bearer {tenant_or_key}"}
    )
    return client.post(f"/api/v1{path}", json=body, headers=headers)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def order(
    client: TestClient, tenant: Tenant, external_id: str, phone: str, distributor: int
) -> int:
    answer = post(
        client,
        tenant,
        "/orders",
        {
            "external_id": external_id,
            "channel": "wechat",
            "ordered_at": "2026-01-01T10:00:00+08:00",
            "total_fen": 20000,
            "paid_fen": 20000,
            "identifiers": {"phone": phone},
            "distributor_id": distributor,
        },
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["customer_id"])


def test_a_distributors_key_cannot_read_another_distributors_customers(
    client: TestClient, db: Database, tenant: Tenant, clock: SimulatedClock
) -> None:
    a = post(client, tenant, "/distributors", {"code": "A", "name": "店主A"}).json()["id"]
    b = post(client, tenant, "/distributors", {"code": "B", "name": "店主B"}).json()["id"]
    rule = post(client, tenant, "/commission-rules", {"name": "默认", "rates": ["10"]})
    assert rule.status_code == 201, rule.text
    mine = order(client, tenant, "A-1", "13800000011", a)
    theirs = order(client, tenant, "B-1", "13800000022", b)
    outbox.run_due(db)
    key_a = post(client, tenant, f"/distributors/{a}/keys", {}).json()["key"]
    assert client.get(f"/api/v1/customers/{mine}", headers=bearer(key_a)).status_code == 200
    denied = client.get(f"/api/v1/customers/{theirs}", headers=bearer(key_a))
    assert (denied.status_code, denied.json()["code"]) == (404, "not_found")
    assert client.get(f"/api/v1/distributors/{b}", headers=bearer(key_a)).status_code == 404
    assert client.get(f"/api/v1/distributors/{b}/balance", headers=bearer(key_a)).status_code == 404
    own = client.get("/api/v1/commissions", headers=bearer(key_a)).json()["items"]
    assert [(e["distributor_id"], e["amount_fen"]) for e in own] == [(a, 2000)]
    everyone = client.get("/api/v1/commissions", headers=tenant.headers).json()["items"]
    assert sorted(e["distributor_id"] for e in everyone) == [a, b]
    listed = client.get("/api/v1/distributors", headers=bearer(key_a)).json()["items"]
    assert [d["id"] for d in listed] == [a]
    refused = post(client, key_a, "/commission-rules", {"name": "x", "rates": ["90"]})
    assert refused.status_code == 403


def test_a_share_link_of_another_workspace_is_not_found_and_records_nothing(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    a = post(client, tenant, "/distributors", {"code": "A", "name": "店主A"}).json()["id"]
    code = post(client, tenant, f"/distributors/{a}/links", {"kind": "poster"}).json()["code"]
    visit = {"identifiers": {"phone": "13800000033"}}
    answer = post(client, other_tenant, f"/share-links/{code}/visits", visit)
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ShareVisit)) == 0
    assert post(client, tenant, f"/share-links/{code}/visits", visit).status_code == 201


def test_bad_rules_are_refused_with_the_field_named(client: TestClient, tenant: Tenant) -> None:
    three = post(client, tenant, "/commission-rules", {"name": "x", "rates": ["5", "3", "1"]})
    assert (three.status_code, three.json()["errors"][0]["field"]) == (422, "rates")
    high = post(client, tenant, "/commission-rules", {"name": "x", "rates": ["10", "120"]})
    assert (high.status_code, high.json()["errors"][0]["field"]) == (422, "rates.1")
    assert client.get("/api/v1/commission-rules", headers=tenant.headers).json() == []


def test_creating_posts_replay_by_idempotency_key(client: TestClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "onboard-1"}
    body = {"code": "K", "name": "店主K"}
    first = client.post("/api/v1/distributors", json=body, headers=headers)
    again = client.post("/api/v1/distributors", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    listed = client.get("/api/v1/distributors", headers=tenant.headers).json()["items"]
    assert len(listed) == 1


def test_the_attribution_window_is_configurable_and_checked(
    client: TestClient, tenant: Tenant
) -> None:
    url = "/api/v1/distribution/settings"
    assert client.get(url, headers=tenant.headers).json() == {
        "attribution_days": 7,
        "return_days": 15,
    }
    bad = client.put(url, json={"attribution_days": 0}, headers=tenant.headers)
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "attribution_days")
    assert client.get(url, headers=tenant.headers).json()["attribution_days"] == 7
    good = client.put(url, json={"attribution_days": 3}, headers=tenant.headers)
    assert good.json() == {"attribution_days": 3, "return_days": 15}
