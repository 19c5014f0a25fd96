"""Group-buy templates, groups, their members (seats) and refund instructions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin

GROUP_STATUSES = ("open", "succeeded", "failed")
MEMBER_STATUSES = ("joined", "paid", "cancelled", "refunded")


class GroupTemplate(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """A group-buy offer: N people, the group price of one SKU, and the time to fill the group."""

    __tablename__ = "group_template"

    name: Mapped[str] = mapped_column(String(128))
    sku_id: Mapped[int] = mapped_column(BigId, ForeignKey("sku.id"))
    group_size: Mapped[int]
    group_price_fen: Mapped[int] = mapped_column(BigInteger)
    time_limit_minutes: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)


class GroupBuy(IdMixin, WorkspaceMixin, Base):
    """One group: open until N have paid (succeeded) or time runs out (failed)."""

    __tablename__ = "group_buy"
    __table_args__ = (UniqueConstraint("code"), Index("ix_group_buy_due", "status", "expires_at"))

    template_id: Mapped[int] = mapped_column(BigId, ForeignKey("group_template.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    leader_customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    distributor_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    size: Mapped[int]
    # Seats taken and paid; the conditional UPDATE on these is what keeps a group at N.
    seats_taken: Mapped[int] = mapped_column(default=0)
    paid_count: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class GroupMember(IdMixin, WorkspaceMixin, Base):
    """A seat in a group; (group, seat) is unique, so a group can never hold more than N."""

    __tablename__ = "group_member"
    __table_args__ = (
        UniqueConstraint("group_id", "seat"),
        UniqueConstraint("group_id", "customer_id"),
    )

    group_id: Mapped[int] = mapped_column(BigId, ForeignKey("group_buy.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"), index=True)
    seat: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="joined")
    reservation_id: Mapped[int | None] = mapped_column(BigId, default=None)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payment_ref: Mapped[str | None] = mapped_column(String(128), default=None)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class GroupRefund(IdMixin, WorkspaceMixin, Base):
    """A refund the checkout must make to a paid member of a failed group."""

    __tablename__ = "group_refund"
    __table_args__ = (UniqueConstraint("member_id"),)

    group_id: Mapped[int] = mapped_column(BigId, ForeignKey("group_buy.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("group_member.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payment_ref: Mapped[str | None] = mapped_column(String(128), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
