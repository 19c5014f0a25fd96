"""Cursor pagination: opaque, signed cursors over an increasing id."""

from __future__ import annotations

import base64
from typing import Generic, TypeVar

from pydantic import BaseModel

from siyu.core.crypto import get_keyring
from siyu.core.errors import InvalidField

T = TypeVar("T")
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    """A page of items and the cursor of the next one (null on the last page)."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: int) -> str:
    """An opaque cursor that resumes after last_id."""
    raw = f"{last_id}.{get_keyring().sign(f'cursor:{last_id}')}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor resumes after; a tampered cursor is a clear error."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        last_id, signature = raw.split(".", 1)
        if get_keyring().verify(f"cursor:{last_id}", signature):
            return int(last_id)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidField("cursor", "分页游标无效", "not a cursor this server issued")


def check_limit(limit: int) -> int:
    """Page sizes run from 1 to 200."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidField("limit", f"应在1到{MAX_LIMIT}之间", f"must be between 1 and {MAX_LIMIT}")
    return limit
