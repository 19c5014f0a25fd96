"""Group-buy: open a group, join by its code, pay in time, or fail and refund every member.

Seats are taken with one conditional UPDATE (... WHERE seats_taken < size AND status = 'open'
AND expires_at > now), and (group, seat) is unique, so concurrent joins never overfill.
A member whose order is cancelled while the group is open leaves it: the last seat moves into
theirs, so seats stay 1..seats_taken and the next join takes the freed one. The checkout names
the order when it reports a payment (payment_ref = the order's external id).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.catalog.models import Reservation, Sku
from siyu.core import outbox, signals
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.errors import Conflict, InvalidField, NotFound
from siyu.customers.models import Customer
from siyu.distribution.service import new_code
from siyu.ingest.closing import external_ids
from siyu.promotions.groupbuy.models import GroupBuy, GroupMember, GroupRefund, GroupTemplate
from siyu.promotions.groupbuy.schemas import GroupOut, MemberOut, TemplateIn
from siyu.workspaces.models import Role

EXPIRE_TOPIC = "groupbuy.expire"
CANCEL_TOPIC = "groupbuy.order_cancelled"

signals.subscribe(signals.ORDER_CANCELLED, CANCEL_TOPIC)


class GroupFull(Conflict):
    code = "group_full"
    zh = "此团已满"
    en = "This group is full"


class GroupExpired(Conflict):
    code = "group_expired"
    zh = "此团已过期"
    en = "This group has expired"


class GroupFailed(Conflict):
    code = "group_failed"
    zh = "此团已失败"
    en = "This group has failed"


def create_template(session: Session, principal: Principal, data: TemplateIn) -> GroupTemplate:
    """A group-buy offer on one SKU; the group price may not exceed the SKU's price."""
    principal.require(Role.operator)
    sku = catalog.sku_by_code(session, principal, data.sku)
    if data.group_price_fen > sku.price_fen:
        raise InvalidField("group_price_fen", "拼团价不能高于原价", "cannot exceed the SKU price")
    template = GroupTemplate(
        workspace_id=principal.workspace_id, sku_id=sku.id, **data.model_dump(exclude={"sku"})
    )
    session.add(template)
    session.flush()
    return template


def _customer(session: Session, principal: Principal, customer_id: int) -> int:
    found = session.scalar(
        select(Customer.id).where(
            Customer.workspace_id == principal.workspace_id, Customer.id == customer_id
        )
    )
    if found is None:
        raise InvalidField("customer_id", "客户不存在", "no such customer")
    return customer_id


def open_group(
    session: Session,
    principal: Principal,
    template_id: int,
    customer_id: int,
    distributor_id: int | None = None,
) -> GroupBuy:
    """Open a group from a template; the opener takes the first seat."""
    principal.require(Role.operator, Role.distributor)
    template = session.get(GroupTemplate, template_id)
    if template is None or template.workspace_id != principal.workspace_id or not template.active:
        raise NotFound(zh="没有此拼团活动", en="No such group-buy template")
    if principal.role is Role.distributor:
        distributor_id = principal.distributor_id
    group = GroupBuy(
        workspace_id=principal.workspace_id,
        template_id=template.id,
        code=new_code("g"),
        leader_customer_id=_customer(session, principal, customer_id),
        distributor_id=distributor_id,
        size=template.group_size,
        opened_at=now(),
        expires_at=now() + timedelta(minutes=template.time_limit_minutes),
    )
    session.add(group)
    session.flush()
    outbox.enqueue(
        session,
        EXPIRE_TOPIC,
        {"group_id": group.id},
        workspace_id=group.workspace_id,
        dedupe_key=f"group-expire:{group.id}",
        run_at=group.expires_at,
    )
    take_seat(session, group, template, customer_id)
    return group


def group_by_code(session: Session, principal: Principal, code: str) -> GroupBuy:
    """A group of the caller's workspace by its share code (another workspace's: 404)."""
    group = session.scalars(
        select(GroupBuy).where(
            GroupBuy.workspace_id == principal.workspace_id, GroupBuy.code == code
        )
    ).first()
    if group is None:
        raise NotFound(zh=f"没有拼团 {code}", en=f"No group {code}")
    return group


def join(session: Session, principal: Principal, code: str, customer_id: int) -> GroupMember:
    """Join by share link; a full, expired or failed group is refused and nothing changes."""
    principal.require(Role.operator, Role.distributor)
    group = group_by_code(session, principal, code)
    _customer(session, principal, customer_id)
    mine = _member(session, group.id, customer_id)
    if mine is not None:
        return mine
    template = session.get(GroupTemplate, group.template_id)
    assert template is not None
    return take_seat(session, group, template, customer_id)


def _member(session: Session, group_id: int, customer_id: int) -> GroupMember | None:
    return session.scalars(
        select(GroupMember).where(
            GroupMember.group_id == group_id, GroupMember.customer_id == customer_id
        )
    ).first()


def take_seat(
    session: Session, group: GroupBuy, template: GroupTemplate, customer_id: int
) -> GroupMember:
    """The conditional seat grab, then a unit of stock held until the group closes."""
    t = now()
    seat = session.scalar(
        update(GroupBuy)
        .where(
            GroupBuy.id == group.id,
            GroupBuy.status == "open",
            GroupBuy.expires_at > t,
            GroupBuy.seats_taken < GroupBuy.size,
        )
        .values(seats_taken=GroupBuy.seats_taken + 1)
        .returning(GroupBuy.seats_taken)
    )
    if seat is None:
        raise _refusal(session, group)
    sku = session.get(Sku, template.sku_id)
    assert sku is not None
    # By customer, not seat: a seat is reused after a member leaves, a customer never rejoins.
    ref = f"group:{group.id}:c{customer_id}"
    reservation = catalog.hold(session, sku, ref, 1, group.expires_at - t + timedelta(minutes=5))
    member = GroupMember(
        workspace_id=group.workspace_id,
        group_id=group.id,
        customer_id=customer_id,
        seat=seat,
        reservation_id=reservation.id,
        amount_fen=template.group_price_fen,
        joined_at=t,
    )
    session.add(member)
    session.flush()
    return member


def _refusal(session: Session, group: GroupBuy) -> Conflict:
    session.refresh(group)
    if group.status == "failed":
        return GroupFailed()
    if group.status == "open" and group.expires_at <= now():
        return GroupExpired()
    return GroupFull()


def pay(
    session: Session, principal: Principal, code: str, customer_id: int, payment_ref: str
) -> GroupMember:
    """The checkout reports a member's payment; a payment into a closed group is refunded."""
    principal.require(Role.operator, Role.distributor)
    group = group_by_code(session, principal, code)
    member = _member(session, group.id, customer_id)
    if member is None:
        raise InvalidField("customer_id", "此客户不在团内", "not a member of this group")
    # Lock the group first, as fail() does, so a payment and the expiry never deadlock.
    session.scalars(select(GroupBuy.id).where(GroupBuy.id == group.id).with_for_update()).first()
    counted = session.scalar(
        update(GroupMember)
        .where(GroupMember.id == member.id, GroupMember.status == "joined")
        .values(status="paid", paid_at=now(), payment_ref=payment_ref)
        .returning(GroupMember.id)
    )
    session.refresh(member)
    if counted is None:
        if member.status == "cancelled":
            # Paid after the group failed: the money goes straight back.
            member.payment_ref, member.paid_at = payment_ref, now()
            _refund(session, group, member)
        return member
    paid = session.scalar(
        update(GroupBuy)
        .where(GroupBuy.id == group.id, GroupBuy.status == "open", GroupBuy.expires_at > now())
        .values(paid_count=GroupBuy.paid_count + 1)
        .returning(GroupBuy.paid_count)
    )
    if paid is None:
        # Too late: the group failed or its time is up — this payment goes straight back.
        _refund(session, group, member)
        _release(session, member)
    elif paid == group.size:
        _succeed(session, group)
    session.refresh(member)
    return member


def _succeed(session: Session, group: GroupBuy) -> None:
    session.execute(
        update(GroupBuy)
        .where(GroupBuy.id == group.id, GroupBuy.status == "open")
        .values(status="succeeded", closed_at=now())
    )
    for member in session.scalars(select(GroupMember).where(GroupMember.group_id == group.id)):
        reservation = session.get(Reservation, member.reservation_id)
        if reservation is not None and reservation.status == "held":
            catalog.confirm(session, reservation)


def _refund(session: Session, group: GroupBuy, member: GroupMember) -> None:
    member.status = "refunded"
    session.add(
        GroupRefund(
            workspace_id=group.workspace_id,
            group_id=group.id,
            member_id=member.id,
            customer_id=member.customer_id,
            amount_fen=member.amount_fen,
            payment_ref=member.payment_ref,
            created_at=now(),
        )
    )
    session.flush()


def _release(session: Session, member: GroupMember) -> None:
    reservation = session.get(Reservation, member.reservation_id)
    if reservation is not None:
        catalog.release(session, reservation)


def fail(session: Session, group: GroupBuy) -> bool:
    """Time is up and the group isn't full of payers: fail it, refund payers, free the stock."""
    moved = session.scalar(
        update(GroupBuy)
        .where(GroupBuy.id == group.id, GroupBuy.status == "open", GroupBuy.expires_at <= now())
        .values(status="failed", closed_at=now())
        .returning(GroupBuy.id)
    )
    if moved is None:
        return False
    members = session.scalars(select(GroupMember).where(GroupMember.group_id == group.id)).all()
    for member in members:
        if member.status == "paid":
            _refund(session, group, member)
        elif member.status == "joined":
            member.status = "cancelled"
        _release(session, member)
    session.flush()
    return True


def expire_due(session: Session, workspace_id: int | None = None) -> int:
    """Fail every open group whose time is up; returns how many failed."""
    stmt = select(GroupBuy).where(GroupBuy.status == "open", GroupBuy.expires_at <= now())
    if workspace_id is not None:
        stmt = stmt.where(GroupBuy.workspace_id == workspace_id)
    return sum(fail(session, g) for g in session.scalars(stmt).all())


@outbox.handler(EXPIRE_TOPIC)
def _expire(session: Session, message: outbox.OutboxMessage) -> None:
    group = session.get(GroupBuy, message.payload["group_id"])
    if group is not None and group.status == "open" and group.expires_at <= now():
        fail(session, group)


def leave(session: Session, group: GroupBuy, member: GroupMember) -> bool:
    """An open group's member cancelled their order: free the seat and its stock, once."""
    session.scalars(select(GroupBuy.id).where(GroupBuy.id == group.id).with_for_update()).first()
    session.refresh(group)
    session.refresh(member)
    if group.status != "open" or member.status not in ("joined", "paid"):
        return False
    freed, last, paid = member.seat, group.seats_taken, member.status == "paid"
    # A vacated seat is stored as minus the member's id, so (group, seat) stays unique.
    member.status, member.seat = "cancelled", -member.id
    session.flush()
    session.execute(
        update(GroupMember)
        .where(GroupMember.group_id == group.id, GroupMember.seat == last)
        .values(seat=freed)
    )
    session.execute(
        update(GroupBuy)
        .where(GroupBuy.id == group.id)
        .values(seats_taken=GroupBuy.seats_taken - 1, paid_count=GroupBuy.paid_count - int(paid))
    )
    _release(session, member)
    session.refresh(group)
    return True


@outbox.handler(CANCEL_TOPIC)
def _cancelled(session: Session, message: outbox.OutboxMessage) -> None:
    workspace_id = message.workspace_id
    assert workspace_id is not None
    refs = external_ids(session, workspace_id, message.payload["order_ids"])
    seats = session.execute(
        select(GroupBuy, GroupMember)
        .join(GroupMember, GroupMember.group_id == GroupBuy.id)
        .where(
            GroupBuy.workspace_id == workspace_id,
            GroupBuy.status == "open",
            GroupMember.payment_ref.in_(refs),
        )
        .order_by(GroupBuy.id, GroupMember.id)
    ).all()
    for group, member in seats:
        leave(session, group, member)


def group_out(session: Session, group: GroupBuy) -> GroupOut:
    """A group with its seats."""
    members = session.scalars(
        select(GroupMember).where(GroupMember.group_id == group.id).order_by(GroupMember.seat)
    ).all()
    return GroupOut(
        id=group.id,
        code=group.code,
        template_id=group.template_id,
        size=group.size,
        seats_taken=group.seats_taken,
        paid_count=group.paid_count,
        status=group.status,
        expires_at=group.expires_at,
        members=[MemberOut.model_validate(m) for m in members],
    )


def refunds(session: Session, principal: Principal, status: str = "pending") -> list[GroupRefund]:
    """Refund instructions for the checkout, oldest first."""
    principal.require(Role.operator)
    stmt = select(GroupRefund).where(
        GroupRefund.workspace_id == principal.workspace_id, GroupRefund.status == status
    )
    return list(session.scalars(stmt.order_by(GroupRefund.id).limit(500)))


def refund_done(session: Session, principal: Principal, refund_id: int) -> GroupRefund:
    """The checkout reports it has refunded the member."""
    principal.require(Role.operator)
    refund = session.get(GroupRefund, refund_id)
    if refund is None or refund.workspace_id != principal.workspace_id:
        raise NotFound()
    if refund.status != "done":
        refund.status, refund.done_at = "done", now()
    session.flush()
    return refund
