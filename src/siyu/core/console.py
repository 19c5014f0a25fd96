"""What every console page shares: the logged-in caller and the shell (workspaces, CSRF)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.errors import SiyuError
from siyu.core.http import SAFE_METHODS, DbSession, csrf_token, session_principal
from siyu.core.i18n import CATALOG
from siyu.core.templating import render
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role, Workspace

T = TypeVar("T")


async def read_form_csrf(request: Request) -> None:
    """Lift csrf_token out of a posted form so the caller check can see it."""
    if request.method not in SAFE_METHODS and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        token = form.get("csrf_token")
        request.state.form_csrf = token if isinstance(token, str) else None


def console_principal(
    request: Request, session: DbSession, _form: Annotated[None, Depends(read_form_csrf)]
) -> Principal:
    """The console's caller: a session cookie only (no API keys), CSRF-checked on posts."""
    return session_principal(request, session)


ConsoleCaller = Annotated[Principal, Depends(console_principal, scope="function")]


def page(
    request: Request,
    session: Session,
    principal: Principal,
    template: str,
    active: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page inside the shell (navigation, workspace switch, language, log out)."""
    cs = request.state.console_session
    shell = {
        "csrf": csrf_token(cs.token_hash),
        "workspace_id": principal.workspace_id,
        "workspaces": [w for _, w in workspaces.memberships(session, cs.user_id)],
        "is_admin": principal.role is Role.admin,
    }
    return render(request, template, status_code, shell=shell, active=active, **context)


def is_htmx(request: Request) -> bool:
    """Whether htmx asked (answer with a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"


def labeler(locale: str) -> Callable[[str, Any], str]:
    """label("channel", "tmall") -> 天猫; unknown values are shown as they are."""
    index = 1 if locale == "en" else 0

    def label(prefix: str, value: Any) -> str:
        if value is None:
            return ""
        entry = CATALOG.get(f"{prefix}.{value}")
        return entry[index] if entry else str(value)

    return label


def local_clock(session: Session, request: Request, caller: Principal) -> Callable[[Any], str]:
    """Format instants in the workspace's time zone."""
    workspace = session.get(Workspace, caller.workspace_id)
    zone = ZoneInfo(workspace.timezone if workspace else request.app.state.settings.timezone)

    def when(at: datetime | None) -> str:
        return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else ""

    return when


def yuan(fen: int | None) -> str:
    """¥1,234.50 from 123450 fen, exactly (no float)."""
    return f"¥{Decimal(fen or 0) / 100:,.2f}"


def attempt(session: Session, change: Callable[[], T]) -> T | SiyuError:
    """Run a change in a savepoint: a domain error undoes only it and is handed back."""
    try:
        with session.begin_nested():
            return change()
    except SiyuError as exc:
        return exc
