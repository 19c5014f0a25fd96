"""A supplier's feedback: the feedback and complaint events on its own SKUs, newest first,
paginated, without the customer's identity, through the API and the supplier's console view."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from siyu.catalog import service as catalog
from siyu.catalog.schemas import ProductIn, SkuIn, SupplierIn
from siyu.core.db import Database
from siyu.distribution import service as distribution
from tests.conftest import Tenant
from tests.distribution.test_console import PASSWORD, login

PHONE_A, PHONE_B = "13800000051", "13800000052"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def get(client: TestClient, headers: dict[str, str], path: str) -> Any:
    return client.get(f"/api/v1{path}", headers=headers)


def suppliers(db: Database, tenant: Tenant, *codes: str) -> list[int]:
    """One supplier per code, each with one product whose SKU is the code."""
    ids = []
    with db.transaction() as session:
        for code in codes:
            supplier = catalog.create_supplier(
                session, tenant.principal, SupplierIn(code=f"S-{code}", name=f"品牌{code}")
            )
            catalog.create_product(
                session,
                tenant.principal,
                ProductIn(
                    supplier_id=supplier.id,
                    name=f"商品{code}",
                    category="美妆",
                    skus=[SkuIn(code=code, name=code, price_fen=5000, on_hand=10)],
                ),
            )
            ids.append(supplier.id)
    return ids


def event(event_id: str, kind: str, day: int, phone: str, **props: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": kind,
        "occurred_at": f"2026-03-{day:02d}T10:00:00+08:00",
        "source": "wecom",
        "identifiers": {"phone": phone},
        "properties": props,
    }


def send(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> None:
    batch = {"events": list(events)}
    sent = client.post("/api/v1/events:batch", json=batch, headers=tenant.headers)
    assert sent.status_code == 200 and sent.json()["accepted"] == len(events), sent.text


def seed(client: TestClient, db: Database, tenant: Tenant, other: Tenant) -> dict[str, Any]:
    """MINE (supplier 1) and THEIRS (supplier 2) here; another workspace also sells a MINE."""
    mine, theirs = suppliers(db, tenant, "MINE", "THEIRS")
    suppliers(db, other, "MINE")
    # Received out of time order on purpose: the list is by when it happened.
    send(
        client,
        tenant,
        event("f-new", "feedback", 3, PHONE_A, sku="MINE", text="很好"),
        event("c-old", "complaint", 1, PHONE_A, sku="MINE", reason="过敏"),
        event("c-mid", "complaint", 2, PHONE_B, sku="MINE", reason="破损"),
        event("c-theirs", "complaint", 4, PHONE_A, sku="THEIRS"),
        event("v-mine", "view", 5, PHONE_A, sku="MINE"),
        event("f-nosku", "feedback", 5, PHONE_B, text="一般"),
    )
    send(
        client,
        other,
        event("c-foreign", "complaint", 6, PHONE_A, sku="MINE"),
    )
    key = client.post(f"/api/v1/suppliers/{mine}/keys", headers=tenant.headers).json()["key"]
    return {"mine": mine, "theirs": theirs, "key": bearer(key)}


def test_a_supplier_sees_exactly_its_own_feedback_newest_first_without_identity(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = seed(client, db, tenant, other_tenant)
    answer = get(client, ids["key"], "/supplier-feedback")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(f["type"], f["sku"], f["product"], f["properties"]) for f in items] == [
        ("feedback", "MINE", "商品MINE", {"sku": "MINE", "text": "很好"}),
        ("complaint", "MINE", "商品MINE", {"sku": "MINE", "reason": "破损"}),
        ("complaint", "MINE", "商品MINE", {"sku": "MINE", "reason": "过敏"}),
    ]
    assert answer.json()["next_cursor"] is None
    # The customer only as a pseudonym: the same one for the same person, nothing identifying.
    refs = [f["customer_ref"] for f in items]
    assert refs[0] == refs[2] != refs[1]
    assert all("customer_id" not in f and "identifiers" not in f for f in items)
    assert PHONE_A not in answer.text and PHONE_B not in answer.text
    # Staff read one supplier's feedback by naming it; the pseudonyms differ per supplier.
    theirs = get(client, tenant.headers, f"/supplier-feedback?supplier_id={ids['theirs']}")
    assert [f["sku"] for f in theirs.json()["items"]] == ["THEIRS"]
    assert theirs.json()["items"][0]["customer_ref"] != refs[0]
    staff = get(client, tenant.headers, f"/supplier-feedback?supplier_id={ids['mine']}").json()
    assert [f["id"] for f in staff["items"]] == [f["id"] for f in items]


def test_feedback_pages_and_other_suppliers_are_refused(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = seed(client, db, tenant, other_tenant)
    seen, cursor = [], ""
    for _ in range(4):
        page = get(client, ids["key"], f"/supplier-feedback?limit=2&cursor={cursor}").json()
        seen += [f["properties"].get("text") or f["properties"]["reason"] for f in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == ["很好", "破损", "过敏"]
    # A supplier's key cannot name another supplier; other roles have no feedback view.
    other = get(client, ids["key"], f"/supplier-feedback?supplier_id={ids['theirs']}")
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    seller = client.post(
        "/api/v1/distributors", json={"code": "A", "name": "店主A"}, headers=tenant.headers
    ).json()["id"]
    b_key = client.post(f"/api/v1/distributors/{seller}/keys", headers=tenant.headers).json()
    assert get(client, bearer(b_key["key"]), "/supplier-feedback").status_code == 403
    # The other workspace cannot read this workspace's supplier, and sees only its own MINE.
    foreign = get(client, other_tenant.headers, f"/supplier-feedback?supplier_id={ids['mine']}")
    assert foreign.status_code == 404
    unnamed = get(client, tenant.headers, "/supplier-feedback")
    assert (unnamed.status_code, unnamed.json()["errors"][0]["field"]) == (422, "supplier_id")
    assert get(client, ids["key"], "/supplier-feedback?cursor=bad").status_code == 422


def test_the_supplier_console_shows_its_own_feedback_only(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = seed(client, db, tenant, other_tenant)
    with db.transaction() as session:
        distribution.add_console_user(
            session, tenant.principal, "brand-fb", PASSWORD, supplier_id=ids["mine"]
        )
    login(client, "brand-fb")
    page = client.get("/catalog")
    assert page.status_code == 200
    assert page.text.count('class="feedback-row"') == 3
    assert "很好" in page.text and "过敏" in page.text and "一般" not in page.text
    assert PHONE_A not in page.text


def test_feedback_at_the_same_instant_pages_without_loss_or_repeat(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    (mine,) = suppliers(db, tenant, "MINE")
    send(
        client, tenant, *(event(f"same-{i}", "complaint", 7, PHONE_A, sku="MINE") for i in range(3))
    )
    key = bearer(
        client.post(f"/api/v1/suppliers/{mine}/keys", headers=tenant.headers).json()["key"]
    )
    seen, cursor = [], ""
    for _ in range(5):
        page = get(client, key, f"/supplier-feedback?limit=1&cursor={cursor}").json()
        seen += [f["id"] for f in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert len(seen) == 3 and seen == sorted(seen, reverse=True)
