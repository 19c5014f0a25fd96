"""Promotions tables. Coupons: templates and the coupons issued from them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, UTCDateTime
from siyu.core.models import IdMixin, TimestampMixin, WorkspaceMixin
from siyu.customers.merge import register_owned

COUPON_KINDS = ("threshold", "percent", "fixed", "free_shipping")
COUPON_STATUSES = ("issued", "redeemed", "expired", "void")


class CouponTemplate(IdMixin, WorkspaceMixin, TimestampMixin, Base):
    """What a coupon gives (满50减20, 8折, ¥10 off, free shipping), to whom, when, how often."""

    __tablename__ = "coupon_template"

    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    threshold_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # threshold and fixed: the amount off; free_shipping: the most shipping it covers.
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    percent_off: Mapped[int] = mapped_column(default=0)
    max_discount_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Empty lists: the whole cart counts; otherwise only lines of these categories or SKUs.
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    skus: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A fixed window, or valid_days from issue (whichever ends first when both are set).
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    valid_days: Mapped[int | None] = mapped_column(default=None)
    per_customer_limit: Mapped[int] = mapped_column(default=1)
    # The most face value that may be handed out in total; None = no cap.
    budget_fen: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Stackable coupons combine with each other; with_tier_discount: also with the tier's.
    stackable: Mapped[bool] = mapped_column(default=False)
    with_tier_discount: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Issue automatically to whoever does this event type (e.g. "join_group"); None = never.
    trigger_event: Mapped[str | None] = mapped_column(String(32), default=None)
    issued_count: Mapped[int] = mapped_column(default=0)
    committed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    redeemed_count: Mapped[int] = mapped_column(default=0)
    redeemed_fen: Mapped[int] = mapped_column(BigInteger, default=0)


@register_owned
class Coupon(IdMixin, WorkspaceMixin, Base):
    """One coupon held by one customer; its code is secret and carries a check character."""

    __tablename__ = "coupon"
    __table_args__ = (
        UniqueConstraint("code"),
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_coupon_customer_status", "customer_id", "status"),
        Index("ix_coupon_template_customer", "template_id", "customer_id"),
    )

    template_id: Mapped[int] = mapped_column(BigId, ForeignKey("coupon_template.id"))
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customer.id"))
    code: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default="issued")
    # manual, bulk, segment, journey, event, member_day, birthday, demo
    source: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # "<channel>:<external order id>", so a refund of that order can reverse the redemption.
    order_ref: Mapped[str | None] = mapped_column(String(96), default=None, index=True)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
