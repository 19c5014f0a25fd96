"""A supplier's and a distributor's view through the API: own order lines, own low-stock alerts,
the materials library by owner and tier, and per-product mini-program codes."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant


def call(
    client: TestClient, headers: dict[str, str], method: str, path: str, body: Any = None
) -> Any:
    return client.request(method, f"/api/v1{path}", json=body, headers=headers)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def setup(client: TestClient, tenant: Tenant) -> dict[str, Any]:
    """Two suppliers with one product each (MINE low on stock, THEIRS low too), keys for the
    first supplier and for a starter distributor, and one order with a line of each SKU."""
    admin = tenant.headers
    ids: dict[str, Any] = {}
    for code, sku in (("S1", "MINE"), ("S2", "THEIRS")):
        supplier = call(client, admin, "POST", "/suppliers", {"code": code, "name": code})
        assert supplier.status_code == 201, supplier.text
        product = {
            "supplier_id": supplier.json()["id"],
            "name": sku,
            "category": "美妆",
            "skus": [{"code": sku, "name": sku, "price_fen": 5000, "on_hand": 3}],
        }
        made = call(client, admin, "POST", "/products", product)
        assert made.status_code == 201, made.text
        ids[sku] = (supplier.json()["id"], made.json()["id"])
    ids["supplier"] = bearer(
        call(client, admin, "POST", f"/suppliers/{ids['MINE'][0]}/keys").json()["key"]
    )
    seller = call(client, admin, "POST", "/distributors", {"code": "A", "name": "店主A"}).json()[
        "id"
    ]
    ids["seller"] = seller
    ids["distributor"] = bearer(
        call(client, admin, "POST", f"/distributors/{seller}/keys").json()["key"]
    )
    line = {"quantity": 1, "unit_price_fen": 5000, "amount_fen": 5000, "category": "美妆"}
    sold = call(
        client,
        admin,
        "POST",
        "/orders",
        {
            "external_id": "O-1",
            "channel": "wechat",
            "ordered_at": "2026-01-01T10:00:00+08:00",
            "total_fen": 10000,
            "paid_fen": 10000,
            "identifiers": {"phone": "13800000044"},
            "lines": [
                {"sku": "MINE", "product": "MINE", **line},
                {"sku": "THEIRS", "product": "THEIRS", **line},
            ],
        },
    )
    assert sold.status_code == 201, sold.text
    return ids


def test_a_supplier_sees_only_its_own_order_lines_and_low_stock_alerts(
    client: TestClient, tenant: Tenant
) -> None:
    ids = setup(client, tenant)
    lines = call(client, ids["supplier"], "GET", "/supplier-orders").json()
    assert [(r["external_id"], r["sku"], r["quantity"], r["amount_fen"]) for r in lines] == [
        ("O-1", "MINE", 1, 5000)
    ]
    mine = call(client, ids["supplier"], "GET", "/stock-alerts").json()
    assert [(a["code"], a["available"]) for a in mine] == [("MINE", 3)]
    everyone = call(client, tenant.headers, "GET", "/stock-alerts").json()
    assert [a["code"] for a in everyone] == ["MINE", "THEIRS"]
    # Only a supplier's key has a supplier's order view.
    assert call(client, ids["distributor"], "GET", "/supplier-orders").status_code == 403


def test_the_materials_library_by_owner_and_tier(client: TestClient, tenant: Tenant) -> None:
    ids = setup(client, tenant)
    admin = tenant.headers
    for body in (
        {"kind": "copy", "title": "口红文案", "product_id": ids["MINE"][1]},
        {"kind": "image", "title": "别家主图", "product_id": ids["THEIRS"][1]},
        {"kind": "training", "title": "重点培育课", "tier": "core"},
        {"kind": "poster", "title": "通用海报"},
    ):
        made = call(client, admin, "POST", "/materials", body)
        assert made.status_code == 201, made.text
    own = call(client, ids["supplier"], "POST", "/materials", {"kind": "video", "title": "开箱"})
    assert (own.status_code, own.json()["supplier_id"]) == (201, ids["MINE"][0])

    def titles(headers: dict[str, str]) -> list[str]:
        return sorted(m["title"] for m in call(client, headers, "GET", "/materials").json())

    assert titles(ids["supplier"]) == sorted(["口红文案", "开箱"])
    # A starter distributor: everything for everyone, not the core tier's training.
    assert titles(ids["distributor"]) == sorted(["口红文案", "别家主图", "开箱", "通用海报"])
    assert len(titles(admin)) == 5
    # A supplier cannot file material under another supplier's product.
    before = titles(admin)
    theirs = {"kind": "copy", "title": "冒名", "product_id": ids["THEIRS"][1]}
    assert call(client, ids["supplier"], "POST", "/materials", theirs).status_code == 404
    assert titles(admin) == before


def test_a_distributor_makes_a_mini_program_code_per_product(
    client: TestClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = setup(client, tenant)
    seller, product = ids["seller"], ids["MINE"][1]
    body = {"kind": "mini_code", "product_id": product}
    made = call(client, ids["distributor"], "POST", f"/distributors/{seller}/links", body)
    assert made.status_code == 201, made.text
    link = made.json()
    assert (link["kind"], link["product_id"], link["distributor_id"], link["visits"]) == (
        "mini_code",
        product,
        seller,
        0,
    )
    # Real-time stock as a distributor sees it: a reservation shows at once.
    assert call(client, ids["distributor"], "GET", "/stock/MINE").json()["available"] == 3
    hold = {"ref": "D-1", "sku": "MINE", "quantity": 2}
    assert call(client, ids["distributor"], "POST", "/reservations", hold).status_code == 201
    stock = call(client, ids["distributor"], "GET", "/stock/MINE").json()
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (3, 2, 1)
    listed = call(client, ids["distributor"], "GET", "/share-links").json()
    assert [x["code"] for x in listed] == [link["code"]]
    bad = call(client, ids["distributor"], "POST", f"/distributors/{seller}/links", {"kind": "qr"})
    assert bad.status_code == 422
    # Another workspace's product is not found, and no link is made.
    foreign = call(
        client, other_tenant.headers, "POST", "/distributors", {"code": "Z", "name": "z"}
    )
    zid = foreign.json()["id"]
    answer = call(client, other_tenant.headers, "POST", f"/distributors/{zid}/links", body)
    assert answer.status_code == 404
    assert call(client, other_tenant.headers, "GET", "/share-links").json() == []
    assert len(call(client, ids["distributor"], "GET", "/share-links").json()) == 1
