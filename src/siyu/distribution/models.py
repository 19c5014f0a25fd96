"""Distributors, share links and visits, commission rules and ledger, payouts, touchpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin
from siyu.core.pii import EncryptedString

TIERS = ("starter", "growth", "core")  # nurture tiers: 新手, 成长, 重点培育
LINK_KINDS = ("link", "poster", "mini_code")
ENTRY_STATUSES = ("pending", "settled", "paid")
TOUCHPOINT_KINDS = (
    "package_card",
    "red_packet_card",
    "kol_comment",
    "shopping_guide",
    "store_poster",
)
FUNNEL_STEPS = ("scan", "add_wecom", "member", "first_order")
# The seeds' reference conversion (scan → add WeCom) per touchpoint, in percent.
REFERENCE_RANGES = {
    "package_card": (10, 15),
    "red_packet_card": (15, 20),
    "kol_comment": (8, 12),
}


class Distributor(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A shop owner (店主, 小b) who sells to their own circle; at most one upline."""

    __tablename__ = "distributor"
    __table_args__ = (UniqueConstraint("workspace_id", "code"),)

    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(EncryptedString("distributor.phone"), default=None)
    # Its own id under the scoping column, so scoped() shows a b principal its own profile.
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("distributor.id"), default=None)
    tier: Mapped[str] = mapped_column(String(16), default="starter")
    status: Mapped[str] = mapped_column(String(16), default="active")
    city: Mapped[str | None] = mapped_column(String(32), default=None)


class ShareLink(IdMixin, WorkspaceMixin, Base):
    """A distributor's link, poster or mini-program code for a product; code is global."""

    __tablename__ = "share_link"
    __table_args__ = (UniqueConstraint("code"),)

    distributor_id: Mapped[int] = mapped_column(BigId, ForeignKey("distributor.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("product.id"), default=None)
    kind: Mapped[str] = mapped_column(String(16), default="link")
    code: Mapped[str] = mapped_column(String(32))
    visits: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShareVisit(IdMixin, WorkspaceMixin, Base):
    """A customer opened a share link: the touch attribution looks back to."""

    __tablename__ = "share_visit"
    __table_args__ = (Index("ix_share_visit_customer_at", "customer_id", "at"),)

    link_id: Mapped[int] = mapped_column(BigId, ForeignKey("share_link.id", ondelete="CASCADE"))
    distributor_id: Mapped[int] = mapped_column(BigId, index=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CommissionRule(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """Rates in basis points for level 1 (the seller) and level 2 (their upline), at most two."""

    __tablename__ = "commission_rule"

    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[str | None] = mapped_column(String(64), default=None)
    product_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("product.id"), default=None)
    tier: Mapped[str | None] = mapped_column(String(16), default=None)
    level1_bps: Mapped[int] = mapped_column(default=0)
    level2_bps: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class CommissionEntry(IdMixin, WorkspaceMixin, Base):
    """One ledger line: a commission (positive) or a clawback (negative) for an order."""

    __tablename__ = "commission_entry"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe"),
        Index("ix_commission_entry_due", "status", "settle_after"),
        Index("ix_commission_entry_order", "order_id"),
    )

    distributor_id: Mapped[int] = mapped_column(BigId, ForeignKey("distributor.id"), index=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    refund_id: Mapped[int | None] = mapped_column(BigId, default=None)
    level: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16), default="commission")
    base_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # commission:<order>:<level> or clawback:<refund>:<level>: a replayed signal writes nothing.
    dedupe: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settle_after: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    payout_id: Mapped[int | None] = mapped_column(BigId, default=None)


class Payout(IdMixin, WorkspaceMixin, Base):
    """Settled commissions paid to one distributor at once (net of clawbacks)."""

    __tablename__ = "payout"

    distributor_id: Mapped[int] = mapped_column(BigId, ForeignKey("distributor.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    entries: Mapped[int]
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reference: Mapped[str | None] = mapped_column(String(128), default=None)


class Touchpoint(IdMixin, WorkspaceMixin, Base):
    """A package card, red-packet card, KOL comment link, shopping guide or store poster."""

    __tablename__ = "touchpoint"
    __table_args__ = (UniqueConstraint("code"),)

    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(128))
    code: Mapped[str] = mapped_column(String(32))
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TouchpointStep(IdMixin, WorkspaceMixin, Base):
    """A customer reached a funnel step through a touchpoint (each step counted once)."""

    __tablename__ = "touchpoint_step"
    __table_args__ = (
        UniqueConstraint("touchpoint_id", "customer_id", "step"),
        Index("ix_touchpoint_step_customer", "customer_id"),
    )

    touchpoint_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("touchpoint.id", ondelete="CASCADE")
    )
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    step: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
