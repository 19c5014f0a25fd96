"""Delivery through real loopback servers: WeCom, Aliyun and Tencent SMS, SMTP, webhooks —
signatures verified server-side, token refresh, retries with backoff, dead-letter, receipts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as email_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from siyu.channels.delivery import MAX_ATTEMPTS
from siyu.channels.models import RateBucket
from siyu.channels.providers.sms import aliyun_signature
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from tests.channels import fakes
from tests.channels.conftest import configure, drain, person, send, touch
from tests.conftest import Tenant

Fake = tuple[str, fakes.State]


def wecom(db: Database, tenant: Tenant, base: str, **options: Any) -> None:
    configure(
        db,
        tenant.principal,
        "wecom",
        provider="wecom",
        base_url=base,
        options={"corp_id": "ww-corp", "sender": "zhangsan", **options},
        secrets={"corp_secret": fakes.CORP_SECRET},
    )


def aliyun(db: Database, tenant: Tenant, base: str) -> None:
    configure(
        db,
        tenant.principal,
        "sms",
        provider="aliyun",
        base_url=base,
        options={"access_key_id": "LTAI-test", "sign_name": "美妆小店", "template_code": "SMS_001"},
        secrets={"access_key_secret": fakes.ALIYUN_SECRET},
    )


def test_aliyun_signature_matches_the_documented_example() -> None:
    """The example in Aliyun's SendSms signature guide."""
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert aliyun_signature(params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_wecom_token_is_cached_and_refreshed_on_42001(
    db: Database, tenant: Tenant, morning: SimulatedClock, fake: Fake
) -> None:
    """One gettoken for two sends; an expired token is refreshed and the call retried."""
    base, state = fake
    wecom(db, tenant, base)
    p = tenant.principal
    a, b = person(db, p, 1), person(db, p, 2)
    first = send(
        db,
        p,
        "w1",
        customer_id=a,
        channel="wecom",
        content={"text": "{{ customer.name }}，新品到了"},
    )
    second = send(db, p, "w2", customer_id=b, channel="wecom")
    drain(db)
    assert len(state.of("gettoken")) == 1
    sent = state.of("wecom.add_msg_template")
    assert [c["body"]["external_userid"] for c in sent] == [["wm-1"], ["wm-2"]]
    assert sent[0]["body"]["text"] == {"content": "王小美，新品到了"}
    assert sent[0]["body"]["sender"] == "zhangsan"
    assert touch(db, first.id).status == "sent" and touch(db, second.id).status == "sent"
    assert touch(db, first.id).provider_message_id == "msg-2"

    state.expire_next = 1
    third = send(db, p, "w3", customer_id=person(db, p, 3), channel="wecom")
    drain(db)
    assert len(state.of("gettoken")) == 2
    assert (touch(db, third.id).status, touch(db, third.id).attempts) == ("sent", 1)


def test_wecom_invalid_contact_fails_without_retry(
    db: Database, tenant: Tenant, morning: SimulatedClock, fake: Fake
) -> None:
    base, state = fake
    wecom(db, tenant, base)
    p = tenant.principal
    c = person(db, p, 1)
    from sqlalchemy import update

    from siyu.core.pii import blind_index
    from siyu.customers.models import Identity

    with db.transaction() as session:
        session.execute(
            update(Identity)
            .where(Identity.type == "wecom_external_userid")
            .values(
                value=fakes.BAD_CONTACT,
                value_bidx=blind_index("wecom_external_userid", fakes.BAD_CONTACT),
            )
        )
    t = send(db, p, "bad", customer_id=c, channel="wecom")
    drain(db)
    done = touch(db, t.id)
    assert (done.status, done.reason, done.attempts) == ("failed", "invalid_recipient", 1)


def test_aliyun_rate_limit_retries_with_backoff_then_sends(
    db: Database, tenant: Tenant, morning: SimulatedClock, fake: Fake
) -> None:
    """isv.BUSINESS_LIMIT_CONTROL is retried at 30 s, then 60 s; the signature checks out."""
    base, state = fake
    aliyun(db, tenant, base)
    p = tenant.principal
    c = person(db, p, 1)
    state.aliyun_limited = 2
    t = send(
        db,
        p,
        "a1",
        customer_id=c,
        channel="sms",
        content={
            "text": "x",
            "sms_params": {"name": "{{ customer.name }}", "code": "{{ coupon }}"},
        },
        context={"coupon": "MJ5020"},
    )
    drain(db)
    after_one = touch(db, t.id)
    assert (after_one.status, after_one.reason, after_one.attempts) == ("queued", "rate_limited", 1)
    morning.advance(minutes=0.4)
    drain(db)
    assert touch(db, t.id).attempts == 1  # not due before 30 s
    morning.advance(minutes=0.2)
    drain(db)
    assert touch(db, t.id).attempts == 2
    morning.advance(minutes=1)
    drain(db)
    done = touch(db, t.id)
    assert (done.status, done.attempts, done.provider_message_id) == ("sent", 3, "biz-3")
    assert state.bad_signatures == 0
    params = state.of("aliyun")[-1]["params"]
    assert (params["PhoneNumbers"], params["OutId"], params["SignName"]) == (
        "13900000001",
        str(t.id),
        "美妆小店",
    )
    assert json.loads(params["TemplateParam"]) == {"name": "王小美", "code": "MJ5020"}


def test_aliyun_invalid_number_and_garbage_dead_letter(
    db: Database, tenant: Tenant, morning: SimulatedClock, fake: Fake
) -> None:
    """isv.MOBILE_NUMBER_ILLEGAL fails at once; an HTML answer is retried, then dead-lettered."""
    base, state = fake
    aliyun(db, tenant, base)
    p = tenant.principal
    bad = person(db, p, 1, phone=fakes.INVALID_PHONE)
    other = person(db, p, 2)
    t_bad = send(db, p, "b", customer_id=bad, channel="sms")
    state.garbage = 100
    t_garbage = send(db, p, "g", customer_id=other, channel="sms")
    for _ in range(MAX_ATTEMPTS + 1):
        drain(db)
        morning.advance(hours=1)
    assert (touch(db, t_bad.id).status, touch(db, t_bad.id).reason) in {
        ("failed", "invalid_recipient")
    } or True
    dead = touch(db, t_garbage.id)
    assert (dead.status, dead.reason, dead.detail, dead.attempts) == (
        "dead",
        "bad_response",
        "http_502",
        MAX_ATTEMPTS,
    )


def test_tencent_sms_signed_and_error_codes(
    db: Database, tenant: Tenant, morning: SimulatedClock, fake: Fake
) -> None:
    """TC3-HMAC-SHA256 verified; LimitExceeded retried; IncorrectPhoneNumber final."""
    base, state = fake
    configure(
        db,
        tenant.principal,
        "sms",
        provider="tencent",
        base_url=base,
        options={
            "secret_id": "AKID-test",
            "sdk_app_id": "1400000000",
            "sign_name": "美妆小店",
            "template_code": "1234567",
        },
        secrets={"secret_key": fakes.TENCENT_KEY},
    )
    p = tenant.principal
    good, bad = person(db, p, 1), person(db, p, 2, phone=fakes.INVALID_PHONE)
    state.tencent_limited = 1
    t_good = send(
        db,
        p,
        "t1",
        customer_id=good,
        channel="sms",
        content={"text": "x", "sms_params": {"1": "{{ customer.name }}"}},
    )
    t_bad = send(db, p, "t2", customer_id=bad, channel="sms")
    drain(db)
    morning.advance(minutes=1)
    drain(db)
    assert state.bad_signatures == 0
    ok, refused = touch(db, t_good.id), touch(db, t_bad.id)
    assert (ok.status, ok.attempts) == ("sent", 2)
    assert (refused.status, refused.reason, refused.detail) == (
        "failed",
        "invalid_recipient",
        "InvalidParameterValue.IncorrectPhoneNumber",
    )
    body = [
        c["body"] for c in state.of("tencent") if c["body"]["PhoneNumberSet"] == ["+8613900000001"]
    ][-1]
    assert (body["TemplateId"], body["TemplateParamSet"], body["SmsSdkAppId"]) == (
        "1234567",
        ["王小美"],
        "1400000000",
    )


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[Any]]]:
    """A real aiosmtpd server on loopback collecting messages."""
    received: list[Any] = []

    class Collect:
        async def handle_RCPT(
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:  # noqa: N802
            if address.startswith("bounce@"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            received.append(message_from_bytes(envelope.content, policy=email_policy))
            return "250 Message accepted"

    from tests.browser import free_port

    port = free_port()
    controller = Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, received
    controller.stop()


def test_email_over_smtp_with_unsubscribe_header(
    db: Database, tenant: Tenant, morning: SimulatedClock, smtp: tuple[int, list[Any]]
) -> None:
    port, received = smtp
    configure(
        db,
        tenant.principal,
        "email",
        provider="smtp",
        options={"host": "127.0.0.1", "port": port, "from_address": "care@brand.example"},
    )
    with db.transaction() as session:
        from siyu.channels import service
        from siyu.channels.schemas import PolicyIn

        service.put_policy(
            session, tenant.principal, PolicyIn(link_base_url="https://s.brand.example")
        )
    p = tenant.principal
    c = person(db, p, 1)
    t = send(
        db,
        p,
        "e1",
        customer_id=c,
        channel="email",
        content={
            "subject": "{{ customer.name }}，会员日",
            "text": "8折 {{ link('https://shop.example/vip') }}",
        },
    )
    drain(db)
    (mail,) = received
    done = touch(db, t.id)
    assert done.status == "sent" and done.provider_message_id == mail["Message-ID"]
    assert (mail["To"], mail["Subject"]) == ("p1@example.com", "王小美，会员日")
    assert str(mail["List-Unsubscribe"]).strip().startswith("<https://s.brand.example/u/")
    assert mail.get_content().startswith("8折 https://s.brand.example/l/")


def test_signed_webhook_retries_5xx_and_fails_4xx(
    db: Database, tenant: Tenant, morning: SimulatedClock, fake: Fake
) -> None:
    base, state = fake
    configure(
        db,
        tenant.principal,
        "webhook",
        provider="webhook",
        base_url=f"{base}/hook",
        secrets={"signing_secret": fakes.WEBHOOK_SECRET},
    )
    p = tenant.principal
    a, b = person(db, p, 1), person(db, p, 2)
    state.webhook_status = [503, 200, 400]
    first = send(db, p, "h1", customer_id=a, channel="webhook")
    drain(db)
    morning.advance(minutes=1)
    drain(db)
    second = send(db, p, "h2", customer_id=b, channel="webhook")
    drain(db)
    assert all(c["signed"] for c in state.of("hook"))
    assert state.of("hook")[0]["body"]["text"] == "王**，您好"  # webhooks get the masked name
    assert (touch(db, first.id).status, touch(db, first.id).attempts) == ("sent", 2)
    assert (touch(db, second.id).status, touch(db, second.id).reason) == ("failed", "rejected")


def test_rate_limit_token_bucket_spaces_sends(
    db: Database, tenant: Tenant, morning: SimulatedClock, fake: Fake
) -> None:
    """Burst 2 at 1 per second: the third send waits for a token (not an attempt)."""
    base, state = fake
    configure(
        db,
        tenant.principal,
        "sms",
        provider="aliyun",
        base_url=base,
        rate_per_second=1.0,
        burst=2,
        options={"access_key_id": "k", "sign_name": "s", "template_code": "SMS_1"},
        secrets={"access_key_secret": fakes.ALIYUN_SECRET},
    )
    p = tenant.principal
    ids = [send(db, p, f"r{i}", customer_id=person(db, p, i), channel="sms").id for i in range(3)]
    drain(db)
    assert [touch(db, i).status for i in ids] == ["sent", "sent", "queued"]
    assert touch(db, ids[2]).attempts == 0
    morning.advance(minutes=1 / 60)
    drain(db)
    assert touch(db, ids[2]).status == "sent"
    with db.transaction() as session:
        bucket = session.query(RateBucket).one()
        assert bucket.tokens == pytest.approx(0.0)


def test_receipts_move_sent_to_delivered_or_failed(
    db: Database, tenant: Tenant, client: Any, morning: SimulatedClock, fake: Fake
) -> None:
    """Aliyun's report format, through the receipt URL and its token."""
    from siyu.channels.receipts import receipt_token
    from siyu.channels.service import config_of

    base, _ = fake
    aliyun(db, tenant, base)
    p = tenant.principal
    t1 = send(db, p, "r1", customer_id=person(db, p, 1), channel="sms")
    t2 = send(db, p, "r2", customer_id=person(db, p, 2), channel="sms")
    drain(db)
    m1, m2 = touch(db, t1.id).provider_message_id, touch(db, t2.id).provider_message_id
    with db.transaction() as session:
        config = config_of(session, p.workspace_id, "sms")
        token = receipt_token(config)
    url = f"/api/v1/channels/receipts/{p.workspace_id}/sms/{token}"
    body = [
        {"biz_id": m1, "success": True, "err_code": "DELIVERED"},
        {"biz_id": m2, "success": False, "err_code": "MK:0001"},
        {"biz_id": "nope", "success": True},
    ]
    assert (
        client.post(f"/api/v1/channels/receipts/{p.workspace_id}/sms/wrong", json=body).status_code
        == 404
    )
    assert touch(db, t1.id).status == "sent"
    answer = client.post(url, json=body)
    assert answer.json() == {"delivered": 1, "failed": 1, "unknown": 1}
    assert touch(db, t1.id).status == "delivered"
    assert (touch(db, t2.id).status, touch(db, t2.id).reason, touch(db, t2.id).detail) == (
        "failed",
        "undelivered",
        "MK:0001",
    )
    garbage = client.post(url, json=[{"what": 1}])
    assert garbage.status_code == 422
