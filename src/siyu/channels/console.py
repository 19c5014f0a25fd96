"""Console: channel configs (no secrets), policy, touch outcomes with reasons, templates with
preview against a real customer, the sandbox outbox; and the public /l and /u links."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from siyu.channels import links, service, strings, touches  # noqa: F401  (strings registers)
from siyu.channels.frequency import policy_of
from siyu.channels.models import STATUSES
from siyu.core.console import ConsoleCaller, labeler, local_clock, page
from siyu.core.errors import SiyuError
from siyu.core.http import DbSession, csrf_token, request_locale
from siyu.core.i18n import translator
from siyu.core.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/channels", response_class=HTMLResponse)
def channels_page(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    status: str | None = None,
    reason: str | None = None,
) -> Response:
    """Configs, policy, outcomes, touches (filterable), templates with preview, sandbox."""
    stats = touches.touch_stats(session, caller)
    label = labeler(caller.locale)
    ranked = sorted(stats["by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
    chart = {
        "codes": [code for code, _ in ranked],
        "labels": [label("touch_reason", code) for code, _ in ranked],
        "counts": [n for _, n in ranked],
    }
    return page(
        request,
        session,
        caller,
        "channels_page.html",
        "channels",
        configs=[service.config_out(c) for c in service.list_configs(session, caller)],
        policy=policy_of(session, caller.workspace_id),
        stats=stats,
        chart=chart,
        statuses=STATUSES,
        status=status or "",
        reason=reason or "",
        rows=touches.list_touches(
            session, caller, status=status or None, reason=reason or None, limit=100
        ),
        templates=service.list_templates(session, caller),
        sandbox=touches.sandbox_messages(session, caller, 50),
        label=label,
        when=local_clock(session, request, caller),
        csrf=csrf_token(request.state.console_session.token_hash),
    )


@router.post("/channels/preview", response_class=HTMLResponse)
def preview_fragment(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    template_id: int = Form(...),
    customer_id: int = Form(...),
    context: str = Form(""),
) -> Response:
    """The rendered message for a real customer (htmx swaps it in), or the reason it fails."""
    t = translator(request_locale(request))
    try:
        variables = json.loads(context) if context.strip() else {}
        if not isinstance(variables, dict):
            raise ValueError
    except ValueError:
        return _fragment(request, error=t("channels.bad_json"))
    try:
        with session.begin_nested():
            rendered = service.preview(
                session, caller, customer_id=customer_id, template_id=template_id, context=variables
            )
    except SiyuError as exc:
        return _fragment(request, error=exc.message(caller.locale))
    return _fragment(request, rendered=rendered)


def _fragment(request: Request, **context: Any) -> HTMLResponse:
    values: dict[str, Any] = {"rendered": None, "error": None, **context}
    return render(request, "channels_preview.html", **values)


@router.get("/l/{code}")
def short_link(code: str, request: Request, session: DbSession, c: str | None = None) -> Response:
    """Redirect to the target and record a click event for the customer."""
    link = links.find_link(session, code)
    if link is None:
        return HTMLResponse("Not found", status_code=404)
    with session.begin_nested():
        links.click(session, link, c)
    return RedirectResponse(link.url, status_code=302)


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request) -> Response:
    """Confirm an unsubscribe (a GET never changes anything: mail scanners follow links)."""
    if links.read_unsubscribe_token(token) is None:
        return HTMLResponse("Not found", status_code=404)
    return render(request, "channels_unsubscribe.html", token=token, done=False)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe_confirm(token: str, request: Request, session: DbSession) -> Response:
    """Record the marketing unsubscribe the signed link names (RFC 8058 one-click POST too)."""
    named = links.read_unsubscribe_token(token)
    if named is None:
        return HTMLResponse("Not found", status_code=404)
    workspace_id, customer_id, channel = named
    links.record_consent(session, workspace_id, customer_id, channel, "marketing", False, "link")
    return render(request, "channels_unsubscribe.html", token=token, done=True)
