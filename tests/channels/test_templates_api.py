"""Templates (sandboxed Jinja2), preview, short links, unsubscribe links and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from siyu.channels.links import unsubscribe_token
from siyu.channels.models import MessageTemplate, ShortLink, Touch
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.customers.models import Consent
from siyu.ingest.models import Event, Order, OrderLine
from tests.channels.conftest import drain, person, touch
from tests.conftest import Tenant


def count(db: Database, model: Any) -> int:
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_template_save_refuses_bad_templates_and_writes_nothing(
    db: Database, tenant: Tenant, client: Any
) -> None:
    h = tenant.headers
    cases = [
        ({"name": "a", "body": "{{ coupon_code }}"}, "coupon_code"),
        ({"name": "b", "body": "{% if %}"}, "body"),
        ({"name": "c", "body": "{{ ''.__class__.__mro__ }}"}, "unsafe"),
        ({"name": "d", "body": "x", "channel": "sms"}, "sms_template_code"),
        ({"name": "e", "body": "{{ link('javascript:alert(1)') }}"}, "link"),
        ({"name": "f", "body": "x", "variables": ["not a name"]}, "variables"),
    ]
    for body, needle in cases:
        answer = client.post("/api/v1/channels/templates", headers=h, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert needle in answer.text, answer.text
    assert count(db, MessageTemplate) == 0


def test_template_with_declared_variables_preview_and_send(
    db: Database, tenant: Tenant, client: Any, morning: SimulatedClock
) -> None:
    """Preview masks the name and makes no links; the send uses the real name and a tracked link."""
    p, h = tenant.principal, tenant.headers
    c = person(db, p, 1)
    with db.transaction() as session:
        order = Order(
            workspace_id=p.workspace_id,
            external_id="o1",
            channel="tmall",
            customer_id=c,
            status="paid",
            ordered_at=morning.now(),
            total_fen=12990,
            paid_fen=12990,
            created_at=morning.now(),
        )
        session.add(order)
        session.flush()
        for sku, category, qty in (("L1", "口红", 3), ("M1", "面膜", 1), ("S1", "防晒", 2)):
            session.add(
                OrderLine(
                    workspace_id=p.workspace_id,
                    order_id=order.id,
                    sku=sku,
                    product=sku,
                    category=category,
                    quantity=qty,
                    unit_price_fen=100,
                    amount_fen=100 * qty,
                )
            )
    body = {
        "name": "新客券",
        "channel": "sandbox",
        "body": (
            "{{ customer.name }}，送您满50减20券 {{ coupon_code }}，"
            "猜你喜欢：{{ recommendations|join('、') }} {{ link('https://shop.example/new') }}"
        ),
        "variables": ["coupon_code"],
    }
    created = client.post(
        "/api/v1/channels/templates", headers={**h, "Idempotency-Key": "t1"}, json=body
    )
    assert created.status_code == 201, created.text
    replay = client.post(
        "/api/v1/channels/templates", headers={**h, "Idempotency-Key": "t1"}, json=body
    )
    assert replay.json()["id"] == created.json()["id"]
    template_id = created.json()["id"]
    preview = client.post(
        "/api/v1/channels/preview",
        headers=h,
        json={"customer_id": c, "template_id": template_id, "context": {"coupon_code": "MJ5020"}},
    )
    assert (
        preview.json()["text"]
        == "王**，送您满50减20券 MJ5020，猜你喜欢：口红、防晒、面膜 /l/preview"
    )
    missing = client.post(
        "/api/v1/channels/preview", headers=h, json={"customer_id": c, "template_id": template_id}
    )
    assert missing.status_code == 422 and "coupon_code" in missing.text
    assert count(db, ShortLink) == 0

    sent = client.post(
        "/api/v1/channels/touches",
        headers={**h, "Idempotency-Key": "s1"},
        json={
            "customer_id": c,
            "channel": "sandbox",
            "template_id": template_id,
            "context": {"coupon_code": "MJ5020"},
            "source": "journey:3:step:welcome",
        },
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "queued"
    drain(db)
    (box,) = client.get("/api/v1/channels/sandbox", headers=h).json()
    assert box["body"].startswith("王小美，送您满50减20券 MJ5020，猜你喜欢：口红、防晒、面膜 /l/")
    code = box["body"].rsplit("/l/", 1)[1]

    # A click redirects and records a click event, once per click id.
    for _ in range(2):
        answer = client.get(f"/l/{code}?c=click-1", follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (302, "https://shop.example/new")
    with db.transaction() as session:
        clicks = session.scalars(select(Event).where(Event.type == "click")).all()
        link = session.scalars(select(ShortLink)).one()
    assert [(e.customer_id, e.properties["touch_id"]) for e in clicks] == [(c, sent.json()["id"])]
    assert link.clicks == 1
    assert client.get("/l/nope", follow_redirects=False).status_code == 404


def test_touch_api_requires_a_key_and_filters(
    db: Database, tenant: Tenant, other_tenant: Tenant, client: Any, morning: SimulatedClock
) -> None:
    p, h = tenant.principal, tenant.headers
    c = person(db, p, 1)
    no_key = client.post(
        "/api/v1/channels/touches",
        headers=h,
        json={"customer_id": c, "channel": "sandbox", "content": {"text": "hi"}},
    )
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.text
    assert count(db, Touch) == 0
    for key in ("k1", "k2"):
        client.post(
            "/api/v1/channels/touches",
            headers={**h, "Idempotency-Key": key},
            json={"customer_id": c, "channel": "sandbox", "content": {"text": "hi"}},
        )
    page = client.get("/api/v1/channels/touches", headers=h, params={"status": "suppressed"}).json()
    assert [(t["reason"], t["status"]) for t in page["items"]] == [("cap_daily", "suppressed")]
    stats = client.get("/api/v1/channels/touches/stats", headers=h).json()
    assert stats["by_status"] == {"queued": 1, "suppressed": 1}
    one = page["items"][0]["id"]
    assert (
        client.get(f"/api/v1/channels/touches/{one}", headers=other_tenant.headers).status_code
        == 404
    )
    assert (
        client.get("/api/v1/channels/touches", headers=other_tenant.headers).json()["items"] == []
    )


def test_configs_never_return_secrets(db: Database, tenant: Tenant, client: Any) -> None:
    h = tenant.headers
    body = {
        "provider": "aliyun",
        "base_url": "http://127.0.0.1:9",
        "options": {"sign_name": "店"},
        "secrets": {"access_key_secret": "TOP-SECRET"},
    }
    put = client.put("/api/v1/channels/configs/sms", headers=h, json=body)
    assert put.status_code == 200
    listed = client.get("/api/v1/channels/configs", headers=h)
    assert "TOP-SECRET" not in put.text + listed.text
    assert listed.json()[0]["secret_names"] == ["access_key_secret"]
    # Keep secrets when omitted.
    again = client.put("/api/v1/channels/configs/sms", headers=h, json={**body, "secrets": None})
    assert again.json()["secret_names"] == ["access_key_secret"]
    with db.transaction() as session:
        raw = session.execute(text("SELECT secrets FROM channel_config")).scalar_one()
    assert b"TOP-SECRET" not in bytes(raw)
    bad = client.put("/api/v1/channels/configs/sms", headers=h, json={**body, "provider": "smtp"})
    assert bad.status_code == 422 and "provider" in bad.text
    assert client.put("/api/v1/channels/configs/fax", headers=h, json=body).status_code == 422


def test_unsubscribe_link_and_api(
    db: Database, tenant: Tenant, client: Any, morning: SimulatedClock
) -> None:
    p, h = tenant.principal, tenant.headers
    c = person(db, p, 1)
    token = unsubscribe_token(p.workspace_id, c, "email")
    page = client.get(f"/u/{token}")
    assert page.status_code == 200 and "退订" in page.text
    assert count(db, Consent) == 0
    assert client.post(f"/u/{token}").status_code == 200
    assert client.post(f"/u/{token[:-2]}xx").status_code == 404
    with db.transaction() as session:
        rows = [
            (r.channel, r.purpose, r.granted, r.source) for r in session.scalars(select(Consent))
        ]
    assert rows == [("email", "marketing", False, "link")]
    answer = client.post(
        "/api/v1/channels/unsubscribe",
        headers=h,
        json={"customer_id": c, "channel": "all", "scope": "all"},
    )
    assert answer.status_code == 201
    t = client.post(
        "/api/v1/channels/touches",
        headers={**h, "Idempotency-Key": "x"},
        json={
            "customer_id": c,
            "channel": "sandbox",
            "content": {"text": "hi"},
            "purpose": "transactional",
        },
    ).json()
    assert (t["status"], t["reason"]) == ("suppressed", "dnd")
    assert touch(db, t["id"]).status == "suppressed"


def test_policy_api(db: Database, tenant: Tenant, client: Any) -> None:
    h = tenant.headers
    assert client.get("/api/v1/channels/policy", headers=h).json()["weekly_cap"] == 3
    bad = client.put("/api/v1/channels/policy", headers=h, json={"daily_cap": 5, "weekly_cap": 2})
    assert bad.status_code == 422 and "daily_cap" in bad.text
    wrong = client.put("/api/v1/channels/policy", headers=h, json={"quiet_start": "25:00"})
    assert wrong.status_code == 422
    ok = client.put(
        "/api/v1/channels/policy",
        headers=h,
        json={"daily_cap": 2, "weekly_cap": 4, "quiet_start": "21:30"},
    )
    assert ok.json()["quiet_start"] == "21:30"
    assert client.get("/api/v1/channels/policy", headers=h).json()["daily_cap"] == 2
