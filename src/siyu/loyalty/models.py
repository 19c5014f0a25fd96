"""Membership: the program's rules, the tier ladder, members, and the points ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin

# System accounts every points transfer balances against (double entry).
SYSTEM_ACCOUNTS = ("issued", "redeemed", "expired", "adjustment")
TRANSFER_KINDS = (
    "earn",
    "bonus",
    "birthday",
    "redeem",
    "expire",
    "clawback",
    "adjust",
    "merge",
    "unmerge",
)


class LoyaltyProgram(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """One workspace's points rules: earning rate, multipliers, expiry, member day, reviews."""

    __tablename__ = "loyalty_program"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    points_per_yuan: Mapped[int] = mapped_column(default=1)
    # What one point is worth when redeemed, in fen (100 points = ¥1 by default).
    point_value_fen: Mapped[int] = mapped_column(default=1)
    # "end_of_next_year", "days:365" or "never".
    expiry: Mapped[str] = mapped_column(String(32), default="end_of_next_year")
    # Day of the month that is member day (会员日), in the workspace's time zone; None = off.
    member_day: Mapped[int | None] = mapped_column(default=18)
    # Multipliers are integer percent (200 = double points), never floats.
    member_day_multiplier_pct: Mapped[int] = mapped_column(default=200)
    # {"口红": 150}: a category's lines earn at this percent.
    category_multiplier_pct: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # {"sign_in": 5, "review": 10, "share": 5, "join_group": 20}: points per action.
    action_points: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Tier reviews run on this day of each month; a member below their tier gets grace_days.
    review_day: Mapped[int] = mapped_column(default=1)
    grace_days: Mapped[int] = mapped_column(default=30)
    # Coupon templates the schedule hands out (member day, birthday); None = none.
    member_day_template_id: Mapped[int | None] = mapped_column(BigId, default=None)
    birthday_template_id: Mapped[int | None] = mapped_column(BigId, default=None)


class Tier(IdMixin, WorkspaceMixin, Base):
    """One rung of the ladder (普通会员 / 银卡 / 金卡 / 黑金) and the benefits it carries."""

    __tablename__ = "loyalty_tier"
    __table_args__ = (UniqueConstraint("workspace_id", "rank"),)

    rank: Mapped[int]
    name: Mapped[str] = mapped_column(String(32))
    # Qualifies by rolling 12-month spend, or by activity score when min_activity > 0.
    min_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    min_activity: Mapped[int] = mapped_column(default=0)
    points_multiplier_pct: Mapped[int] = mapped_column(default=100)
    # Percent of the price the member pays: 95 = 95折 (exclusive discount); 100 = none.
    discount_pct: Mapped[int] = mapped_column(default=100)
    free_shipping: Mapped[bool] = mapped_column(default=False)
    birthday_points: Mapped[int] = mapped_column(default=0)
    # Hours before a launch the tier may buy (priority purchase); 0 = none.
    early_access_hours: Mapped[int] = mapped_column(default=0)
    # On member day the member pays this percent on top (80 = extra 8折); 100 = none.
    member_day_pct: Mapped[int] = mapped_column(default=100)
    dedicated_service: Mapped[bool] = mapped_column(default=False)


class Member(IdMixin, WorkspaceMixin, Base):
    """A customer enrolled in the program (0元入会), with their tier and its review state."""

    __tablename__ = "loyalty_member"
    __table_args__ = (UniqueConstraint("workspace_id", "customer_id"),)

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    card_no: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))
    consent_id: Mapped[int | None] = mapped_column(BigId, default=None)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tier_rank: Mapped[int] = mapped_column(default=0)
    tier_since: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set at a review that finds the member below their tier; the downgrade waits until then.
    downgrade_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    activity_score: Mapped[int] = mapped_column(default=0)


class PointsAccount(IdMixin, WorkspaceMixin, Base):
    """A customer's points account: the balance cached under a row lock, never below zero."""

    __tablename__ = "points_account"
    __table_args__ = (
        UniqueConstraint("workspace_id", "customer_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
    )

    customer_id: Mapped[int] = mapped_column(BigId)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class PointsTransfer(IdMixin, WorkspaceMixin, Base):
    """One double-entry posting: points move from the debit account to the credit account.

    Accounts are named by code: "customer:<id>" or a system account "system:issued",
    "system:redeemed", "system:expired", "system:adjustment". Every posting is one row with
    both sides, so the ledger sums to zero by construction; an account's balance is what was
    credited to it minus what was debited from it. System balances are not cached (that row
    would be one hot spot every transaction waits on).
    """

    __tablename__ = "points_transfer"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_points_transfer_customer", "customer_id", "id"),
        Index("ix_points_transfer_ws_kind", "workspace_id", "kind"),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("debit_account <> credit_account", name="two_sides"),
    )

    idempotency_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int] = mapped_column(BigId)
    debit_account: Mapped[str] = mapped_column(String(32))
    credit_account: Mapped[str] = mapped_column(String(32))
    points: Mapped[int] = mapped_column(BigInteger)
    # The customer's balance right after this transfer (a running statement).
    balance_after: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int | None] = mapped_column(BigId, default=None, index=True)
    channel: Mapped[str | None] = mapped_column(String(16), default=None)
    reason: Mapped[str | None] = mapped_column(String(256), default=None)
    actor: Mapped[str] = mapped_column(String(64), default="system")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PointsLot(IdMixin, WorkspaceMixin, Base):
    """Points earned together, with what is left of them and when they expire (FIFO)."""

    __tablename__ = "points_lot"
    __table_args__ = (
        # Open lots in redemption order (FIFO): the head of a customer's lots is an index scan.
        Index(
            "ix_points_lot_fifo",
            "workspace_id",
            "customer_id",
            "expires_at",
            "id",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
        Index("ix_points_lot_due", "workspace_id", "expires_at"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
    )

    customer_id: Mapped[int] = mapped_column(BigId)
    transfer_id: Mapped[int] = mapped_column(BigId)
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
