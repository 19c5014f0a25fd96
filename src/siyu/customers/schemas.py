"""Request and response shapes for customers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CustomerCreate(BaseModel):
    """A new customer: at least one of name, phone or email."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)

    @model_validator(mode="after")
    def one_of(self) -> CustomerCreate:
        if not (self.name or self.phone or self.email):
            raise ValueError("give at least one of name, phone, email")
        return self


class CustomerOut(BaseModel):
    """A customer as the API shows it; PII is masked for roles that do not need it."""

    id: int
    name: str | None
    phone: str | None
    email: str | None
    created_at: datetime


class IdentityOut(BaseModel):
    id: int
    type: str
    value: str
    source: str
    first_seen_at: datetime
    last_seen_at: datetime


class OrderSummary(BaseModel):
    orders: int
    paid_fen: int
    refunded_fen: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    channels: dict[str, int]


class TimelineItem(BaseModel):
    at: datetime
    kind: str
    type: str
    source: str
    ref: str
    amount_fen: int | None = None


class ProfileOut(CustomerOut):
    """A customer's whole profile: attributes, identities by channel, orders, timeline."""

    gender: str | None = None
    birthday: str | None = None
    province: str | None = None
    city: str | None = None
    address: str | None = None
    merged_into_id: int | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    identities: dict[str, list[IdentityOut]]
    order_summary: OrderSummary
    timeline: list[TimelineItem]


class SuggestionOut(BaseModel):
    id: int
    customer_a: int
    customer_b: int
    score: float
    evidence: dict[str, float]
    status: str
    created_at: datetime
    merge_id: int | None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_id: int
    reason: str = Field(default="manual", max_length=48)


class MergeOut(BaseModel):
    id: int
    survivor_id: int
    absorbed_id: int
    reason: str
    at: datetime
    conflicts: list[dict[str, str]]
    undone_at: datetime | None
