"""Channel endpoints under /api/v1/channels: configs, policy, templates, preview, touches,
unsubscribe, provider receipts and the WeCom callback."""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import select

from siyu.channels import callback, receipts, service, touches
from siyu.channels.frequency import policy_of
from siyu.channels.models import MessageTemplate, Touch, WecomTask
from siyu.channels.schemas import (
    ConfigIn,
    ConfigOut,
    PolicyIn,
    PolicyOut,
    PreviewIn,
    RenderedOut,
    SendIn,
    StatsOut,
    TemplateIn,
    TemplateOut,
    TouchOut,
    UnsubscribeIn,
    WecomTaskIn,
    WecomTaskOut,
)
from siyu.core.auth import get_scoped, scoped
from siyu.core.errors import InvalidField, NotFound
from siyu.core.http import Caller, DbSession
from siyu.core.idempotency import once, request_hash
from siyu.core.pagination import Page, check_limit, decode_cursor, encode_cursor

router = APIRouter(prefix="/channels", tags=["channels"])
IdemKey = Annotated[str | None, Header()]


@router.get("/configs", response_model=list[ConfigOut])
def list_configs(session: DbSession, caller: Caller) -> list[ConfigOut]:
    """Configured channels; secrets are never returned, only their names."""
    return [service.config_out(c) for c in service.list_configs(session, caller)]


@router.put("/configs/{channel}", response_model=ConfigOut)
def put_config(channel: str, body: ConfigIn, session: DbSession, caller: Caller) -> ConfigOut:
    """Create or replace a channel's provider, base URL, options and (write-only) secrets."""
    return service.config_out(service.put_config(session, caller, channel, body))


@router.get("/policy", response_model=PolicyOut)
def get_policy(session: DbSession, caller: Caller) -> Any:
    """The frequency policy (defaults when none was saved)."""
    return policy_of(session, caller.workspace_id)


@router.put("/policy", response_model=PolicyOut)
def put_policy(body: PolicyIn, session: DbSession, caller: Caller) -> Any:
    """Replace the frequency policy."""
    return service.put_policy(session, caller, body)


@router.post("/templates", status_code=201, response_model=TemplateOut)
def create_template(
    body: TemplateIn,
    request: Request,
    session: DbSession,
    caller: Caller,
    idempotency_key: IdemKey = None,
) -> JSONResponse:
    """Save a template; a syntax error or an undeclared variable is refused naming it."""

    def produce() -> tuple[int, object]:
        template = service.create_template(session, caller, body)
        return 201, TemplateOut.model_validate(template).model_dump(mode="json")

    digest = request_hash("POST", request.url.path, body.model_dump())
    status, payload = once(session, caller.workspace_id, idempotency_key, digest, produce)
    return JSONResponse(payload, status_code=status)


@router.get("/templates", response_model=list[TemplateOut])
def list_templates(session: DbSession, caller: Caller) -> list[MessageTemplate]:
    """The workspace's templates."""
    return service.list_templates(session, caller)


@router.get("/templates/{template_id}", response_model=TemplateOut)
def get_template(template_id: int, session: DbSession, caller: Caller) -> MessageTemplate:
    """One template."""
    return get_scoped(session, MessageTemplate, template_id, caller)


@router.put("/templates/{template_id}", response_model=TemplateOut)
def update_template(
    template_id: int, body: TemplateIn, session: DbSession, caller: Caller
) -> MessageTemplate:
    """Replace a template's content (its version goes up)."""
    return service.update_template(session, caller, template_id, body)


@router.post("/preview", response_model=RenderedOut)
def preview(body: PreviewIn, session: DbSession, caller: Caller) -> RenderedOut:
    """Render a template or content against a real customer (masked name, no links made)."""
    rendered = service.preview(
        session,
        caller,
        customer_id=body.customer_id,
        template_id=body.template_id,
        content=body.content,
        context=body.context,
    )
    return RenderedOut(**{k: v for k, v in rendered.as_dict().items() if k != "links"})


@router.post("/touches", status_code=201, response_model=TouchOut)
def send(
    body: SendIn, session: DbSession, caller: Caller, idempotency_key: IdemKey = None
) -> Touch:
    """Decide and queue one touch; a replayed Idempotency-Key answers the first touch."""
    if not idempotency_key:
        raise InvalidField("Idempotency-Key", "发送消息必须提供", "required to send a message")
    return service.send(
        session,
        caller,
        customer_id=body.customer_id,
        channel=body.channel,
        template_id=body.template_id,
        content=body.content,
        purpose=body.purpose,
        priority=body.priority,
        source=body.source,
        idempotency_key=idempotency_key,
        context=body.context,
    )


@router.get("/touches", response_model=Page[TouchOut])
def list_touches(
    session: DbSession,
    caller: Caller,
    status: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    channel: str | None = None,
    customer_id: int | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query()] = 50,
) -> Page[TouchOut]:
    """Touches newest first, by status, reason, source (prefix with *), channel, customer."""
    limit = check_limit(limit)
    rows = touches.list_touches(
        session,
        caller,
        status=status,
        reason=reason,
        source=source,
        channel=channel,
        customer_id=customer_id,
        after_id=decode_cursor(cursor),
        limit=limit,
    )
    items = [TouchOut.model_validate(r) for r in rows]
    return Page[TouchOut](
        items=items, next_cursor=encode_cursor(rows[-1].id) if len(rows) == limit else None
    )


@router.get("/touches/stats", response_model=StatsOut)
def touch_stats(session: DbSession, caller: Caller, source: str | None = None) -> Any:
    """Counts by status and by reason, overall and per source."""
    return touches.touch_stats(session, caller, source)


@router.get("/touches/{touch_id}", response_model=TouchOut)
def get_touch(touch_id: int, session: DbSession, caller: Caller) -> Touch:
    """One touch with its status and reason."""
    return get_scoped(session, Touch, touch_id, caller)


@router.post("/unsubscribe", status_code=201)
def unsubscribe(body: UnsubscribeIn, session: DbSession, caller: Caller) -> dict[str, Any]:
    """Unsubscribe from marketing, or (scope all) do-not-disturb, on a channel or all."""
    row = touches.unsubscribe(session, caller, body.customer_id, body.channel, body.scope)
    return {"consent_id": row.id, "channel": row.channel, "scope": row.purpose, "granted": False}


@router.post("/subscribe", status_code=201)
def subscribe(body: UnsubscribeIn, session: DbSession, caller: Caller) -> dict[str, Any]:
    """Lift an unsubscribe or do-not-disturb."""
    row = touches.resubscribe(session, caller, body.customer_id, body.channel, body.scope)
    return {"consent_id": row.id, "channel": row.channel, "scope": row.purpose, "granted": True}


@router.post("/receipts/{workspace_id}/{channel}/{token}")
async def receipt(workspace_id: int, channel: str, token: str, request: Request) -> dict[str, int]:
    """A provider's delivery reports; the URL's token is the credential."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidField("body", "不是有效的 JSON", "not valid JSON") from exc
    with request.app.state.db.transaction() as session:
        config = service.config_of(session, workspace_id, channel)
        if config is None or not hmac.compare_digest(receipts.receipt_token(config), token):
            raise NotFound()
        return receipts.apply_receipts(session, config, body)


@router.get("/wecom/callback/{workspace_id}", response_class=PlainTextResponse)
def wecom_verify(workspace_id: int, request: Request, session: DbSession) -> str:
    """WeCom's URL verification: answer the decrypted echostr."""
    return callback.verify_url(session, workspace_id, dict(request.query_params))


@router.post("/wecom/callback/{workspace_id}", response_class=PlainTextResponse)
async def wecom_event(workspace_id: int, request: Request) -> str:
    """WeCom events (signed, AES-encrypted XML); add-contact ingests and welcomes."""
    body = await request.body()
    with request.app.state.db.transaction() as session:
        callback.receive(session, workspace_id, dict(request.query_params), body)
    return "success"


@router.post("/wecom/tasks", status_code=201, response_model=WecomTaskOut)
def create_wecom_task(body: WecomTaskIn, session: DbSession, caller: Caller) -> WecomTask:
    """Queue a 群发 (group_msg) or 朋友圈 (moment) task."""
    return callback.create_wecom_task(session, caller, body.kind, body.sender, body.text)


@router.get("/wecom/tasks", response_model=list[WecomTaskOut])
def list_wecom_tasks(session: DbSession, caller: Caller) -> list[WecomTask]:
    """WeCom tasks, newest first."""
    stmt = scoped(select(WecomTask), WecomTask, caller).order_by(WecomTask.id.desc()).limit(200)
    return list(session.scalars(stmt))


@router.get("/sandbox")
def sandbox(session: DbSession, caller: Caller, limit: int = 50) -> list[dict[str, Any]]:
    """What the sandbox channel would have sent."""
    rows = touches.sandbox_messages(session, caller, check_limit(limit))
    return [
        {
            "id": r.id,
            "touch_id": r.touch_id,
            "customer_id": r.customer_id,
            "subject": r.subject,
            "body": r.body,
            "created_at": r.created_at.isoformat(),
        }
        for r in rows
    ]
