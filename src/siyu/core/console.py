"""What every console page shares: the logged-in caller and the shell (workspaces, CSRF)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.http import SAFE_METHODS, DbSession, csrf_token, session_principal
from siyu.core.templating import render
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role


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
