"""Request and response shapes for coupons (and the cart lines the benefit check prices)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.ingest.models import CHANNELS, EVENT_TYPES
from siyu.promotions.models import COUPON_KINDS

# The most any amount may be (¥100 billion): far above real carts, far below BIGINT.
MAX_FEN = 10**13
Fen = Field(
    default=0, ge=0, le=MAX_FEN, strict=True, description="Money in fen (分), a whole number"
)
Kind = Literal[COUPON_KINDS]  # type: ignore[valid-type]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class CartLine(BaseModel):
    """One SKU in a cart about to be priced."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    category: str | None = Field(default=None, max_length=64)
    quantity: int = Field(ge=1, le=100_000, strict=True)
    unit_price_fen: int = Field(ge=0, le=MAX_FEN, strict=True)

    @property
    def amount_fen(self) -> int:
        """Quantity × unit price."""
        return self.quantity * self.unit_price_fen


class TemplateIn(BaseModel):
    """A coupon template: 满减 (threshold), percent off, fixed amount or free shipping."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    kind: Kind
    threshold_fen: int = Field(default=0, ge=0, le=MAX_FEN, strict=True)
    discount_fen: int = Field(default=0, ge=0, le=MAX_FEN, strict=True)
    percent_off: int = Field(default=0, ge=0, le=99, strict=True)
    max_discount_fen: int | None = Field(default=None, ge=1, le=MAX_FEN, strict=True)
    categories: list[str] = Field(default_factory=list, max_length=50)
    skus: list[str] = Field(default_factory=list, max_length=200)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = Field(default=None, ge=1, le=3660, strict=True)
    per_customer_limit: int = Field(default=1, ge=1, le=1000, strict=True)
    budget_fen: int | None = Field(default=None, ge=1, le=MAX_FEN, strict=True)
    stackable: bool = False
    with_tier_discount: bool = True
    trigger_event: EventType | None = None


class TemplateOut(BaseModel):
    """A template with its issuance, redemption rate and cost so far."""

    id: int
    name: str
    kind: str
    threshold_fen: int
    discount_fen: int
    percent_off: int
    max_discount_fen: int | None
    categories: list[str]
    skus: list[str]
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    per_customer_limit: int
    budget_fen: int | None
    stackable: bool
    with_tier_discount: bool
    trigger_event: str | None
    active: bool
    issued_count: int
    committed_fen: int
    redeemed_count: int
    redeemed_fen: int
    redemption_rate: float


class IssueIn(BaseModel):
    """Issue one coupon of a template to one customer."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(strict=True)
    idempotency_key: str = Field(min_length=1, max_length=96)


class BulkIssueIn(BaseModel):
    """Issue to a list of customers, or to a segment's current members."""

    model_config = ConfigDict(extra="forbid")

    customer_ids: list[int] = Field(default_factory=list, max_length=100_000)
    segment_id: int | None = None
    batch_key: str = Field(min_length=1, max_length=64)


class BulkIssueOut(BaseModel):
    issued: int
    already: int
    refused: dict[str, int]


class CouponOut(BaseModel):
    id: int
    template_id: int
    customer_id: int
    code: str
    status: str
    source: str
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime | None
    redeemed_at: datetime | None
    order_ref: str | None
    discount_fen: int


class RedeemIn(BaseModel):
    """Use a coupon on an order: the cart decides the discount."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(strict=True)
    channel: Channel
    order_external_id: str = Field(min_length=1, max_length=64)
    lines: list[CartLine] = Field(min_length=1, max_length=500)
    shipping_fen: int = Fen
