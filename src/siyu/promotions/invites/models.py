"""Invite campaigns, invite links, invites (the referral tree's edges) and their rewards."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin

GOALS = ("register", "first_order")
REWARD_KINDS = ("points", "coupon")
INVITE_STATUSES = ("registered", "converted", "rejected")
REJECT_REASONS = (
    "self_invite",
    "shared_phone",
    "shared_device",
    "shared_address",
    "daily_cap",
    "not_new",
    "already_invited",
)


class InviteCampaign(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """Both sides rewarded when the invitee reaches the goal; a daily cap per inviter."""

    __tablename__ = "invite_campaign"

    name: Mapped[str] = mapped_column(String(128))
    goal: Mapped[str] = mapped_column(String(16), default="first_order")
    reward_kind: Mapped[str] = mapped_column(String(16), default="points")
    inviter_points: Mapped[int] = mapped_column(default=0)
    invitee_points: Mapped[int] = mapped_column(default=0)
    coupon_template_id: Mapped[int | None] = mapped_column(BigId, default=None)
    # What one reward costs the brand, for the report's cost per new customer.
    reward_cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    daily_cap: Mapped[int] = mapped_column(default=20)
    active: Mapped[bool] = mapped_column(default=True)


class InviteLink(IdMixin, WorkspaceMixin, Base):
    """An inviter's personal link for one campaign."""

    __tablename__ = "invite_link"
    __table_args__ = (UniqueConstraint("code"), UniqueConstraint("campaign_id", "inviter_id"))

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("invite_campaign.id"))
    inviter_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Invite(IdMixin, WorkspaceMixin, Base):
    """Someone arrived through an inviter's link: registered, converted, or rejected and why."""

    __tablename__ = "invite"
    __table_args__ = (
        UniqueConstraint("campaign_id", "invitee_id"),
        Index("ix_invite_inviter", "inviter_id", "created_at"),
    )

    campaign_id: Mapped[int] = mapped_column(BigId, ForeignKey("invite_campaign.id"), index=True)
    link_id: Mapped[int] = mapped_column(BigId, ForeignKey("invite_link.id"))
    inviter_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    invitee_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("customer.id"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class InviteReward(IdMixin, WorkspaceMixin, Base):
    """A reward granted to one side of a converted invite (once: key is unique)."""

    __tablename__ = "invite_reward"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    invite_id: Mapped[int] = mapped_column(BigId, ForeignKey("invite.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    side: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[int] = mapped_column(default=0)
    coupon_template_id: Mapped[int | None] = mapped_column(BigId, default=None)
    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="granted")
    cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
