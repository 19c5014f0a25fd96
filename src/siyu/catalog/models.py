"""Suppliers, their products and SKUs, materials for distributors, stock and reservations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin

RESERVATION_STATUSES = ("held", "confirmed", "released")
MATERIAL_KINDS = ("image", "copy", "video", "poster", "training")


class Supplier(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A brand (品牌方) with stock; optionally siyu pulls its inventory from an HTTP endpoint."""

    __tablename__ = "supplier"
    __table_args__ = (UniqueConstraint("workspace_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    # The supplier's own id under its own name, so scoped() limits an S principal to itself.
    supplier_id: Mapped[int | None] = mapped_column(BigId, default=None)
    inventory_url: Mapped[str | None] = mapped_column(String(512), default=None)
    pull_minutes: Mapped[int] = mapped_column(default=0)
    last_pulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_pull_error: Mapped[str | None] = mapped_column(Text, default=None)
    low_stock: Mapped[int] = mapped_column(default=10)


class Product(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A product of one supplier; prices live on its SKUs."""

    __tablename__ = "product"

    supplier_id: Mapped[int] = mapped_column(BigId, ForeignKey("supplier.id"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(64))
    image_url: Mapped[str | None] = mapped_column(String(512), default=None)
    # The sales copy distributors share (卖点文案).
    copy: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default="active")


class Sku(IdMixin, WorkspaceMixin, Base):
    """One sellable variant; `code` is what orders name in their lines (order_line.sku)."""

    __tablename__ = "sku"
    __table_args__ = (UniqueConstraint("workspace_id", "code"),)

    supplier_id: Mapped[int] = mapped_column(BigId, ForeignKey("supplier.id"), index=True)
    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("product.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    price_fen: Mapped[int] = mapped_column(BigInteger)


class Stock(IdMixin, WorkspaceMixin, Base):
    """Stock of one SKU: on hand as the supplier last reported it (by version), and reserved."""

    __tablename__ = "stock"
    __table_args__ = (UniqueConstraint("sku_id"),)

    supplier_id: Mapped[int] = mapped_column(BigId, ForeignKey("supplier.id"), index=True)
    sku_id: Mapped[int] = mapped_column(BigId, ForeignKey("sku.id", ondelete="CASCADE"))
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    # The supplier's update counter: an update carrying an older version changes nothing.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reservation(IdMixin, WorkspaceMixin, Base):
    """Units held for an order or a group seat until confirmed, cancelled or timed out."""

    __tablename__ = "reservation"
    __table_args__ = (
        UniqueConstraint("workspace_id", "ref"),
        Index("ix_reservation_due", "status", "expires_at"),
    )

    supplier_id: Mapped[int] = mapped_column(BigId, ForeignKey("supplier.id"), index=True)
    sku_id: Mapped[int] = mapped_column(BigId, ForeignKey("sku.id", ondelete="CASCADE"))
    # The caller's reference (e.g. its order number), so a repeated request holds nothing twice.
    ref: Mapped[str] = mapped_column(String(128))
    quantity: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="held")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Material(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A picture, sales copy, poster or training piece distributors use (素材库)."""

    __tablename__ = "material"

    supplier_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("supplier.id"), default=None)
    product_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("product.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(256))
    body: Mapped[str | None] = mapped_column(Text, default=None)
    url: Mapped[str | None] = mapped_column(String(512), default=None)
    # Training and promotion resources can be kept for a nurture tier (None: everyone).
    tier: Mapped[str | None] = mapped_column(String(16), default=None)
