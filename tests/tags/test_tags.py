"""Tags: bulk manual tagging, rule tags kept current, the library, history and merges."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core import outbox
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers import merge
from siyu.ingest import service as ingest
from siyu.segments import tasks  # noqa: F401
from siyu.tags.library import BUILTINS
from siyu.tags.models import CustomerTag, Tag, TagHistory
from tests.conftest import Tenant
from tests.segments.data import Domain, build, order

LIPSTICK = {
    "type": "order",
    "categories": ["口红"],
    "op": "gte",
    "value": 2,
    "window": {"last_days": 180},
}


@pytest.fixture
def domain(db: Database, clock: SimulatedClock, tenant: Tenant, other_tenant: Tenant) -> Domain:
    return build(db, clock, tenant, other_tenant)


def tag_rows(db: Database) -> tuple[int, int]:
    with db.transaction() as session:
        rows = session.scalar(select(func.count()).select_from(CustomerTag)) or 0
        history = session.scalar(select(func.count()).select_from(TagHistory)) or 0
    return rows, history


def make_tag(client: TestClient, tenant: Tenant, **body: object) -> dict:  # type: ignore[type-arg]
    answer = client.post("/api/v1/tags", json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def holders(client: TestClient, tenant: Tenant, tag_id: int) -> int:
    return client.get(f"/api/v1/tags/{tag_id}", headers=tenant.headers).json()["count"]  # type: ignore[no-any-return]


def test_bulk_add_by_list_file_and_segment_and_remove(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    vip = make_tag(client, tenant, name="VIP")
    url = f"/api/v1/tags/{vip['id']}/customers"
    added = client.post(
        f"{url}:add", json={"customer_ids": [domain.c1, domain.c1]}, headers=tenant.headers
    )
    assert added.json() == {"changed": 1}
    again = client.post(f"{url}:add", json={"customer_ids": [domain.c1]}, headers=tenant.headers)
    assert again.json() == {"changed": 0}
    upload = client.post(
        f"{url}:upload",
        files={"file": ("ids.csv", f"customer\n{domain.c2}\n138 0000 0004\n".encode())},
        headers=tenant.headers,
    )
    assert upload.json() == {"changed": 2}
    segment = client.post(
        "/api/v1/segments",
        json={
            "name": "上海",
            "rule": {"type": "attribute", "field": "city", "op": "eq", "value": "上海"},
        },
        headers=tenant.headers,
    ).json()
    by_segment = client.post(
        f"{url}:add", json={"segment_id": segment["id"]}, headers=tenant.headers
    )
    assert by_segment.json() == {"changed": 1}  # c3; c1 already had it
    assert holders(client, tenant, vip["id"]) == 4
    removed = client.post(
        f"{url}:remove", json={"customer_ids": [domain.c4]}, headers=tenant.headers
    )
    assert removed.json() == {"changed": 1}
    assert holders(client, tenant, vip["id"]) == 3
    history = client.get(
        f"/api/v1/customers/{domain.c4}/tag-history", headers=tenant.headers
    ).json()
    assert [(h["name"], h["change"], h["source"]) for h in history] == [
        ("VIP", "lost", "manual"),
        ("VIP", "gained", "file"),
    ]


def test_bad_ids_or_file_rows_are_named_and_nothing_is_written(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    vip = make_tag(client, tenant, name="VIP")
    url = f"/api/v1/tags/{vip['id']}/customers"
    before = tag_rows(db)
    for ids, field in (([domain.c1, domain.c6], "customer_ids.1"), ([domain.c5], "customer_ids.0")):
        answer = client.post(f"{url}:add", json={"customer_ids": ids}, headers=tenant.headers)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == field
    bad_file = client.post(
        f"{url}:upload",
        files={"file": ("ids.csv", f"{domain.c1}\nnot-a-customer\n".encode())},
        headers=tenant.headers,
    )
    assert bad_file.json()["errors"][0]["field"] == "file.row.2"
    unknown_phone = client.post(
        f"{url}:upload", files={"file": ("p.csv", b"13899999999\n")}, headers=tenant.headers
    )
    assert unknown_phone.json()["errors"][0]["field"] == "file.row.1"
    assert tag_rows(db) == before


def test_rule_tag_is_computed_then_follows_new_orders(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    lover = make_tag(client, tenant, name="口红爱好者", kind="rule", rule=LIPSTICK)
    assert lover["count"] == 2
    with db.transaction() as session:
        ingest.upsert_orders(
            session,
            tenant.principal,
            [order("x1", 2, 1, 100, "口红"), order("x2", 2, 2, 100, "口红")],
        )
    outbox.run_due(db)
    assert holders(client, tenant, lover["id"]) == 3
    refused = client.post(
        f"/api/v1/tags/{lover['id']}/customers:add",
        json={"customer_ids": [domain.c3]},
        headers=tenant.headers,
    )
    assert refused.status_code == 409
    tags = client.get(f"/api/v1/customers/{domain.c2}/tags", headers=tenant.headers).json()
    assert [t["name"] for t in tags] == ["口红爱好者"]


def test_rule_tag_with_bad_rule_is_refused_and_not_stored(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    bad = LIPSTICK | {"window": {"last_days": 0}}
    answer = client.post(
        "/api/v1/tags", json={"name": "坏", "kind": "rule", "rule": bad}, headers=tenant.headers
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "rule.window.last_days"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Tag)) == 0


def test_library_installs_every_builtin_once(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    assert len(BUILTINS) >= 30
    made = client.post("/api/v1/tags/library:install", json={}, headers=tenant.headers)
    assert made.status_code == 200
    counts = {t["name"]: t["count"] for t in made.json()}
    assert len(counts) == len(BUILTINS)
    assert counts["口红爱好者"] == 2
    assert counts["高客单用户"] == 1
    assert counts["复购客"] == 2
    assert counts["重度休眠"] == 1
    assert counts["包裹卡来源"] == 1
    assert counts["天猫偏好"] == 0
    again = client.post("/api/v1/tags/library:install", json={}, headers=tenant.headers)
    assert again.json() == []
    groups = client.get("/api/v1/tag-groups", headers=tenant.headers).json()
    assert "品类偏好" in {g["name"] for g in groups}


def test_merge_keeps_tags_once_and_undo_gives_them_back(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    vip = make_tag(client, tenant, name="VIP")
    url = f"/api/v1/tags/{vip['id']}/customers:add"
    client.post(url, json={"customer_ids": [domain.c2, domain.c3]}, headers=tenant.headers)
    with db.transaction() as session:
        record = merge.merge(session, tenant.principal, domain.c2, domain.c3, "test")
        record_id = record.id
    tags = client.get(f"/api/v1/customers/{domain.c2}/tags", headers=tenant.headers).json()
    assert [t["name"] for t in tags] == ["VIP"]
    assert holders(client, tenant, vip["id"]) == 1
    with db.transaction() as session:
        merge.unmerge(session, tenant.principal, record_id)
    assert holders(client, tenant, vip["id"]) == 2
    back = client.get(f"/api/v1/customers/{domain.c3}/tags", headers=tenant.headers).json()
    assert [t["name"] for t in back] == ["VIP"]


def test_a_tag_in_use_cannot_be_deleted_and_others_see_404(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant, domain: Domain
) -> None:
    vip = make_tag(client, tenant, name="VIP")
    client.post(
        f"/api/v1/tags/{vip['id']}/customers:add",
        json={"customer_ids": [domain.c1]},
        headers=tenant.headers,
    )
    rule = {"type": "tag", "tag_id": vip["id"]}
    segment = client.post(
        "/api/v1/segments", json={"name": "VIP人群", "rule": rule}, headers=tenant.headers
    ).json()
    assert segment["size"] == 1
    assert client.get(f"/api/v1/tags/{vip['id']}", headers=other_tenant.headers).status_code == 404
    refused = client.delete(f"/api/v1/tags/{vip['id']}", headers=tenant.headers)
    assert refused.status_code == 409
    assert tag_rows(db) == (1, 1)
    client.delete(f"/api/v1/segments/{segment['id']}", headers=tenant.headers)
    assert client.delete(f"/api/v1/tags/{vip['id']}", headers=tenant.headers).status_code == 204
    assert tag_rows(db) == (0, 0)


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        (
            {"type": "attribute", "field": "shoe_size", "op": "eq", "value": 1},
            "rule.field",
            "unknown",
        ),
        ({"type": "tag", "tag_id": 999_999}, "rule.tag_id", "no tag"),
        ({"type": "segment", "segment_id": 1}, "rule.segment_id", "cannot use segments"),
        (LIPSTICK | {"categories": ["口红' OR '1'='1"]}, "rule.categories", "not allowed"),
        (LIPSTICK | {"window": {"start": "2026-06-01"}}, "rule.window", "both start and end"),
    ],
)
def test_rule_tag_bad_input_names_the_field_and_stores_nothing(
    client: TestClient,
    db: Database,
    tenant: Tenant,
    domain: Domain,
    rule: dict[str, object],
    field: str,
    reason: str,
) -> None:
    answer = client.post(
        "/api/v1/tags", json={"name": "坏", "kind": "rule", "rule": rule}, headers=tenant.headers
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == field
    assert reason in answer.json()["errors"][0]["reason"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Tag)) == 0


def test_a_rule_tag_cannot_build_on_another_rule_tag(
    client: TestClient, db: Database, tenant: Tenant, domain: Domain
) -> None:
    made = client.post(
        "/api/v1/tags",
        json={"name": "口红", "kind": "rule", "rule": LIPSTICK},
        headers=tenant.headers,
    )
    assert made.status_code == 201
    on_it = {"type": "tag", "tag_id": made.json()["id"]}
    answer = client.post(
        "/api/v1/tags", json={"name": "坏", "kind": "rule", "rule": on_it}, headers=tenant.headers
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "rule.tag_id"
    assert "manual tags only" in answer.json()["errors"][0]["reason"]
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Tag)) == 1
