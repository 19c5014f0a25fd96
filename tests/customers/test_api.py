"""Customers over the API: create, find by any phone format, scoping, idempotency, bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.audit import AuditEntry
from siyu.core.db import Database
from siyu.customers.models import Customer
from tests.conftest import Tenant


def count_customers(db: Database) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(Customer)) or 0


def test_create_then_find_by_phone_in_another_format(client: TestClient, tenant: Tenant) -> None:
    created = client.post(
        "/api/v1/customers", json={"name": "张三", "phone": "13812345678"}, headers=tenant.headers
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["phone"], body["email"]) == ("张三", "13812345678", None)
    for fmt in ("+86 138-1234-5678", "86 13812345678", "13812345678", "0086 138 1234 5678"):
        found = client.get("/api/v1/customers", params={"phone": fmt}, headers=tenant.headers)
        assert found.status_code == 200
        assert [c["id"] for c in found.json()["items"]] == [body["id"]]


def test_other_workspace_gets_404_and_attempt_is_audited(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    created = client.post(
        "/api/v1/customers", json={"phone": "13812345678"}, headers=other_tenant.headers
    )
    customer_id = created.json()["id"]
    denied = client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)
    assert denied.status_code == 404
    assert denied.json() == {"code": "not_found", "message": "未找到"}
    assert "13812345678" not in denied.text
    by_phone = client.get(
        "/api/v1/customers", params={"phone": "13812345678"}, headers=tenant.headers
    )
    assert by_phone.json()["items"] == []
    with db.transaction() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.outcome == "denied", AuditEntry.target_id == str(customer_id)
            )
        ).all()
    assert [(e.workspace_id, e.action, e.target_type) for e in entries] == [
        (tenant.workspace_id, "read", "customer")
    ]
    audit = client.get("/api/v1/audit", params={"action": "read"}, headers=tenant.headers).json()[
        "items"
    ]
    assert [(a["outcome"], a["target_id"]) for a in audit] == [("denied", str(customer_id))]


def test_invalid_phone_is_a_clear_error_and_nothing_is_written(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    before = count_customers(db)
    response = client.post(
        "/api/v1/customers",
        json={"phone": "12345"},
        headers={**tenant.headers, "Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == [
        {
            "field": "phone",
            "reason": "not a valid mainland China mobile number (11 digits starting with 1)",
        }
    ]
    assert count_customers(db) == before


def test_wrong_types_and_malformed_json_name_the_field(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    wrong = client.post("/api/v1/customers", json={"phone": 13812345678}, headers=tenant.headers)
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["phone"]
    extra = client.post(
        "/api/v1/customers", json={"phone": "13812345678", "vip": True}, headers=tenant.headers
    )
    assert [e["field"] for e in extra.json()["errors"]] == ["vip"]
    malformed = client.post(
        "/api/v1/customers",
        content=b'{"phone": "138',
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert malformed.status_code == 422
    assert malformed.json()["errors"] == [{"field": "body", "reason": "malformed JSON"}]
    assert count_customers(db) == 0


def test_oversized_body_is_413_and_nothing_written(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    big = b'{"name": "' + b"x" * (300 * 1024) + b'"}'
    response = client.post(
        "/api/v1/customers",
        content=big,
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert count_customers(db) == 0


def test_duplicate_phone_is_a_conflict_naming_the_customer(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    first = client.post(
        "/api/v1/customers", json={"phone": "13812345678"}, headers=tenant.headers
    ).json()
    again = client.post(
        "/api/v1/customers", json={"phone": "+86 138 1234 5678"}, headers=tenant.headers
    )
    assert again.status_code == 409
    assert again.json()["customer_id"] == first["id"]
    assert count_customers(db) == 1


def test_idempotency_key_replays_the_first_answer(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "order-42"}
    first = client.post(
        "/api/v1/customers", json={"name": "李四", "email": "Li4@Example.cn"}, headers=headers
    )
    replay = client.post(
        "/api/v1/customers", json={"name": "李四", "email": "Li4@Example.cn"}, headers=headers
    )
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert first.json()["email"] == "li4@example.cn"
    reused = client.post("/api/v1/customers", json={"name": "王五"}, headers=headers)
    assert reused.status_code == 409
    assert count_customers(db) == 1


def test_cursor_pagination_walks_every_customer_once(client: TestClient, tenant: Tenant) -> None:
    ids = [
        client.post(
            "/api/v1/customers", json={"phone": f"1390000{i:04d}"}, headers=tenant.headers
        ).json()["id"]
        for i in range(7)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/customers", params=params, headers=tenant.headers).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids
    tampered = client.get(
        "/api/v1/customers", params={"cursor": "MTIzLmFiYw"}, headers=tenant.headers
    )
    assert tampered.status_code == 422
    assert tampered.json()["errors"][0]["field"] == "cursor"


def test_analyst_sees_masked_pii(client: TestClient, tenant: Tenant) -> None:
    created = client.post(
        "/api/v1/customers",
        json={"name": "赵六六", "phone": "13812345678", "email": "zl@example.cn"},
        headers=tenant.headers,
    )
    key = client.post(
        "/api/v1/api-keys", json={"name": "bi", "role": "analyst"}, headers=tenant.headers
    ).json()["key"]
    seen = client.get(
        f"/api/v1/customers/{created.json()['id']}", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert (seen["name"], seen["phone"], seen["email"]) == (
        "赵**",
        "138****5678",
        "z***@example.cn",
    )
    refused = client.post(
        "/api/v1/customers",
        json={"phone": "13812345679"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 403


def test_distributor_key_sees_only_own_customers(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    ids = [
        client.post(
            "/api/v1/customers", json={"phone": f"1370000000{i}"}, headers=tenant.headers
        ).json()["id"]
        for i in range(2)
    ]
    with db.transaction() as session:
        session.get(Customer, ids[0]).distributor_id = 7  # type: ignore[union-attr]
        session.get(Customer, ids[1]).distributor_id = 8  # type: ignore[union-attr]
    key = client.post(
        "/api/v1/api-keys",
        json={"name": "b7", "role": "distributor", "distributor_id": 7},
        headers=tenant.headers,
    ).json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert [c["id"] for c in client.get("/api/v1/customers", headers=headers).json()["items"]] == [
        ids[0]
    ]
    assert client.get(f"/api/v1/customers/{ids[1]}", headers=headers).status_code == 404
