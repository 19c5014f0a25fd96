"""Delivery receipts: provider callbacks move a sent touch to delivered or failed.

Accepted shapes (a list or one object): Aliyun SMS reports ({biz_id, success, err_code}),
Tencent Cloud SMS reports ({sid, report_status, errmsg}) and a generic one
({message_id, status: delivered|failed, reason}) for webhooks and others.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.channels.models import ChannelConfig, Touch
from siyu.core.clock import now
from siyu.core.crypto import get_keyring
from siyu.core.errors import InvalidField

RECEIVABLE = ("sent", "delivered")


def receipt_token(config: ChannelConfig) -> str:
    """The unguessable path segment of a config's receipt URL."""
    return get_keyring().sign(f"receipt:{config.workspace_id}:{config.channel}")[:24]


def parse(item: Any) -> tuple[str, bool, str | None]:
    """(provider message id, delivered?, failure code) of one report."""
    if not isinstance(item, dict):
        raise InvalidField("receipt", "回执应为对象", "a receipt must be an object")
    if "biz_id" in item:
        ok = item.get("success") in (True, "true")
        return str(item["biz_id"]), ok, None if ok else str(item.get("err_code") or "")
    if "sid" in item:
        ok = item.get("report_status") == "SUCCESS"
        return str(item["sid"]), ok, None if ok else str(item.get("errmsg") or "")
    if "message_id" in item and item.get("status") in ("delivered", "failed"):
        ok = item["status"] == "delivered"
        return str(item["message_id"]), ok, None if ok else str(item.get("reason") or "")
    raise InvalidField("receipt", "无法识别的回执格式", "unrecognized receipt format")


def apply_receipts(session: Session, config: ChannelConfig, body: Any) -> dict[str, int]:
    """Apply a batch of reports; unknown message ids are counted, not errors."""
    items = body if isinstance(body, list) else [body]
    parsed = [parse(item) for item in items]  # all or nothing: a bad item refuses the batch
    counts = {"delivered": 0, "failed": 0, "unknown": 0}
    for message_id, ok, code in parsed:
        touch = session.scalars(
            select(Touch).where(
                Touch.workspace_id == config.workspace_id,
                Touch.channel == config.channel,
                Touch.provider_message_id == message_id,
            )
        ).first()
        if touch is None or touch.status not in RECEIVABLE:
            counts["unknown"] += 1
            continue
        if ok:
            touch.status, touch.delivered_at = "delivered", touch.delivered_at or now()
            counts["delivered"] += 1
        else:
            touch.status, touch.reason, touch.detail = "failed", "undelivered", (code or "")[:500]
            counts["failed"] += 1
    session.flush()
    return counts
