"""Idempotency-Key on creating POSTs: a replay returns the first answer, nothing made twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from siyu.core.clock import now
from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.errors import Conflict, InvalidField
from siyu.core.models import IdMixin


class IdempotencyRecord(IdMixin, Base):
    """The stored answer to a POST made with an Idempotency-Key."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    workspace_id: Mapped[int] = mapped_column(BigId)
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    response: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def request_hash(method: str, path: str, body: Any) -> str:
    """A digest of what was asked, so a key reused for another request is refused."""
    canonical = json.dumps([method, path, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def once(
    session: Session,
    workspace_id: int,
    key: str | None,
    digest: str,
    produce: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """Run produce() once per key; a replay with the same request returns the stored answer."""
    if key is None:
        return produce()
    if not 1 <= len(key) <= 128:
        raise InvalidField("Idempotency-Key", "长度应为1到128个字符", "must be 1 to 128 characters")
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key
    )
    found = session.scalars(stmt).first()
    if found is not None:
        if found.request_hash != digest:
            raise Conflict(
                zh="此 Idempotency-Key 已用于另一个请求",
                en="This Idempotency-Key was already used for a different request",
            )
        return found.status_code, found.response
    status, body = produce()
    session.add(
        IdempotencyRecord(
            workspace_id=workspace_id,
            key=key,
            request_hash=digest,
            status_code=status,
            response=body,
            created_at=now(),
        )
    )
    session.flush()
    return status, body
