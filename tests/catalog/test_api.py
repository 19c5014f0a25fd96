"""The catalog API: a supplier's key pushes only its own stock and sees only its own rows."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant


def call(
    client: TestClient, headers: dict[str, str], method: str, path: str, body: Any = None
) -> Any:
    return client.request(method, f"/api/v1{path}", json=body, headers=headers)


def test_a_suppliers_key_sees_and_pushes_only_its_own(client: TestClient, tenant: Tenant) -> None:
    admin = tenant.headers
    mine = call(client, admin, "POST", "/suppliers", {"code": "S1", "name": "花漾"}).json()["id"]
    theirs = call(client, admin, "POST", "/suppliers", {"code": "S2", "name": "别家"}).json()["id"]
    for supplier, sku in ((mine, "MINE"), (theirs, "THEIRS")):
        made = call(
            client,
            admin,
            "POST",
            "/products",
            {
                "supplier_id": supplier,
                "name": sku,
                "category": "美妆",
                "skus": [{"code": sku, "name": sku, "price_fen": 100, "on_hand": 5}],
            },
        )
        assert made.status_code == 201, made.text
    key = call(client, admin, "POST", f"/suppliers/{mine}/keys").json()["key"]
    brand = {"Authorization": f"Bearer {key}"}
    products = call(client, brand, "GET", "/products").json()["items"]
    assert [p["name"] for p in products] == ["MINE"]
    push = {"updates": [{"sku": "MINE", "on_hand": 9, "version": 2}]}
    assert (
        call(client, brand, "POST", f"/suppliers/{mine}/stock", push).json()[0]["outcome"]
        == "applied"
    )
    stale = {"updates": [{"sku": "MINE", "on_hand": 1, "version": 1}]}
    assert (
        call(client, brand, "POST", f"/suppliers/{mine}/stock", stale).json()[0]["outcome"]
        == "stale"
    )
    denied = call(
        client,
        brand,
        "POST",
        f"/suppliers/{theirs}/stock",
        {"updates": [{"sku": "THEIRS", "on_hand": 0, "version": 9}]},
    )
    assert denied.status_code == 404
    assert call(client, admin, "GET", "/stock/THEIRS").json()["on_hand"] == 5
    assert call(client, admin, "GET", "/stock/MINE").json()["available"] == 9
    assert call(client, brand, "GET", "/supplier-orders").json() == []


def test_reservations_answer_409_out_of_stock_and_keep_the_count(
    client: TestClient, tenant: Tenant
) -> None:
    admin = tenant.headers
    supplier = call(client, admin, "POST", "/suppliers", {"code": "S", "name": "s"}).json()["id"]
    call(
        client,
        admin,
        "POST",
        "/products",
        {
            "supplier_id": supplier,
            "name": "x",
            "category": "c",
            "skus": [{"code": "ONE", "name": "x", "price_fen": 100, "on_hand": 1}],
        },
    )
    assert (
        call(
            client, admin, "POST", "/reservations", {"ref": "A", "sku": "ONE", "quantity": 1}
        ).status_code
        == 201
    )
    refused = call(
        client, admin, "POST", "/reservations", {"ref": "B", "sku": "ONE", "quantity": 1}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "out_of_stock")
    assert call(client, admin, "POST", "/reservations/A:release").json()["status"] == "released"
    assert call(client, admin, "GET", "/stock/ONE").json()["available"] == 1
