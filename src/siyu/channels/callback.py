"""The WeCom callback: URL verification, and add-contact events that ingest an add_contact
event for the customer and send the welcome message (欢迎语) with the welcome_code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels import service
from siyu.channels.models import ChannelConfig, MessageTemplate, WecomTask
from siyu.channels.tasks import WECOM_TASK
from siyu.channels.wecom_crypto import CallbackError, WecomCrypt
from siyu.core import outbox
from siyu.core.auth import Principal, get_scoped, system_principal
from siyu.core.clock import now
from siyu.core.errors import InvalidField, NotFound, Unauthorized
from siyu.core.pii import blind_index
from siyu.customers.models import Identity
from siyu.workspaces.models import Role


def crypt_for(session: Session, workspace_id: int) -> tuple[ChannelConfig, WecomCrypt]:
    """The workspace's WeCom config and its callback crypto; unknown or unset is NotFound."""
    config = service.config_of(session, workspace_id, "wecom")
    secrets = json.loads(config.secrets) if config and config.secrets else {}
    if config is None or not secrets.get("callback_token") or not secrets.get("encoding_aes_key"):
        raise NotFound()
    try:
        crypt = WecomCrypt(
            secrets["callback_token"],
            secrets["encoding_aes_key"],
            config.options.get("corp_id", ""),
        )
    except CallbackError as exc:
        raise NotFound() from exc
    return config, crypt


def verify_url(session: Session, workspace_id: int, params: dict[str, str]) -> str:
    """GET verification: check the signature over echostr and answer its plaintext."""
    _, crypt = crypt_for(session, workspace_id)
    echostr = params.get("echostr", "")
    try:
        crypt.verify(
            params.get("msg_signature", ""),
            params.get("timestamp", ""),
            params.get("nonce", ""),
            echostr,
        )
        return crypt.decrypt(echostr)
    except CallbackError as exc:
        raise Unauthorized(zh="回调签名或加密无效", en=f"callback refused: {exc}") from exc


def receive(
    session: Session, workspace_id: int, params: dict[str, str], body: bytes
) -> dict[str, Any]:
    """POSTed event: verify, decrypt, and act on add_external_contact."""
    config, crypt = crypt_for(session, workspace_id)
    try:
        fields = crypt.open(
            params.get("msg_signature", ""),
            params.get("timestamp", ""),
            params.get("nonce", ""),
            body,
        )
    except CallbackError as exc:
        raise Unauthorized(zh="回调签名或加密无效", en=f"callback refused: {exc}") from exc
    if fields.get("Event") != "change_external_contact" or fields.get("ChangeType") not in (
        "add_external_contact",
        "add_half_external_contact",
    ):
        return {"handled": False}
    return on_add_contact(session, system_principal(workspace_id), config, fields)


def on_add_contact(
    session: Session, principal: Principal, config: ChannelConfig, fields: dict[str, str]
) -> dict[str, Any]:
    """Ingest add_contact for the external contact and queue the welcome message."""
    from siyu.ingest.service import ingest_events

    external = fields.get("ExternalUserID", "")
    if not external:
        raise InvalidField("ExternalUserID", "缺少外部联系人ID", "missing external contact id")
    event = {
        "event_id": f"wecom:add:{external}:{fields.get('CreateTime', '')}",
        "type": "add_contact",
        "occurred_at": _instant(fields.get("CreateTime")),
        "identifiers": {"wecom_external_userid": external},
        "source": "wecom",
        "properties": {"staff_user_id": fields.get("UserID"), "state": fields.get("State")},
    }
    result = ingest_events(session, principal, [event])
    customer_id = result.results[0].customer_id if result.results else None
    if customer_id is None:  # a replayed callback: the event (and welcome) happened already
        customer_id = _customer_of(session, principal, external)
    template_id = config.options.get("welcome_template_id")
    code = fields.get("WelcomeCode")
    touch_id = None
    if code and template_id and customer_id is not None:
        text = _welcome_fields(session, principal, int(template_id))
        touch = service.send(
            session,
            principal,
            customer_id=customer_id,
            channel="wecom",
            content={**text, "welcome_code": code},
            purpose="transactional",
            source="wecom:welcome",
            idempotency_key=f"wecom:welcome:{code}"[:128],
        )
        touch_id = touch.id
    return {"handled": True, "customer_id": customer_id, "touch_id": touch_id}


def _welcome_fields(session: Session, principal: Principal, template_id: int) -> dict[str, Any]:
    template = get_scoped(session, MessageTemplate, template_id, principal)
    return {"text": template.body, "subject": template.subject}


def _customer_of(session: Session, principal: Principal, external: str) -> int | None:
    return session.scalar(
        select(Identity.customer_id).where(
            Identity.workspace_id == principal.workspace_id,
            Identity.type == "wecom_external_userid",
            Identity.value_bidx == blind_index("wecom_external_userid", external),
        )
    )


def _instant(create_time: str | None) -> str:
    if create_time and create_time.isdigit():
        return datetime.fromtimestamp(int(create_time), UTC).isoformat()
    return now().isoformat()


def create_wecom_task(
    session: Session, principal: Principal, kind: str, sender: str | None, text: str
) -> WecomTask:
    """Queue a 群发 or 朋友圈 task; the outbox creates it at WeCom after commit."""
    principal.require(Role.operator)
    if service.config_of(session, principal.workspace_id, "wecom") is None:
        raise InvalidField("channel", "企业微信渠道未配置", "the WeCom channel is not configured")
    task = WecomTask(
        workspace_id=principal.workspace_id, kind=kind, sender=sender, content={"text": text}
    )
    session.add(task)
    session.flush()
    outbox.enqueue(session, WECOM_TASK, {"task_id": task.id}, workspace_id=principal.workspace_id)
    return task
