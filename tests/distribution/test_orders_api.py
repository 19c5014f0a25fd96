"""A distributor's own orders through the API: newest first, paginated, amounts in fen; another
distributor's key, a supplier's key and another workspace see none of them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant
from tests.distribution.test_api import bearer, post


def place(client: TestClient, tenant: Tenant, external_id: str, fen: int, seller: Any) -> None:
    body = {
        "external_id": external_id,
        "channel": "wechat",
        "ordered_at": "2026-01-01T10:00:00+08:00",
        "total_fen": fen,
        "paid_fen": fen,
        "identifiers": {"phone": f"1380000{fen % 10000:04d}"},
        "distributor_id": seller,
    }
    answer = post(client, tenant, "/orders", body)
    assert answer.status_code == 201, answer.text


def listed(client: TestClient, headers: dict[str, str], query: str = "") -> Any:
    return client.get(f"/api/v1/distribution/orders{query}", headers=headers)


def test_a_distributors_key_lists_exactly_its_own_orders(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    a = post(client, tenant, "/distributors", {"code": "A", "name": "店主A"}).json()["id"]
    b = post(client, tenant, "/distributors", {"code": "B", "name": "店主B"}).json()["id"]
    place(client, tenant, "A-1", 10100, a)
    place(client, tenant, "B-1", 20200, b)
    place(client, tenant, "A-2", 30300, a)
    place(client, tenant, "NONE-1", 40400, None)
    key_a = bearer(post(client, tenant, f"/distributors/{a}/keys", {}).json()["key"])
    own = listed(client, key_a)
    assert own.status_code == 200, own.text
    assert [
        (o["external_id"], o["distributor_id"], o["paid_fen"], o["total_fen"], o["status"])
        for o in own.json()["items"]
    ] == [("A-2", a, 30300, 30300, "paid"), ("A-1", a, 10100, 10100, "paid")]
    assert own.json()["next_cursor"] is None
    # Naming another distributor changes nothing: the key's own scope still applies.
    assert listed(client, key_a, f"?distributor_id={b}").json()["items"] == []
    # Pages of one, newest first.
    first = listed(client, key_a, "?limit=1").json()
    second = listed(client, key_a, f"?limit=1&cursor={first['next_cursor']}").json()
    assert [o["external_id"] for o in first["items"] + second["items"]] == ["A-2", "A-1"]
    last = listed(client, key_a, f"?limit=1&cursor={second['next_cursor']}").json()
    assert last == {"items": [], "next_cursor": None}
    # Staff see every attributed order, or one distributor's.
    everyone = listed(client, tenant.headers).json()["items"]
    assert [o["external_id"] for o in everyone] == ["A-2", "B-1", "A-1"]
    theirs = listed(client, tenant.headers, f"?distributor_id={b}").json()["items"]
    assert [o["external_id"] for o in theirs] == ["B-1"]
    assert listed(client, key_a, "?status=refunded").json()["items"] == []
    bad = listed(client, key_a, "?status=lost")
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "status")


def test_other_roles_and_workspaces_read_no_distributor_orders(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    a = post(client, tenant, "/distributors", {"code": "A", "name": "店主A"}).json()["id"]
    place(client, tenant, "A-1", 10100, a)
    supplier = post(client, tenant, "/suppliers", {"code": "S1", "name": "品牌"}).json()["id"]
    s_key = post(client, tenant, f"/suppliers/{supplier}/keys", {}).json()["key"]
    assert listed(client, bearer(s_key)).status_code == 403
    assert listed(client, other_tenant.headers).json() == {"items": [], "next_cursor": None}
    z = post(client, other_tenant, "/distributors", {"code": "Z", "name": "店主Z"}).json()["id"]
    z_key = bearer(post(client, other_tenant, f"/distributors/{z}/keys", {}).json()["key"])
    assert listed(client, z_key, f"?distributor_id={a}").json()["items"] == []
    assert [o["external_id"] for o in listed(client, tenant.headers).json()["items"]] == ["A-1"]
