"""What the fission routers share: a creating POST answered once per Idempotency-Key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from siyu.core.auth import Principal
from siyu.core.idempotency import once, request_hash


def created(
    request: Request,
    session: Session,
    caller: Principal,
    key: str | None,
    body: BaseModel | None,
    produce: Callable[[], BaseModel],
) -> JSONResponse:
    """201 with what produce() made; replaying the same Idempotency-Key returns the first answer."""

    def run() -> tuple[int, Any]:
        return 201, produce().model_dump(mode="json")

    payload = body.model_dump(mode="json") if body is not None else None
    digest = request_hash("POST", request.url.path, payload)
    status, answer = once(session, caller.workspace_id, key, digest, run)
    return JSONResponse(answer, status_code=status)
