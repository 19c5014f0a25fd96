"""Console: log in and out, switch workspace and language, the audit log."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from siyu.core import audit
from siyu.core.console import ConsoleCaller, page
from siyu.core.errors import Unauthorized
from siyu.core.http import LANG_COOKIE, SESSION_COOKIE, DbSession, client_address
from siyu.core.i18n import LOCALES
from siyu.core.pagination import decode_cursor, encode_cursor
from siyu.core.templating import render
from siyu.workspaces import service
from siyu.workspaces.models import Role

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "siyu_login_csrf"


def _cookie(
    request: Request, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def _login_page(request: Request, error: str | None = None, status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(16)
    response = render(request, "login.html", status_code, csrf=token, error=error)
    _cookie(request, response, LOGIN_CSRF, token, max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    """The login page."""
    return _login_page(request)


@router.post("/login")
def login(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Check the password, open a session, set the HttpOnly cookie."""
    expected = request.cookies.get(LOGIN_CSRF)
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _login_page(request, "login.expired", 403)
    settings = request.app.state.settings
    try:
        _, token = service.login(
            session, username, password, client_address(request), settings.session_hours
        )
    except Unauthorized:
        return _login_page(request, "login.failed", 401)
    response = RedirectResponse("/", status_code=303)
    _cookie(request, response, SESSION_COOKIE, token, max_age=settings.session_hours * 3600)
    response.delete_cookie(LOGIN_CSRF, path="/")
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession, caller: ConsoleCaller) -> Response:
    """End the session and clear the cookie."""
    service.logout(session, request.state.console_session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/workspace/switch")
def switch(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    workspace_id: Annotated[int, Form()],
) -> Response:
    """Act in another workspace the user belongs to."""
    service.switch_workspace(session, request.state.console_session, workspace_id)
    return RedirectResponse("/", status_code=303)


@router.get("/lang/{locale}")
def language(request: Request, locale: str, next: str = "/") -> Response:
    """Switch the console language (a preference cookie)."""
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if locale in LOCALES:
        _cookie(request, response, LANG_COOKIE, locale, max_age=365 * 86400)
    return response


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: DbSession,
    caller: ConsoleCaller,
    action: str | None = None,
    cursor: str | None = None,
) -> Response:
    """The audit log, newest first (admins only)."""
    if caller.role is not Role.admin:
        return page(request, session, caller, "forbidden.html", "audit", status_code=403)
    rows = audit.query(
        session,
        caller.workspace_id,
        action=action or None,
        before_id=decode_cursor(cursor),
        limit=50,
    )
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == 50 else None
    return page(
        request,
        session,
        caller,
        "audit.html",
        "audit",
        rows=rows,
        action=action or "",
        next_cursor=next_cursor,
    )
