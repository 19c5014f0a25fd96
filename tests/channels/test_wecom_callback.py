"""The WeCom callback: WXBizMsgCrypt signature + AES, add-contact ingests and welcomes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from siyu.channels.models import MessageTemplate, Touch, WecomTask
from siyu.channels.wecom_crypto import CallbackError, WecomCrypt, signature
from siyu.core.clock import SimulatedClock
from siyu.core.db import Database
from siyu.ingest.models import Event
from tests.channels import fakes
from tests.channels.conftest import configure, drain
from tests.conftest import Tenant

AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters
TOKEN = "cb-token"
CORP = "ww-corp"


def add_contact_xml(external: str, code: str) -> str:
    return (
        "<xml><ToUserName><![CDATA[ww-corp]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1772416800</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        "<UserID><![CDATA[zhangsan]]></UserID>"
        f"<ExternalUserID><![CDATA[{external}]]></ExternalUserID>"
        "<State><![CDATA[package_card]]></State>"
        f"<WelcomeCode><![CDATA[{code}]]></WelcomeCode></xml>"
    )


def envelope(
    crypt: WecomCrypt, inner: str, nonce: str = "n1", ts: str = "1772416800"
) -> tuple[dict[str, str], bytes]:
    encrypted = crypt.encrypt(inner)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    )
    params = {
        "msg_signature": signature(TOKEN, ts, nonce, encrypted),
        "timestamp": ts,
        "nonce": nonce,
    }
    return params, body.encode()


def test_crypt_round_trip_and_tampering() -> None:
    """PKCS#7 to 32 bytes, receiveid checked, a flipped byte or signature refused."""
    crypt = WecomCrypt(TOKEN, AES_KEY, CORP)
    sealed = crypt.encrypt("你好 WeCom", random16=b"0" * 16)
    assert len(base64.b64decode(sealed)) % 32 == 0
    assert crypt.decrypt(sealed) == "你好 WeCom"
    with pytest.raises(CallbackError):
        WecomCrypt(TOKEN, AES_KEY, "other-corp").decrypt(sealed)
    raw = bytearray(base64.b64decode(sealed))
    raw[-1] ^= 0xFF
    with pytest.raises(CallbackError):
        crypt.decrypt(base64.b64encode(bytes(raw)).decode())
    with pytest.raises(CallbackError):
        crypt.verify("0" * 40, "1", "n", sealed)
    expected = (
        __import__("hashlib").sha1("".join(sorted([TOKEN, "1", "n", sealed])).encode()).hexdigest()
    )
    crypt.verify(expected, "1", "n", sealed)


def setup_wecom(db: Database, tenant: Tenant, base: str) -> None:
    with db.transaction() as session:
        template = MessageTemplate(
            workspace_id=tenant.workspace_id,
            name="欢迎语",
            body="亲爱的小伙伴，欢迎加入！我是您的专属美妆顾问小完子。",
        )
        session.add(template)
        session.flush()
        template_id = template.id
    configure(
        db,
        tenant.principal,
        "wecom",
        provider="wecom",
        base_url=base,
        options={"corp_id": CORP, "welcome_template_id": template_id},
        secrets={
            "corp_secret": fakes.CORP_SECRET,
            "callback_token": TOKEN,
            "encoding_aes_key": AES_KEY,
        },
    )


def test_url_verification_echoes_the_plaintext(
    db: Database, tenant: Tenant, client: Any, fake: Any
) -> None:
    setup_wecom(db, tenant, fake[0])
    crypt = WecomCrypt(TOKEN, AES_KEY, CORP)
    echo = crypt.encrypt("echo-12345")
    params = {
        "msg_signature": signature(TOKEN, "1", "n", echo),
        "timestamp": "1",
        "nonce": "n",
        "echostr": echo,
    }
    url = f"/api/v1/channels/wecom/callback/{tenant.workspace_id}"
    answer = client.get(url, params=params)
    assert (answer.status_code, answer.text) == (200, "echo-12345")
    assert client.get(url, params={**params, "nonce": "x"}).status_code == 401


def test_add_contact_ingests_and_sends_the_welcome(
    db: Database, tenant: Tenant, client: Any, morning: SimulatedClock, fake: Any
) -> None:
    """Even at night (transactional), the welcome goes with the welcome_code; a replay is one."""
    base, state = fake
    setup_wecom(db, tenant, base)
    crypt = WecomCrypt(TOKEN, AES_KEY, CORP)
    params, body = envelope(crypt, add_contact_xml("wm-new", "WELCOME-1"))
    url = f"/api/v1/channels/wecom/callback/{tenant.workspace_id}"
    assert client.post(url, params=params, content=body).text == "success"
    assert client.post(url, params=params, content=body).text == "success"  # WeCom retries
    drain(db)
    with db.transaction() as session:
        events = session.scalars(select(Event).where(Event.type == "add_contact")).all()
        touches = session.scalars(select(Touch)).all()
    assert [(e.source, e.properties["state"]) for e in events] == [("wecom", "package_card")]
    assert [(t.purpose, t.status, t.source) for t in touches] == [
        ("transactional", "delivered", "wecom:welcome")
    ]
    (welcome,) = state.of("wecom.send_welcome_msg")
    assert welcome["body"] == {
        "welcome_code": "WELCOME-1",
        "text": {"content": "亲爱的小伙伴，欢迎加入！我是您的专属美妆顾问小完子。"},
    }
    assert touches[0].customer_id == events[0].customer_id


def test_forged_callback_changes_nothing(
    db: Database, tenant: Tenant, client: Any, fake: Any
) -> None:
    setup_wecom(db, tenant, fake[0])
    forged = WecomCrypt(TOKEN, base64.b64encode(b"x" * 32).decode().rstrip("="), CORP)
    params, body = envelope(forged, add_contact_xml("wm-evil", "C"))
    url = f"/api/v1/channels/wecom/callback/{tenant.workspace_id}"
    assert client.post(url, params=params, content=body).status_code == 401
    good = WecomCrypt(TOKEN, AES_KEY, CORP)
    params, body = envelope(good, add_contact_xml("wm-evil", "C"))
    assert (
        client.post(url, params={**params, "msg_signature": "f" * 40}, content=body).status_code
        == 401
    )
    assert client.post(url, params=params, content=b"<!DOCTYPE x><xml/>").status_code == 401
    with db.transaction() as session:
        assert session.scalars(select(Event)).all() == []
        assert session.scalars(select(Touch)).all() == []


def test_group_message_and_moment_tasks(
    db: Database, tenant: Tenant, client: Any, fake: Any
) -> None:
    base, state = fake
    setup_wecom(db, tenant, base)
    for kind in ("group_msg", "moment"):
        answer = client.post(
            "/api/v1/channels/wecom/tasks",
            headers=tenant.headers,
            json={"kind": kind, "sender": "zhangsan", "text": "会员日全场8折"},
        )
        assert answer.status_code == 201, answer.text
    drain(db)
    with db.transaction() as session:
        tasks = session.scalars(select(WecomTask).order_by(WecomTask.id)).all()
    assert [(t.kind, t.status) for t in tasks] == [("group_msg", "sent"), ("moment", "sent")]
    group = state.of("wecom.add_msg_template")[0]["body"]
    assert (group["chat_type"], group["sender"]) == ("group", "zhangsan")
    moment = state.of("wecom.add_moment_task")[0]["body"]
    assert moment["visible_range"] == {"sender_list": {"user_list": ["zhangsan"]}}
    assert tasks[1].remote_id and tasks[1].remote_id.startswith("job-")
    listed = client.get("/api/v1/channels/wecom/tasks", headers=tenant.headers).json()
    assert [t["kind"] for t in listed] == ["moment", "group_msg"]
