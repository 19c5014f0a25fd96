"""Request and response shapes for distributors, links, rules, the ledger and touchpoints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.distribution.models import FUNNEL_STEPS, LINK_KINDS, TIERS, TOUCHPOINT_KINDS

Tier = Literal[TIERS]  # type: ignore[valid-type]
LinkKind = Literal[LINK_KINDS]  # type: ignore[valid-type]
TouchpointKind = Literal[TOUCHPOINT_KINDS]  # type: ignore[valid-type]
Step = Literal[FUNNEL_STEPS]  # type: ignore[valid-type]


class DistributorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[\w\-]+$")
    name: str = Field(min_length=1, max_length=128)
    phone: str | None = Field(default=None, max_length=32)
    parent_id: int | None = None
    tier: Tier = "starter"
    city: str | None = Field(default=None, max_length=32)


class DistributorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    parent_id: int | None
    tier: str
    status: str
    city: str | None
    created_at: datetime


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: int | None = None
    kind: LinkKind = "link"


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    kind: str
    distributor_id: int
    product_id: int | None
    visits: int


class VisitIn(BaseModel):
    """A customer opened a share link; identifiers resolve them by OneID."""

    model_config = ConfigDict(extra="forbid")

    identifiers: dict[str, str] = Field(min_length=1)
    at: datetime | None = None


class VisitOut(BaseModel):
    distributor_id: int
    customer_id: int
    product_id: int | None


class RuleIn(BaseModel):
    """Rates in percent (0–100, two decimals), one per level: at most two levels."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    category: str | None = Field(default=None, max_length=64)
    product_id: int | None = None
    tier: Tier | None = None
    rates: list[Decimal] = Field(min_length=1)


class RuleOut(BaseModel):
    id: int
    name: str
    category: str | None
    product_id: int | None
    tier: str | None
    rates: list[str]
    active: bool


class DistributorOrderOut(BaseModel):
    """An order attributed to a distributor; money in fen."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    external_id: str
    channel: str
    distributor_id: int
    customer_id: int
    status: str
    ordered_at: datetime
    paid_at: datetime | None
    total_fen: int
    paid_fen: int
    refunded_fen: int
    touchpoint: str | None


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    distributor_id: int
    order_id: int
    refund_id: int | None
    level: int
    kind: str
    base_fen: int
    amount_fen: int
    status: str
    settle_after: datetime
    settled_at: datetime | None
    payout_id: int | None


class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(default=None, max_length=128)


class PayoutOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    distributor_id: int
    amount_fen: int
    entries: int
    paid_at: datetime


class RankRow(BaseModel):
    rank: int
    distributor_id: int
    name: str
    orders: int
    sales_fen: int
    tier: str
    suggested_tier: str


class TouchpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: TouchpointKind
    name: str = Field(min_length=1, max_length=128)
    distributor_id: int | None = None


class TouchpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    name: str
    code: str
    distributor_id: int | None


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: Step = "scan"
    identifiers: dict[str, str] = Field(min_length=1)
    at: datetime | None = None


class FunnelOut(BaseModel):
    touchpoint_id: int
    kind: str
    name: str
    code: str
    steps: dict[str, int]
    conversion_percent: str | None
    reference_percent: list[int] | None
    within_reference: bool | None
