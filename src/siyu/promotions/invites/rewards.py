"""Invite rewards through the loyalty ledger (points) or promotions (coupons), once per key.

A reward the loyalty or coupon code refuses (a spent budget, say) is kept as `failed` with the
reason, so the invite still converts and an operator sees what to fix.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.auth import system_principal
from siyu.core.clock import now
from siyu.core.errors import SiyuError
from siyu.promotions.invites.models import Invite, InviteCampaign, InviteReward


def grant(
    session: Session, campaign: InviteCampaign, invite: Invite, side: str, customer_id: int
) -> InviteReward | None:
    """Record and deliver one side's reward; a second call with the same invite does nothing."""
    key = f"invite:{invite.id}:{side}"
    if session.scalar(
        select(InviteReward.id).where(
            InviteReward.workspace_id == invite.workspace_id, InviteReward.key == key
        )
    ):
        return None
    points = campaign.inviter_points if side == "inviter" else campaign.invitee_points
    if campaign.reward_kind == "points" and not points:
        return None
    reward = InviteReward(
        workspace_id=invite.workspace_id,
        invite_id=invite.id,
        customer_id=customer_id,
        side=side,
        kind=campaign.reward_kind,
        points=points if campaign.reward_kind == "points" else 0,
        coupon_template_id=campaign.coupon_template_id,
        key=key,
        cost_fen=campaign.reward_cost_fen,
        at=now(),
    )
    try:
        with session.begin_nested():
            deliver(session, reward)
    except SiyuError as exc:
        reward.status = f"failed:{exc.code}"[:16]
    session.add(reward)
    session.flush()
    return reward


def deliver(session: Session, reward: InviteReward) -> None:
    """Post the points or issue the coupon, with the reward's key as the idempotency key."""
    if reward.kind == "points":
        from siyu.loyalty import ledger
        from siyu.loyalty.service import expires_at, get_program, workspace_tz

        ws = reward.workspace_id
        program = get_program(session, ws)
        entry = ledger.Entry(
            reward.customer_id, reward.points, "bonus", reward.key, reason="invite"
        )
        expiry = expires_at(program.expiry, now(), workspace_tz(session, ws))
        ledger.credit(session, ws, entry, expiry)
        return
    from siyu.promotions.coupons import issue_coupon

    assert reward.coupon_template_id is not None
    issue_coupon(
        session,
        system_principal(reward.workspace_id),
        reward.coupon_template_id,
        reward.customer_id,
        reward.key,
        source="invite",
    )


def totals(session: Session, campaign_id: int) -> tuple[int, int]:
    """Rewards delivered for a campaign and what they cost, in fen."""
    count, cost = session.execute(
        select(func.count(), func.coalesce(func.sum(InviteReward.cost_fen), 0))
        .join(Invite, Invite.id == InviteReward.invite_id)
        .where(Invite.campaign_id == campaign_id, InviteReward.status == "granted")
    ).one()
    return int(count), int(cost)
