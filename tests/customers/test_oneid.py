"""OneID: strong identifiers merge, weak evidence suggests, merges keep all and undo exactly."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.db import Database
from siyu.customers.models import Customer, Identity, MergeRecord, MergeSuggestion
from siyu.ingest.models import MAX_FEN, Event, Order
from siyu.workspaces.models import Workspace
from tests.conftest import Tenant

T0 = "2026-03-01T10:00:00+08:00"


def event(
    event_id: str, identifiers: dict[str, str], type_: str = "view", **extra: Any
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "occurred_at": T0,
        "identifiers": identifiers,
        **extra,
    }


def order(
    external_id: str,
    identifiers: dict[str, str],
    paid: int = 9900,
    channel: str = "tmall",
    **extra: Any,
) -> dict[str, Any]:
    line = {
        "sku": "LIP-01",
        "product": "丝绒口红",
        "category": "lipstick",
        "quantity": 1,
        "unit_price_fen": paid,
        "amount_fen": paid,
    }
    return {
        "external_id": external_id,
        "channel": channel,
        "ordered_at": T0,
        "total_fen": paid,
        "paid_fen": paid,
        "identifiers": identifiers,
        "lines": [line],
        **extra,
    }


def send(client: TestClient, tenant: Tenant, *events: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/api/v1/events:batch", json={"events": list(events)}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def live_customers(db: Database) -> list[int]:
    with db.transaction() as session:
        return list(
            session.scalars(
                select(Customer.id).where(Customer.merged_into_id.is_(None)).order_by(Customer.id)
            )
        )


def owners(db: Database, model: Any) -> list[int]:
    with db.transaction() as session:
        return list(session.scalars(select(model.customer_id).order_by(model.id)))


def test_one_person_across_tmall_and_wechat_is_one_customer(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    placed = client.post(
        "/api/v1/orders",
        json=order("TM1", {"phone": "13812345678", "taobao_nick": "小美"}),
        headers=tenant.headers,
    )
    assert placed.status_code == 201
    result = send(
        client, tenant, event("e1", {"wechat_unionid": "oU1", "phone": "+86 138-1234-5678"})
    )
    assert result["results"][0]["customer_id"] == placed.json()["customer_id"]
    assert live_customers(db) == [placed.json()["customer_id"]]
    profile = client.get(
        f"/api/v1/customers/{placed.json()['customer_id']}", headers=tenant.headers
    ).json()
    assert sorted(profile["identities"]) == ["phone", "taobao_nick", "wechat_unionid"]
    assert profile["order_summary"]["orders"] == 1 and profile["order_summary"]["paid_fen"] == 9900
    assert [(i["kind"], i["ref"]) for i in profile["timeline"]] in (
        [("event", "e1"), ("order", "TM1")],
        [("order", "TM1"), ("event", "e1")],
    )
    found = client.get(
        "/api/v1/customers",
        params={"identifier_type": "taobao_nick", "identifier_value": "小美"},
        headers=tenant.headers,
    )
    assert [c["id"] for c in found.json()["items"]] == [placed.json()["customer_id"]]


def test_an_order_above_the_amount_limit_is_refused_and_nothing_is_stored(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    over = order("TM9", {"phone": "13812345678"}, paid=MAX_FEN + 1)
    refused = client.post("/api/v1/orders", json=over, headers=tenant.headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "validation_error"
    fields = {e["field"] for e in refused.json()["errors"]}
    assert fields == {"total_fen", "paid_fen", "lines.0.unit_price_fen", "lines.0.amount_fen"}
    assert live_customers(db) == []
    at_limit = client.post(
        "/api/v1/orders",
        json=order("TM10", {"phone": "13812345678"}, paid=MAX_FEN),
        headers=tenant.headers,
    )
    assert at_limit.status_code == 201, at_limit.text
    result = send(client, tenant, event("big", {"phone": "13812345678"}, amount_fen=MAX_FEN + 1))
    assert result["results"][0]["status"] == "rejected"
    assert [e["field"] for e in result["results"][0]["errors"]] == ["amount_fen"]


def test_a_record_with_two_strong_ids_merges_and_nothing_is_lost_or_doubled(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    a = client.post(
        "/api/v1/orders",
        json=order("TM1", {"phone": "13812345678"}, attributes={"name": "张婷", "city": "杭州"}),
        headers=tenant.headers,
    ).json()
    b = client.post(
        "/api/v1/orders",
        json=order(
            "JD1",
            {"wechat_unionid": "oU9"},
            channel="jd",
            paid=5000,
            attributes={"name": "张婷婷", "province": "浙江"},
        ),
        headers=tenant.headers,
    ).json()
    send(
        client,
        tenant,
        event("e1", {"wechat_unionid": "oU9"}),
        event("e2", {"wechat_unionid": "oU9"}),
        event("e3", {"phone": "13812345678"}),
    )
    assert live_customers(db) == [a["customer_id"], b["customer_id"]]
    send(client, tenant, event("bridge", {"phone": "13812345678", "wechat_unionid": "oU9"}))
    survivor = a["customer_id"]
    assert live_customers(db) == [survivor]
    assert (
        set(owners(db, Order)) == {survivor}
        and set(owners(db, Event)) == {survivor}
        and set(owners(db, Identity)) == {survivor}
    )
    profile = client.get(f"/api/v1/customers/{survivor}", headers=tenant.headers).json()
    assert profile["order_summary"]["orders"] == 2 and profile["order_summary"]["paid_fen"] == 14900
    assert profile["order_summary"]["channels"] == {"jd": 1, "tmall": 1}
    assert len([i for i in profile["timeline"] if i["kind"] == "event"]) == 4
    # Survivor's values win, gaps are filled from the absorbed side, and the conflict is recorded.
    assert (profile["name"], profile["city"], profile["province"]) == ("张婷", "杭州", "浙江")
    with db.transaction() as session:
        record = session.scalars(select(MergeRecord)).one()
    assert record.reason == "strong:phone,wechat_unionid"
    assert {c["field"]: c["kept"] for c in record.conflicts} == {
        "name": "survivor",
        "province": "absorbed",
    }


def test_undo_restores_both_sides_and_later_arrivals_follow_their_identifiers(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    a = client.post(
        "/api/v1/orders",
        json=order("TM1", {"phone": "13812345678"}, attributes={"city": "杭州"}),
        headers=tenant.headers,
    ).json()["customer_id"]
    b = client.post(
        "/api/v1/orders",
        json=order("JD1", {"wechat_unionid": "oU9"}, channel="jd", attributes={"province": "浙江"}),
        headers=tenant.headers,
    ).json()["customer_id"]
    send(client, tenant, event("bridge", {"phone": "13812345678", "wechat_unionid": "oU9"}))
    # After the merge: an event through b's unionid, one through a's phone,
    # and a new identifier seen together with b's unionid.
    send(
        client,
        tenant,
        event("later-b", {"wechat_unionid": "oU9"}),
        event("later-a", {"phone": "13812345678"}),
        event("later-new", {"wechat_unionid": "oU9", "device_id": "dev-7"}),
    )
    with db.transaction() as session:
        merge_id = session.scalars(select(MergeRecord.id)).one()
    undone = client.post(f"/api/v1/merges/{merge_id}/undo", headers=tenant.headers)
    assert undone.status_code == 200 and undone.json()["undone_at"] is not None
    assert live_customers(db) == [a, b]
    with db.transaction() as session:
        orders = dict(session.execute(select(Order.external_id, Order.customer_id)).all())
        events = dict(session.execute(select(Event.event_id, Event.customer_id)).all())
        identities = dict(session.execute(select(Identity.type, Identity.customer_id)).all())
        cust_a, cust_b = session.get(Customer, a), session.get(Customer, b)
        assert (cust_a.city, cust_a.province, cust_b.city, cust_b.province) == (
            "杭州",
            None,
            None,
            "浙江",
        )  # type: ignore[union-attr]
    assert orders == {"TM1": a, "JD1": b}
    assert events["later-a"] == a and events["later-b"] == b and events["later-new"] == b
    assert identities == {"phone": a, "wechat_unionid": b, "device_id": b}
    again = client.post(f"/api/v1/merges/{merge_id}/undo", headers=tenant.headers)
    assert again.status_code == 409


def test_weak_conflict_suggests_and_an_operator_decides(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    send(client, tenant, event("e1", {"taobao_nick": "小美"}), event("e2", {"device_id": "dev-1"}))
    x, y = live_customers(db)
    send(client, tenant, event("e3", {"taobao_nick": "小美", "device_id": "dev-1"}))
    assert live_customers(db) == [x, y]
    listed = client.get("/api/v1/merge-suggestions", headers=tenant.headers).json()["items"]
    assert [(s["customer_a"], s["customer_b"], s["evidence"]) for s in listed] == [
        (x, y, {"shared_taobao_nick": 1.0, "shared_device_id": 1.0})
    ]
    accepted = client.post(
        f"/api/v1/merge-suggestions/{listed[0]['id']}/accept", headers=tenant.headers
    )
    assert (
        accepted.status_code == 200 and accepted.json()["reason"] == f"suggestion:{listed[0]['id']}"
    )
    assert live_customers(db) == [x]
    assert (
        client.post(
            f"/api/v1/merge-suggestions/{listed[0]['id']}/reject", headers=tenant.headers
        ).status_code
        == 409
    )
    client.post(f"/api/v1/merges/{accepted.json()['id']}/undo", headers=tenant.headers)
    assert live_customers(db) == [x, y]
    assert (
        client.get(
            "/api/v1/merge-suggestions", params={"status": "undone"}, headers=tenant.headers
        ).json()["items"][0]["id"]
        == listed[0]["id"]
    )


def test_strong_types_are_configurable_per_workspace(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    with db.transaction() as session:
        session.get(Workspace, tenant.workspace_id).settings = {"oneid": {"strong": ["phone"]}}  # type: ignore[union-attr]
    for who in (tenant, other_tenant):
        send(client, who, event(f"{who.workspace_id}-1", {"phone": "13812345678"}))
        send(
            client,
            who,
            event(f"{who.workspace_id}-2", {"phone": "13812345679", "wechat_unionid": "oU1"}),
        )
        send(
            client,
            who,
            event(f"{who.workspace_id}-3", {"phone": "13812345678", "wechat_unionid": "oU1"}),
        )
    with db.transaction() as session:
        live = session.execute(
            select(Customer.workspace_id, func.count())
            .where(Customer.merged_into_id.is_(None))
            .group_by(Customer.workspace_id)
        ).all()
        merges = session.scalars(select(MergeRecord.workspace_id)).all()
        suggested = session.scalars(select(MergeSuggestion)).all()
    # Where the unionid is not strong, the shared unionid only suggests; by default it merges.
    assert sorted(live) == [(tenant.workspace_id, 2), (other_tenant.workspace_id, 1)]
    assert merges == [other_tenant.workspace_id]
    assert [(s.workspace_id, s.evidence) for s in suggested] == [
        (tenant.workspace_id, {"shared_wechat_unionid": 1.0})
    ]


def test_events_batch_keeps_good_events_and_names_bad_fields(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    batch = [
        event("ok-1", {"phone": "13812345678"}),
        event("bad-phone", {"phone": "12345"}),
        event("bad-type", {"qq": "10001"}),
        {"type": "view", "occurred_at": T0, "identifiers": {"phone": "13812345678"}},
        event("ok-1", {"phone": "13812345678"}),
        event("bad-money", {"phone": "13812345678"}, type_="purchase", amount_fen=12.5),
        event("ok-2", {"wechat_openid": "wxapp:o123"}, type_="sign_in"),
    ]
    result = send(client, tenant, *batch)
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (2, 1, 4)
    statuses = [
        (r["index"], r["status"], [e["field"] for e in r["errors"]]) for r in result["results"]
    ]
    assert statuses == [
        (0, "accepted", []),
        (1, "rejected", ["identifiers.phone"]),
        (2, "rejected", ["identifiers.qq"]),
        (3, "rejected", ["event_id"]),
        (4, "duplicate", []),
        (5, "rejected", ["amount_fen"]),
        (6, "accepted", []),
    ]
    replay = send(client, tenant, event("ok-1", {"phone": "13812345678"}))
    assert (replay["accepted"], replay["duplicates"]) == (0, 1)
    with db.transaction() as session:
        assert sorted(session.scalars(select(Event.event_id))) == ["ok-1", "ok-2"]
    too_many = client.post(
        "/api/v1/events:batch",
        json={"events": [event(f"e{i}", {"device_id": "d"}) for i in range(1001)]},
        headers=tenant.headers,
    )
    assert too_many.status_code == 422


def test_refunds_partial_full_and_refused(client: TestClient, db: Database, tenant: Tenant) -> None:
    placed = client.post(
        "/api/v1/orders",
        json=order("TM1", {"phone": "13812345678"}, paid=10000),
        headers=tenant.headers,
    ).json()
    again = client.post(
        "/api/v1/orders",
        json=order("TM1", {"phone": "13812345678"}, paid=10000),
        headers=tenant.headers,
    )
    assert (again.status_code, again.json()["id"], again.json()["created"]) == (
        200,
        placed["id"],
        False,
    )
    url = f"/api/v1/orders/{placed['id']}/refunds"
    part = client.post(
        url,
        json={
            "external_id": "R1",
            "amount_fen": 3000,
            "lines": [{"sku": "LIP-01", "quantity": 1, "amount_fen": 3000}],
        },
        headers=tenant.headers,
    )
    assert part.status_code == 201
    too_much = client.post(
        url, json={"external_id": "R2", "amount_fen": 7001}, headers=tenant.headers
    )
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "amount_fen"
    fractional = client.post(
        url, json={"external_id": "R3", "amount_fen": 10.5}, headers=tenant.headers
    )
    assert fractional.status_code == 422
    rest = client.post(url, json={"external_id": "R4", "amount_fen": 7000}, headers=tenant.headers)
    assert rest.status_code == 201
    with db.transaction() as session:
        stored = session.get(Order, placed["id"])
        assert (stored.status, stored.refunded_fen) == ("refunded", 10000)  # type: ignore[union-attr]
    bad_order = client.post(
        "/api/v1/orders",
        json=order("TM2", {"phone": "13812345678"}, paid=-1),
        headers=tenant.headers,
    )
    assert bad_order.status_code == 422


def test_other_workspace_cannot_touch_merges_or_orders(
    client: TestClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    send(
        client,
        tenant,
        event("e1", {"taobao_nick": "n"}),
        event("e2", {"device_id": "d"}),
        event("e3", {"taobao_nick": "n", "device_id": "d"}),
    )
    suggestion = client.get("/api/v1/merge-suggestions", headers=tenant.headers).json()["items"][0]
    assert (
        client.post(
            f"/api/v1/merge-suggestions/{suggestion['id']}/accept", headers=other_tenant.headers
        ).status_code
        == 404
    )
    placed = client.post(
        "/api/v1/orders", json=order("TM1", {"phone": "13812345678"}), headers=tenant.headers
    ).json()
    assert (
        client.post(
            f"/api/v1/orders/{placed['id']}/refunds",
            json={"external_id": "R", "amount_fen": 1},
            headers=other_tenant.headers,
        ).status_code
        == 404
    )
    with db.transaction() as session:
        assert session.scalar(select(MergeSuggestion.status)) == "pending"
