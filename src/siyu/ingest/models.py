"""What arrives about customers: events, orders with lines, refunds, and import jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, WorkspaceMixin
from siyu.core.pii import EncryptedString
from siyu.customers.merge import register_owned

EVENT_TYPES = (
    "view",
    "add_contact",
    "join_group",
    "leave_group",
    "message",
    "click",
    "share",
    "purchase",
    "refund",
    "coupon_used",
    "complaint",
    "feedback",
    "sign_in",
    "custom",
    "segment_entered",
    "segment_exited",
    "lifecycle_stage_changed",
)
CHANNELS = ("tmall", "taobao", "jd", "youzan", "douyin", "wechat", "wecom", "store", "api")
# 1亿元: an order, line, refund or event amount above it is a slip (a unit or a stray digit),
# and one such amount would swamp every sum, RFM score and tier it reaches.
MAX_FEN = 10_000_000_000
ORDER_STATUSES = (
    "created",
    "paid",
    "shipped",
    "completed",
    "cancelled",
    "refunded",
    "partially_refunded",
)


@register_owned
class Event(IdMixin, WorkspaceMixin, Base):
    """Something a customer did, on some channel, at some time."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("workspace_id", "event_id"),
        Index("ix_event_customer_at", "customer_id", "occurred_at"),
    )

    event_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    # The identity the event was resolved through; an unmerge sends the event back by it.
    identity_id: Mapped[int | None] = mapped_column(BigId, default=None)
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(64), default=None)
    source: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EventLanding(IdMixin, WorkspaceMixin, Base):
    """An event accepted by the async path, not yet resolved by OneID (the worker drains it).

    The payload is the event as validated, encrypted: its identifiers are PII. The unique key
    dedupes replays while an event waits; once stored in `event` the row is deleted.
    """

    __tablename__ = "event_landing"
    __table_args__ = (UniqueConstraint("workspace_id", "event_id"),)

    event_id: Mapped[str] = mapped_column(String(128))
    payload: Mapped[str] = mapped_column(EncryptedString("event_landing.payload"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


@register_owned
class Order(IdMixin, WorkspaceMixin, Base):
    """An order from any channel; money in fen."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel", "external_id"),
        Index("ix_orders_customer_at", "customer_id", "ordered_at"),
    )

    external_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    identity_id: Mapped[int | None] = mapped_column(BigId, default=None)
    status: Mapped[str] = mapped_column(String(24))
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    store: Mapped[str | None] = mapped_column(String(64), default=None)
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    touchpoint: Mapped[str | None] = mapped_column(String(32), default=None)
    province: Mapped[str | None] = mapped_column(String(32), default=None)
    city: Mapped[str | None] = mapped_column(String(32), default=None)
    address: Mapped[str | None] = mapped_column(EncryptedString("order.address"), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderLine(IdMixin, WorkspaceMixin, Base):
    """One SKU on an order."""

    __tablename__ = "order_line"

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    sku: Mapped[str] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(256))
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    quantity: Mapped[int]
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class Refund(IdMixin, WorkspaceMixin, Base):
    """A full or partial refund of an order."""

    __tablename__ = "refund"
    __table_args__ = (UniqueConstraint("workspace_id", "order_id", "external_id"),)

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(256), default=None)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ImportJob(IdMixin, WorkspaceMixin, Base):
    """One file import: progress, counts and where it stopped (so it can resume)."""

    __tablename__ = "import_job"
    __table_args__ = (Index("ix_import_job_hash", "workspace_id", "file_hash"),)

    layout: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(512))
    file_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="running")
    rows_done: Mapped[int] = mapped_column(default=0)
    rows_ok: Mapped[int] = mapped_column(default=0)
    rows_failed: Mapped[int] = mapped_column(default=0)
    rows_duplicate: Mapped[int] = mapped_column(default=0)
    report_path: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ColumnMapping(IdMixin, WorkspaceMixin, Base):
    """A user's saved mapping from their file's columns to siyu's fields (generic layout)."""

    __tablename__ = "column_mapping"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="orders")
    columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
