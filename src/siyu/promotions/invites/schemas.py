"""Request and response shapes for invite campaigns, links, invites and the report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from siyu.ingest.schemas import Attributes


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    goal: Literal["register", "first_order"] = "first_order"
    reward_kind: Literal["points", "coupon"] = "points"
    inviter_points: int = Field(default=0, ge=0, le=1_000_000, strict=True)
    invitee_points: int = Field(default=0, ge=0, le=1_000_000, strict=True)
    coupon_template_id: int | None = None
    reward_cost_fen: int = Field(default=0, ge=0, strict=True)
    daily_cap: int = Field(default=20, ge=1, le=10_000, strict=True)


class CampaignOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    goal: str
    reward_kind: str
    inviter_points: int
    invitee_points: int
    coupon_template_id: int | None
    reward_cost_fen: int
    daily_cap: int
    active: bool


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inviter_id: int


class LinkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    inviter_id: int
    code: str


class AcceptIn(BaseModel):
    """The invitee arrives through the link, named by identifiers (phone, device, ...)."""

    model_config = ConfigDict(extra="forbid")

    identifiers: dict[str, str] = Field(min_length=1)
    attributes: Attributes | None = None


class InviteOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    campaign_id: int
    inviter_id: int
    invitee_id: int | None
    status: str
    reason: str | None
    created_at: datetime
    converted_at: datetime | None


class ReportOut(BaseModel):
    campaign_id: int
    invites: int
    registered: int
    converted: int
    rejected: dict[str, int]
    rewards: int
    cost_fen: int
    cost_per_new_customer_fen: int | None


TreeNode = dict[str, Any]
