"""Membership services: members, enrollment, points for principals (the program: program.py)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from siyu.core import audit
from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.errors import InvalidField, NotFound
from siyu.customers.models import Customer
from siyu.loyalty import ledger
from siyu.loyalty.accounts import ACCOUNTS, is_pg, rows_of
from siyu.loyalty.enrollment import ENROLL_CHANNELS, enroll, enroll_many  # noqa: F401  (re-exported)
from siyu.loyalty.grants import Grant, grant_many, grant_points  # noqa: F401  (re-exported)
from siyu.loyalty.ledger import Entry, Posted
from siyu.loyalty.models import LoyaltyProgram, Member, PointsTransfer
from siyu.loyalty.program import (  # noqa: F401  (re-exported)
    DEFAULT_ACTIONS,
    DEFAULT_TIERS,
    expires_at,
    get_program,
    is_member_day,
    rules,
    tiers,
    workspace_tz,
)
from siyu.workspaces.models import Role, Workspace

# ---------------------------------------------------------------- members


def find_member(session: Session, workspace_id: int, customer_id: int) -> Member | None:
    """The customer's membership, if enrolled."""
    return session.scalars(
        select(Member).where(Member.workspace_id == workspace_id, Member.customer_id == customer_id)
    ).first()


def get_member(session: Session, principal: Principal, customer_id: int) -> Member:
    """A member the caller may see, or NotFound (another workspace's customer included)."""
    get_scoped(session, Customer, customer_id, principal)
    member = find_member(session, principal.workspace_id, customer_id)
    if member is None:
        raise NotFound(zh="此客户还不是会员", en="This customer is not a member yet")
    return member


_MEMBER = (
    select(Member.id)
    .join(Customer, Customer.id == Member.customer_id)
    .where(
        Customer.workspace_id == bindparam("ws"),
        Member.workspace_id == bindparam("ws"),
        Member.customer_id == bindparam("cid"),
    )
)
# A member's earning rules in one look-up (membership, program and time zone together).
_MEMBER_RULES = (
    select(LoyaltyProgram.action_points, LoyaltyProgram.expiry, Workspace.timezone)
    .select_from(Member)
    .join(LoyaltyProgram, LoyaltyProgram.workspace_id == Member.workspace_id)
    .join(Workspace, Workspace.id == Member.workspace_id)
    .where(Member.workspace_id == bindparam("ws"), Member.customer_id == bindparam("cid"))
)
# The same with the member's points account, locked on PostgreSQL: an earn's one look-up.
_WITH_ACCOUNT = _MEMBER_RULES.add_columns(ACCOUNTS.c.id, ACCOUNTS.c.balance).join(
    ACCOUNTS,
    (ACCOUNTS.c.workspace_id == Member.workspace_id)
    & (ACCOUNTS.c.customer_id == Member.customer_id),
)
_RULES_LOCKED = {True: _WITH_ACCOUNT.with_for_update(of=ACCOUNTS), False: _WITH_ACCOUNT}


def require_member(session: Session, principal: Principal, customer_id: int) -> None:
    """Refuse unless the customer is a member the caller may see (one indexed look-up)."""
    if principal.role in (Role.distributor, Role.supplier):
        stmt = scoped(
            select(Member.id).join(Customer, Customer.id == Member.customer_id),
            Customer,
            principal,
        ).where(Member.workspace_id == principal.workspace_id, Member.customer_id == customer_id)
        found = session.connection().execute(stmt).first()
    else:
        # Prebuilt (its cache key is memoized): workspace scoping is all these roles need.
        params = {"ws": principal.workspace_id, "cid": customer_id}
        found = session.connection().execute(_MEMBER, params).first()
    if found is None:
        get_member(session, principal, customer_id)  # raises the precise NotFound (audited)


# ---------------------------------------------------------------- points for callers


def redeem(
    session: Session,
    principal: Principal,
    customer_id: int,
    points: int,
    key: str,
    channel: str | None = None,
    reason: str | None = None,
) -> Posted:
    """Spend points on any channel; more than the balance is refused and nothing changes."""
    principal.require(Role.operator)
    ledger.check_points(points)
    _check_key(key)
    # Members only: b/S callers are checked up front; everyone else by the account lock itself,
    # which joins the membership (one round trip fewer on the hottest path).
    scoped_role = principal.role in (Role.distributor, Role.supplier)
    if scoped_role:
        require_member(session, principal, customer_id)
    entry = Entry(
        customer_id,
        points,
        "redeem",
        f"redeem:{key}",
        channel=channel,
        reason=reason,
        actor=principal.actor,
    )
    try:
        posted = ledger.debit(
            session, principal.workspace_id, entry, ledger.REDEEMED, members_only=not scoped_role
        )
    except ledger.NoAccount:
        require_member(session, principal, customer_id)  # NotFound unless a member
        raise ledger.InsufficientPoints(0, points) from None
    assert posted is not None
    return posted


def adjust(
    session: Session, principal: Principal, customer_id: int, delta: int, reason: str, key: str
) -> Posted:
    """A manual correction (+ or −) with a reason; audited."""
    principal.require(Role.operator)
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidField("delta", "调整值必须是非零整数", "must be a whole number other than 0")
    if abs(delta) > ledger.MAX_POINTS:
        raise InvalidField("delta", "调整值超出范围", f"must be within ±{ledger.MAX_POINTS}")
    if not reason or not reason.strip():
        raise InvalidField("reason", "手动调整必须填写原因", "a manual adjustment needs a reason")
    _check_key(key)
    get_member(session, principal, customer_id)
    entry = Entry(
        customer_id,
        abs(delta),
        "adjust",
        f"adjust:{key}",
        reason=reason.strip()[:256],
        actor=principal.actor,
    )
    ws = principal.workspace_id
    if delta > 0:
        program = get_program(session, ws)
        expiry = expires_at(program.expiry, now(), workspace_tz(session, ws))
        posted: Posted | None = ledger.credit(session, ws, entry, expiry, source=ledger.ADJUSTMENT)
    else:
        posted = ledger.debit(session, ws, entry, ledger.ADJUSTMENT)
    assert posted is not None
    if not posted.replay:
        audit.record(
            session,
            principal,
            "adjust_points",
            "loyalty_member",
            customer_id,
            delta=delta,
            transfer_id=posted.transfer_id,
        )
    return posted


def award_action(
    session: Session, principal: Principal, customer_id: int, action: str, key: str
) -> Posted:
    """Bonus points for an action (sign-in, review, share, joining a group), once per key."""
    principal.require(Role.operator)
    _check_key(key)
    ws = principal.workspace_id
    found = None
    if principal.role not in (Role.distributor, Role.supplier):
        stmt = _RULES_LOCKED[is_pg(session)]
        found = next(iter(rows_of(session, stmt, {"ws": ws, "cid": customer_id})), None)
    locked = None
    if found is None:  # not a member, a b/S caller, or no account yet
        require_member(session, principal, customer_id)
        actions, policy, tz = rules(session, ws)
    else:
        actions, policy, tz, locked = found[0] or {}, found[1], found[2], (found[3], found[4])
    points = actions.get(action)
    if not points:
        raise InvalidField("action", "此行为没有积分奖励", f"no points for {action!r}")
    entry = Entry(customer_id, int(points), "bonus", f"action:{action}:{key}", reason=action)
    return ledger.credit(session, ws, entry, expires_at(policy, now(), tz), locked=locked)


def statement(
    session: Session, principal: Principal, customer_id: int, before_id: int | None, limit: int
) -> list[PointsTransfer]:
    """The customer's postings, newest first (a page before `before_id`)."""
    get_scoped(session, Customer, customer_id, principal)
    stmt = scoped(select(PointsTransfer), PointsTransfer, principal).where(
        PointsTransfer.customer_id == customer_id
    )
    if before_id:
        stmt = stmt.where(PointsTransfer.id < before_id)
    return list(session.scalars(stmt.order_by(PointsTransfer.id.desc()).limit(limit)))


def _check_key(key: str) -> None:
    if not key or len(key) > 96:
        raise InvalidField("idempotency_key", "需要1到96个字符", "must be 1 to 96 characters")
