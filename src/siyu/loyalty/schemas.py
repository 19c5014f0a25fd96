"""Request and response shapes for membership, tiers and points."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.ingest.models import CHANNELS
from siyu.promotions.schemas import MAX_FEN, CouponOut

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Key = Field(min_length=1, max_length=96)


class EnrollIn(BaseModel):
    """Free enrollment (0元入会): the customer, where they joined, and their consent."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(strict=True)
    channel: Channel
    consent: bool = Field(strict=True)


class MemberOut(BaseModel):
    customer_id: int
    card_no: str
    channel: str
    enrolled_at: datetime
    tier_rank: int
    tier_since: datetime
    downgrade_due_at: datetime | None
    activity_score: int


class TierOut(BaseModel):
    rank: int
    name: str
    min_spend_fen: int
    min_activity: int
    points_multiplier_pct: int
    discount_pct: int
    free_shipping: bool
    birthday_points: int
    early_access_hours: int
    member_day_pct: int
    dedicated_service: bool


class TierIn(BaseModel):
    """A rung's thresholds and benefits (percentages are whole numbers)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=32)
    min_spend_fen: int = Field(ge=0, le=MAX_FEN, strict=True)
    min_activity: int = Field(default=0, ge=0, strict=True)
    points_multiplier_pct: int = Field(default=100, ge=0, le=1000, strict=True)
    discount_pct: int = Field(default=100, ge=1, le=100, strict=True)
    free_shipping: bool = False
    birthday_points: int = Field(default=0, ge=0, le=1_000_000, strict=True)
    early_access_hours: int = Field(default=0, ge=0, le=720, strict=True)
    member_day_pct: int = Field(default=100, ge=1, le=100, strict=True)
    dedicated_service: bool = False


class ProgramIn(BaseModel):
    """Points rules; only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    points_per_yuan: int | None = Field(default=None, ge=0, le=1000, strict=True)
    point_value_fen: int | None = Field(default=None, ge=0, le=10_000, strict=True)
    expiry: str | None = Field(
        default=None, pattern=r"^(never|end_of_next_year|days:[1-9]\d{0,4})$"
    )
    member_day: int | None = Field(default=None, ge=1, le=28, strict=True)
    member_day_multiplier_pct: int | None = Field(default=None, ge=100, le=1000, strict=True)
    category_multiplier_pct: dict[str, int] | None = None
    action_points: dict[str, int] | None = None
    review_day: int | None = Field(default=None, ge=1, le=28, strict=True)
    grace_days: int | None = Field(default=None, ge=0, le=365, strict=True)
    member_day_template_id: int | None = None
    birthday_template_id: int | None = None


class ProgramOut(BaseModel):
    points_per_yuan: int
    point_value_fen: int
    expiry: str
    member_day: int | None
    member_day_multiplier_pct: int
    category_multiplier_pct: dict[str, int]
    action_points: dict[str, int]
    review_day: int
    grace_days: int
    member_day_template_id: int | None
    birthday_template_id: int | None


class TransferOut(BaseModel):
    id: int
    kind: str
    customer_id: int
    debit_account: str
    credit_account: str
    points: int
    balance_after: int
    order_id: int | None
    channel: str | None
    reason: str | None
    actor: str
    at: datetime
    detail: dict[str, Any]


class PostedOut(BaseModel):
    transfer_id: int
    points: int
    balance_after: int
    replay: bool


class RedeemPointsIn(BaseModel):
    """Spend points on any channel, once per key."""

    model_config = ConfigDict(extra="forbid")

    points: int = Field(strict=True, gt=0)
    idempotency_key: str = Key
    channel: Channel | None = None
    reason: str | None = Field(default=None, max_length=256)


class AdjustIn(BaseModel):
    """A manual correction: positive or negative, with a reason."""

    model_config = ConfigDict(extra="forbid")

    delta: int = Field(strict=True)
    reason: str = Field(min_length=1, max_length=256)
    idempotency_key: str = Key


class ActionIn(BaseModel):
    """Bonus points for an action (sign_in, review, share, join_group)."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=32)
    idempotency_key: str = Key


class CardOut(BaseModel):
    """The member card: tier, points, benefits and recent history, as every channel shows it."""

    member: MemberOut
    tier: TierOut
    next_tier: TierOut | None
    spend_12m_fen: int
    points_balance: int
    points_value_fen: int
    points_expiring: list[dict[str, Any]]
    history: list[TransferOut]
    coupons: list[CouponOut]
