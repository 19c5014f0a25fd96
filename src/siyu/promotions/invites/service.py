"""Invite rewards: links, invitees checked for fraud, both sides rewarded at the goal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.crypto import get_keyring
from siyu.core.errors import InvalidField, NotFound
from siyu.customers.models import Customer, Identity
from siyu.customers.oneid import Resolver, Sighting
from siyu.distribution.service import new_code
from siyu.ingest.service import attributes_of, identifiers_of
from siyu.promotions.invites import rewards
from siyu.promotions.invites.models import Invite, InviteCampaign, InviteLink
from siyu.promotions.invites.schemas import AcceptIn, CampaignIn, ReportOut
from siyu.workspaces.models import Role, Workspace

# Identifiers a fraud ring shares: one phone or one device behind many "new" customers.
CLUSTER_TYPES = {"phone": "shared_phone", "device_id": "shared_device"}


def create_campaign(session: Session, principal: Principal, data: CampaignIn) -> InviteCampaign:
    """An invite campaign; a coupon reward needs its template, a points reward some points."""
    principal.require(Role.operator)
    if data.reward_kind == "coupon" and data.coupon_template_id is None:
        raise InvalidField("coupon_template_id", "优惠券奖励需指定券模板", "required for coupons")
    if data.reward_kind == "points" and not (data.inviter_points or data.invitee_points):
        raise InvalidField("inviter_points", "积分奖励需大于0", "give some points to reward")
    campaign = InviteCampaign(workspace_id=principal.workspace_id, **data.model_dump())
    session.add(campaign)
    session.flush()
    audit.record(session, principal, "create", "invite_campaign", campaign.id)
    return campaign


def get_campaign(session: Session, principal: Principal, campaign_id: int) -> InviteCampaign:
    """A campaign of the caller's workspace."""
    campaign = session.get(InviteCampaign, campaign_id)
    if campaign is None or campaign.workspace_id != principal.workspace_id:
        raise NotFound()
    return campaign


def link_for(
    session: Session, principal: Principal, campaign_id: int, inviter_id: int
) -> InviteLink:
    """The inviter's link for a campaign (the same one every time they ask)."""
    principal.require(Role.operator)
    campaign = get_campaign(session, principal, campaign_id)
    if not session.scalar(
        select(Customer.id).where(
            Customer.workspace_id == principal.workspace_id, Customer.id == inviter_id
        )
    ):
        raise InvalidField("inviter_id", "邀请人不存在", "no such customer")
    found = session.scalars(
        select(InviteLink).where(
            InviteLink.campaign_id == campaign.id, InviteLink.inviter_id == inviter_id
        )
    ).first()
    if found is not None:
        return found
    link = InviteLink(
        workspace_id=principal.workspace_id,
        campaign_id=campaign.id,
        inviter_id=inviter_id,
        code=new_code("i"),
        created_at=now(),
    )
    session.add(link)
    session.flush()
    return link


def accept(session: Session, principal: Principal, code: str, data: AcceptIn) -> Invite:
    """Someone arrives through a link: rejected (and why) or registered, rewarded at the goal."""
    principal.require(Role.operator)
    link = session.scalars(
        select(InviteLink).where(
            InviteLink.workspace_id == principal.workspace_id, InviteLink.code == code
        )
    ).first()
    if link is None:
        raise NotFound(zh=f"没有邀请码 {code}", en=f"No invite link {code}")
    campaign = session.get(InviteCampaign, link.campaign_id)
    assert campaign is not None
    identifiers = identifiers_of(data.identifiers)
    attributes = attributes_of(data.attributes)
    started = now()
    repeat = _repeat(session, link, identifiers)
    if repeat is not None:
        return repeat
    ring = _ring(session, link)
    reason = _shared_identifier(session, link, identifiers, ring)
    if reason is None and attributes.get("address"):
        reason = _shared_address(session, ring, attributes["address"])
    if reason is not None:
        return _record(session, link, None, "rejected", reason)
    sighting = Sighting(
        f"invite:{code}:{started.isoformat()}", identifiers, "api", started, attributes
    )
    invitee_id, _ = Resolver(session, principal).resolve(sighting)
    found = session.scalars(
        select(Invite).where(Invite.campaign_id == campaign.id, Invite.invitee_id == invitee_id)
    ).first()
    if found is not None:
        return found
    invitee = session.get(Customer, invitee_id)
    assert invitee is not None
    if invitee_id == link.inviter_id:
        return _record(session, link, None, "rejected", "self_invite")
    if invitee.created_at < started:
        return _record(session, link, invitee_id, "rejected", "not_new")
    if _today(session, link) >= campaign.daily_cap:
        return _record(session, link, invitee_id, "rejected", "daily_cap")
    invite = _record(session, link, invitee_id, "registered", None)
    if campaign.goal == "register":
        convert(session, campaign, invite)
    return invite


def _record(
    session: Session, link: InviteLink, invitee_id: int | None, status: str, reason: str | None
) -> Invite:
    invite = Invite(
        workspace_id=link.workspace_id,
        campaign_id=link.campaign_id,
        link_id=link.id,
        inviter_id=link.inviter_id,
        invitee_id=invitee_id,
        status=status,
        reason=reason,
        created_at=now(),
    )
    session.add(invite)
    session.flush()
    return invite


def _ring(session: Session, link: InviteLink) -> set[int]:
    """The inviter and everyone they already brought in: a new invitee must share nothing."""
    invited = session.scalars(
        select(Invite.invitee_id).where(
            Invite.inviter_id == link.inviter_id, Invite.invitee_id.is_not(None)
        )
    )
    return {link.inviter_id, *(i for i in invited if i is not None)}


def _repeat(
    session: Session, link: InviteLink, identifiers: list[tuple[str, str]]
) -> Invite | None:
    """The invite an invitee already has in this campaign, found by their phone: a second visit
    answers with it, rather than counting as a phone shared with the ring."""
    phones = [get_keyring().blind_index(k, v) for k, v in identifiers if k == "phone"]
    if not phones:
        return None
    return session.scalars(
        select(Invite)
        .join(Identity, Identity.customer_id == Invite.invitee_id)
        .where(
            Invite.campaign_id == link.campaign_id,
            Invite.status != "rejected",
            Identity.workspace_id == link.workspace_id,
            Identity.type == "phone",
            Identity.value_bidx.in_(phones),
        )
        .order_by(Invite.id)
    ).first()


def _shared_identifier(
    session: Session, link: InviteLink, identifiers: list[tuple[str, str]], ring: set[int]
) -> str | None:
    workspace_id, inviter_id = link.workspace_id, link.inviter_id
    keyring = get_keyring()
    for kind, value in identifiers:
        if kind not in CLUSTER_TYPES:
            continue
        owner = session.scalar(
            select(Identity.customer_id).where(
                Identity.workspace_id == workspace_id,
                Identity.type == kind,
                Identity.value_bidx == keyring.blind_index(kind, value),
            )
        )
        if owner == inviter_id and kind == "phone":
            return "self_invite"
        if owner in ring:
            return CLUSTER_TYPES[kind]
    return None


def _shared_address(session: Session, ring: set[int], address: str) -> str | None:
    wanted = "".join(address.split())
    for (known,) in session.execute(select(Customer.address).where(Customer.id.in_(ring))):
        if known and "".join(known.split()) == wanted:
            return "shared_address"
    return None


def _today(session: Session, link: InviteLink) -> int:
    """Invites the inviter already brought today (the workspace's local day) in this campaign."""
    workspace = session.get(Workspace, link.workspace_id)
    zone = ZoneInfo(workspace.timezone if workspace else "Asia/Shanghai")
    local = now().astimezone(zone)
    start = datetime(local.year, local.month, local.day, tzinfo=zone)
    return int(
        session.scalar(
            select(func.count()).where(
                Invite.campaign_id == link.campaign_id,
                Invite.inviter_id == link.inviter_id,
                Invite.status != "rejected",
                Invite.created_at >= start,
                Invite.created_at < start + timedelta(days=1),
            )
        )
        or 0
    )


def convert(session: Session, campaign: InviteCampaign, invite: Invite) -> None:
    """The invitee reached the goal: mark it and reward both sides (once each)."""
    if invite.status != "registered" or invite.invitee_id is None:
        return
    invite.status, invite.converted_at = "converted", now()
    rewards.grant(session, campaign, invite, "inviter", invite.inviter_id)
    rewards.grant(session, campaign, invite, "invitee", invite.invitee_id)
    session.flush()


def on_first_orders(session: Session, workspace_id: int, customer_ids: list[int]) -> int:
    """Registered invitees who placed an order convert in first-order campaigns."""
    stmt = (
        select(Invite, InviteCampaign)
        .join(InviteCampaign, InviteCampaign.id == Invite.campaign_id)
        .where(
            Invite.workspace_id == workspace_id,
            Invite.status == "registered",
            InviteCampaign.goal == "first_order",
            Invite.invitee_id.in_(customer_ids[:5000]),
        )
    )
    pairs = session.execute(stmt).all()
    for invite, campaign in pairs:
        convert(session, campaign, invite)
    return len(pairs)


def tree(
    session: Session, principal: Principal, customer_id: int, depth: int = 3
) -> dict[str, Any]:
    """Who a customer brought in, and whom they brought in, down to `depth` levels."""
    principal.require(Role.operator, Role.analyst)
    if depth < 1 or depth > 6:
        raise InvalidField("depth", "层级应在1到6之间", "must be between 1 and 6")
    return _node(session, principal.workspace_id, customer_id, depth, {customer_id})


def _node(
    session: Session, workspace_id: int, customer_id: int, depth: int, seen: set[int]
) -> dict[str, Any]:
    children: list[dict[str, Any]] = []
    if depth:
        rows = session.execute(
            select(Invite.invitee_id, Invite.status)
            .where(
                Invite.workspace_id == workspace_id,
                Invite.inviter_id == customer_id,
                Invite.status != "rejected",
            )
            .order_by(Invite.id)
        ).all()
        for invitee, status in rows:
            if invitee is None or invitee in seen:
                continue
            seen.add(invitee)
            child = _node(session, workspace_id, invitee, depth - 1, seen)
            children.append({**child, "status": status})
    return {"customer_id": customer_id, "invitees": children}


def report(session: Session, principal: Principal, campaign_id: int) -> ReportOut:
    """Invites, conversions, rejections by reason, reward cost and cost per new customer."""
    principal.require(Role.operator, Role.analyst)
    campaign = get_campaign(session, principal, campaign_id)
    counts: dict[tuple[str, str | None], int] = {
        (s, r): int(n)
        for s, r, n in session.execute(
            select(Invite.status, Invite.reason, func.count())
            .where(Invite.campaign_id == campaign.id)
            .group_by(Invite.status, Invite.reason)
        )
    }
    converted = counts.get(("converted", None), 0)
    registered = counts.get(("registered", None), 0) + converted
    count, cost = rewards.totals(session, campaign.id)
    return ReportOut(
        campaign_id=campaign.id,
        invites=registered,
        registered=registered,
        converted=converted,
        rejected={r or "": n for (s, r), n in sorted(counts.items(), key=str) if s == "rejected"},
        rewards=count,
        cost_fen=cost,
        cost_per_new_customer_fen=cost // converted if converted else None,
    )
