"""HTTP plumbing shared by the API and the console: sessions, callers, locale, errors, limits."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu.core.auth import Principal
from siyu.core.crypto import get_keyring
from siyu.core.errors import CsrfFailed, PayloadTooLarge, SiyuError, Unauthorized
from siyu.workspaces import service as workspaces

log = logging.getLogger(__name__)
SESSION_COOKIE = "siyu_session"
LANG_COOKIE = "siyu_lang"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def request_locale(request: Request) -> str:
    """zh-CN or en: the console's language cookie, else Accept-Language, else the default."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in ("zh-CN", "en"):
        return chosen
    header = request.headers.get("accept-language", "").strip().lower()
    if header.startswith("en"):
        return "en"
    if header.startswith("zh"):
        return "zh-CN"
    return request.app.state.settings.locale


def client_address(request: Request) -> str | None:
    """The caller's address, for the audit log."""
    return request.client.host if request.client else None


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the endpoint returns, rolled back on error."""
    with request.app.state.db.transaction() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


def csrf_token(session_token_hash: str) -> str:
    """The CSRF token bound to one console session."""
    return get_keyring().sign(f"csrf:{session_token_hash}")


def get_principal(request: Request, session: DbSession) -> Principal:
    """Authenticate by bearer API key, or by console session cookie (CSRF-checked when unsafe)."""
    locale, address = request_locale(request), client_address(request)
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, raw = auth.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized(
                zh="Authorization 头应为 Bearer <密钥>", en="Authorization must be 'Bearer <key>'"
            )
        return workspaces.principal_for_key(session, raw.strip(), address, locale)
    return session_principal(request, session)


def session_principal(request: Request, session: Session) -> Principal:
    """Authenticate by console session cookie; unsafe methods must carry the CSRF token."""
    locale, address = request_locale(request), client_address(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized()
    principal, cs = workspaces.principal_for_session(session, token, address, locale)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token") or getattr(request.state, "form_csrf", None)
        if sent != csrf_token(cs.token_hash):
            raise CsrfFailed()
    request.state.console_session = cs
    return principal


Caller = Annotated[Principal, Depends(get_principal, scope="function")]


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/")


def install_error_handlers(app: FastAPI) -> None:
    """Render every error in one place: JSON {code, message} for the API, pages for the console."""

    @app.exception_handler(SiyuError)
    async def siyu_error(request: Request, exc: SiyuError) -> Response:
        if _wants_html(request) and isinstance(exc, Unauthorized):
            return RedirectResponse("/login", status_code=303)
        return JSONResponse(exc.body(request_locale(request)), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [_field_error(e) for e in exc.errors()]
        zh = "输入无效：" + "；".join(f"{e['field']} {e['reason']}" for e in errors)
        en = "Invalid input: " + "; ".join(f"{e['field']} {e['reason']}" for e in errors)
        body = {
            "code": "validation_error",
            "message": zh if request_locale(request).startswith("zh") else en,
            "errors": errors,
        }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        zh, en = {404: ("未找到", "Not found"), 405: ("不支持此方法", "Method not allowed")}.get(
            exc.status_code, (str(exc.detail), str(exc.detail))
        )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = zh if request_locale(request).startswith("zh") else en
        return JSONResponse({"code": code, "message": message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        message = (
            "服务器内部错误"
            if request_locale(request).startswith("zh")
            else "Internal server error"
        )
        return JSONResponse({"code": "internal_error", "message": message}, status_code=500)


def _field_error(error: dict[str, Any]) -> dict[str, str]:
    loc = [
        str(part)
        for part in error.get("loc", ())
        if part not in ("body", "query", "path", "header")
    ]
    if error.get("type") == "json_invalid":
        return {"field": "body", "reason": "malformed JSON"}
    return {"field": ".".join(loc) or "body", "reason": str(error.get("msg", "invalid"))}


class BodyLimit:
    """Refuse request bodies over the limit with 413, by header or by counting the stream.

    `larger` names exact paths (e.g. the file upload) allowed a bigger limit of their own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_bytes)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge()
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        lang = headers.get(b"accept-language", b"").decode().lower()
        exc = PayloadTooLarge()
        body = json.dumps(
            exc.body("en" if lang.startswith("en") else "zh-CN"), ensure_ascii=False
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class AccessLog:
    """Log method, path, status and time; never the query string, which may carry PII."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("siyu.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.log.info("%s %s %s %.1fms", scope["method"], scope["path"], status, elapsed)
