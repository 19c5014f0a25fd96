"""Request and response shapes for group-buy templates, groups, seats and refunds."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    sku: str = Field(min_length=1, max_length=64)
    group_size: int = Field(ge=2, le=50, strict=True)
    group_price_fen: int = Field(ge=0, strict=True)
    time_limit_minutes: int = Field(ge=1, le=7 * 24 * 60, strict=True)


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    sku_id: int
    group_size: int
    group_price_fen: int
    time_limit_minutes: int
    active: bool


class OpenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: int
    distributor_id: int | None = None


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: int


class PayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: int
    payment_ref: str = Field(min_length=1, max_length=128)


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: int
    seat: int
    status: str
    amount_fen: int
    paid_at: datetime | None


class GroupOut(BaseModel):
    id: int
    code: str
    template_id: int
    size: int
    seats_taken: int
    paid_count: int
    status: str
    expires_at: datetime
    members: list[MemberOut]


class RefundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    group_id: int
    customer_id: int
    amount_fen: int
    payment_ref: str | None
    status: str
    created_at: datetime
