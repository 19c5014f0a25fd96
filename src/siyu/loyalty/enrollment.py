"""Free enrollment (0元入会), one customer or many: consent recorded, card issued, tier set.

`enroll` is a batch of one. A batch reads the customers the caller may see and the members
among them once, inserts the consents and members in bulk, audits each enrollment and
re-tiers the new members from one read of their standing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.db import one_of
from siyu.core.errors import InvalidField
from siyu.customers.models import Consent, Customer
from siyu.loyalty.models import Member
from siyu.workspaces.models import Role

ENROLL_CHANNELS = ("tmall", "taobao", "jd", "youzan", "douyin", "wechat", "wecom", "store", "api")


def enroll(
    session: Session, principal: Principal, customer_id: int, channel: str, consent: bool
) -> tuple[Member, bool]:
    """Free enrollment with the customer's recorded consent; (member, created)."""
    return enroll_many(session, principal, [(customer_id, channel)], consent)[0]


def enroll_many(
    session: Session, principal: Principal, wanted: Sequence[tuple[int, str]], consent: bool
) -> list[tuple[Member, bool]]:
    """Enroll (customer id, channel) pairs in order; (member, created) for each. The whole
    batch is refused (nothing written) for an unknown channel, no consent or a customer the
    caller may not see; one already a member answers with that membership."""
    from siyu.loyalty.service import get_program
    from siyu.loyalty.tiers import evaluate_many

    principal.require(Role.operator)
    _check(session, principal, wanted, consent)
    ws, at = principal.workspace_id, now()
    ids = sorted({customer_id for customer_id, _ in wanted})
    members = {
        m.customer_id: m
        for m in session.scalars(
            select(Member).where(
                Member.workspace_id == ws, one_of(session, Member.customer_id, ids)
            )
        )
    }
    fresh: dict[int, Member] = {}
    for customer_id, channel in wanted:
        if customer_id not in members and customer_id not in fresh:
            fresh[customer_id] = _member(ws, customer_id, channel, at)
    if fresh:
        get_program(session, ws)
        consents = [_consent(ws, m.customer_id, m.channel, at) for m in fresh.values()]
        session.add_all(consents)
        session.flush()
        for member, record in zip(fresh.values(), consents, strict=True):
            member.consent_id = record.id
        session.add_all(fresh.values())
        session.flush()
        for member in fresh.values():
            audit.record(
                session, principal, "enroll", "loyalty_member", member.id, channel=member.channel
            )
        evaluate_many(session, ws, list(fresh.values()))
    answered: set[int] = set()  # a customer named twice: the second finds the first's card
    out = []
    for customer_id, _ in wanted:
        created = customer_id in fresh and customer_id not in answered
        answered.add(customer_id)
        out.append((members.get(customer_id) or fresh[customer_id], created))
    return out


def _check(
    session: Session, principal: Principal, wanted: Sequence[tuple[int, str]], consent: bool
) -> None:
    """The single enrollment's refusals, in its order: customer, channel, consent."""
    ids = sorted({customer_id for customer_id, _ in wanted})
    stmt = scoped(select(Customer.id), Customer, principal)
    visible = set(session.scalars(stmt.where(one_of(session, Customer.id, ids))))
    for customer_id in ids:
        if customer_id not in visible:
            get_scoped(session, Customer, customer_id, principal)  # raises the precise refusal
    for _, channel in wanted:
        if channel not in ENROLL_CHANNELS:
            en = f"must be one of {', '.join(ENROLL_CHANNELS)}"
            raise InvalidField("channel", "未知渠道", en)
    if consent is not True:
        raise InvalidField("consent", "入会需要客户同意会员条款", "the customer must agree to join")


def _consent(ws: int, customer_id: int, channel: str, at: datetime) -> Consent:
    return Consent(
        workspace_id=ws,
        customer_id=customer_id,
        channel=channel,
        purpose="membership",
        granted=True,
        source="enrollment",
        at=at,
    )


def _member(ws: int, customer_id: int, channel: str, at: datetime) -> Member:
    return Member(
        workspace_id=ws,
        customer_id=customer_id,
        card_no=f"M{secrets.randbelow(10**11):011d}",
        channel=channel,
        enrolled_at=at,
        tier_rank=0,
        tier_since=at,
    )
