"""Coupon templates and issuance: to one customer, in bulk, from a journey step, on an event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
from siyu.core.db import reserve_ids, table_of
from siyu.core.errors import Conflict, InvalidField, SiyuError
from siyu.customers.models import Customer
from siyu.promotions import codes
from siyu.promotions.models import Coupon, CouponTemplate
from siyu.promotions.schemas import TemplateIn, TemplateOut
from siyu.workspaces.models import Role


class CouponRefused(Conflict):
    """The coupon cannot be issued or used; says why."""

    code = "coupon_refused"

    def __init__(self, reason: str, zh: str, en: str) -> None:
        super().__init__(zh=zh, en=en, reason=reason)
        self.reason = reason


def _check_template(data: TemplateIn) -> None:
    kind = data.kind
    if kind == "threshold" and not (data.threshold_fen > 0 and data.discount_fen > 0):
        raise InvalidField(
            "threshold_fen", "满减券需要门槛和减免金额", "needs a threshold and discount"
        )
    if kind == "threshold" and data.discount_fen > data.threshold_fen:
        raise InvalidField("discount_fen", "减免金额不能大于门槛", "cannot exceed threshold_fen")
    if kind in ("fixed", "free_shipping") and data.discount_fen <= 0:
        raise InvalidField("discount_fen", "需要大于0的金额", "must be greater than zero")
    if kind == "percent" and not 1 <= data.percent_off <= 99:
        raise InvalidField("percent_off", "折扣应在1到99之间", "must be between 1 and 99")
    if kind == "percent" and data.budget_fen is not None and data.max_discount_fen is None:
        raise InvalidField(
            "max_discount_fen",
            "有预算的折扣券需要封顶金额",
            "a budgeted percent coupon needs a cap",
        )
    if data.valid_from and data.valid_until and data.valid_until <= data.valid_from:
        raise InvalidField("valid_until", "结束时间应晚于开始时间", "must be after valid_from")


def create_template(session: Session, principal: Principal, data: TemplateIn) -> CouponTemplate:
    """A new coupon template; bad combinations are refused with the field named."""
    principal.require(Role.operator)
    _check_template(data)
    template = CouponTemplate(workspace_id=principal.workspace_id, **data.model_dump())
    session.add(template)
    session.flush()
    return template


def face_value(template: CouponTemplate) -> int:
    """The most one coupon can cost, counted against the template's budget."""
    if template.kind == "percent":
        return template.max_discount_fen or 0
    return template.discount_fen


def template_out(template: CouponTemplate) -> TemplateOut:
    """A template with its redemption rate."""
    rate = template.redeemed_count / template.issued_count if template.issued_count else 0.0
    return TemplateOut.model_validate(
        {
            **{c: getattr(template, c) for c in TemplateOut.model_fields if c != "redemption_rate"},
            "redemption_rate": round(rate, 4),
        }
    )


def list_templates(session: Session, principal: Principal) -> list[CouponTemplate]:
    """The workspace's templates, newest first."""
    stmt = scoped(select(CouponTemplate), CouponTemplate, principal)
    return list(session.scalars(stmt.order_by(CouponTemplate.id.desc())))


def _lock_template(session: Session, principal: Principal, template_id: int) -> CouponTemplate:
    template = get_scoped(session, CouponTemplate, template_id, principal)
    if session.get_bind().dialect.name == "postgresql":
        # Budget and per-customer limits are checked under the template's row lock.
        session.refresh(template, with_for_update=True)
    return template


def _window(template: CouponTemplate, t: datetime) -> tuple[datetime, datetime | None]:
    start = max(template.valid_from or t, t)
    ends = [e for e in (template.valid_until,) if e is not None]
    if template.valid_days:
        ends.append(start + timedelta(days=template.valid_days))
    return start, min(ends) if ends else None


def issue_coupon(
    session: Session,
    principal: Principal,
    template_id: int,
    customer_id: int,
    idempotency_key: str,
    source: str = "journey",
) -> Coupon:
    """Issue one coupon once per key (what a journey step calls); limits and budget apply."""
    result = issue_batch(session, principal, template_id, [(customer_id, idempotency_key)], source)
    found, _ = result[0]
    if isinstance(found, SiyuError):
        raise found
    return found


Issued = tuple[Coupon | SiyuError, bool]  # the coupon or why not, and whether it is a replay


def issue_batch(
    session: Session,
    principal: Principal,
    template_id: int,
    wants: Sequence[tuple[int, str]],
    source: str,
) -> list[Issued]:
    """Issue coupons of one template, (customer, key) each once per key; results in order.

    A few reads whatever the size: the keys already used, the template (locked), the
    customers, what they hold of it; then the limits and the budget in request order, and
    one insert. A refusal is that item's result, not an error; nothing is written for it.
    A key repeated in the batch answers as its first use did (another customer: Conflict).
    """
    principal.require(Role.operator)
    results: list[Issued | None] = [None] * len(wants)
    keys: dict[str, int] = {}  # full key -> its first position
    for i, (_, raw) in enumerate(wants):
        if not raw or len(raw) > 112:
            bad = InvalidField("idempotency_key", "需要1到112个字符", "must be 1 to 112 characters")
            results[i] = (bad, False)
        else:
            keys.setdefault(f"{source}:{raw}", i)
    stored = _by_keys(session, principal.workspace_id, list(keys))
    fresh = [i for key, i in keys.items() if key not in stored]
    if fresh:
        _issue_fresh(session, principal, template_id, wants, fresh, source, results)
    for i, (customer_id, raw) in enumerate(wants):
        if results[i] is not None:
            continue
        key = f"{source}:{raw}"
        found = stored.get(key)
        if found is None:  # a repeat of a key issued (or refused) earlier in this batch
            first, _ = results[keys[key]]  # type: ignore[misc]
            same = wants[keys[key]][0] == customer_id
            results[i] = (first, True) if same else (_reused(), False)
        elif found.template_id != template_id or found.customer_id != customer_id:
            results[i] = (_reused(), False)
        else:
            results[i] = (found, True)
    return results  # type: ignore[return-value]


def _reused() -> Conflict:
    return Conflict(zh="此幂等键已用于另一张券", en="This key was used for another coupon")


def _by_keys(session: Session, workspace_id: int, keys: list[str]) -> dict[str, Coupon]:
    if not keys:
        return {}
    stmt = select(Coupon).where(
        Coupon.workspace_id == workspace_id, Coupon.idempotency_key.in_(keys)
    )
    return {c.idempotency_key: c for c in session.scalars(stmt)}


def _issue_fresh(
    session: Session,
    principal: Principal,
    template_id: int,
    wants: Sequence[tuple[int, str]],
    fresh: list[int],
    source: str,
    results: list[Issued | None],
) -> None:
    """Decide and insert the coupons at positions `fresh` (keys not used before)."""
    try:
        template = _lock_template(session, principal, template_id)
        _usable(template, now())
    except SiyuError as exc:
        for i in fresh:
            results[i] = (exc, False)
        return
    who = sorted({wants[i][0] for i in fresh})
    visible = set(
        session.scalars(
            scoped(select(Customer.id), Customer, principal).where(Customer.id.in_(who))
        )
    )
    held = _held(session, template.id, [c for c in who if c in visible])
    t = now()
    start, until = _window(template, t)
    face = face_value(template)
    made: list[Coupon] = []
    for i in fresh:
        customer_id, raw = wants[i]
        refused = _refusal(session, principal, template, customer_id in visible, customer_id, held)
        over = (
            template.budget_fen is not None and template.committed_fen + face > template.budget_fen
        )
        if refused is None and over:
            refused = CouponRefused("budget", "此券预算已用完", "This template's budget is used up")
        if refused is not None:
            results[i] = (refused, False)
            continue
        coupon = Coupon(
            workspace_id=template.workspace_id,
            template_id=template.id,
            customer_id=customer_id,
            code=codes.new_code(),
            status="issued",
            source=source,
            idempotency_key=f"{source}:{raw}",
            issued_at=t,
            valid_from=start,
            valid_until=until,
        )
        made.append(coupon)
        held[customer_id] = held.get(customer_id, 0) + 1
        template.issued_count += 1
        template.committed_fen += face
        results[i] = (coupon, False)
    if len(made) > 1:  # ids up front: one plain insert, no RETURNING of every row
        for coupon, new_id in zip(
            made, reserve_ids(session, table_of(Coupon), len(made)), strict=True
        ):
            coupon.id = new_id
    session.add_all(made)
    session.flush()


def _usable(template: CouponTemplate, t: datetime) -> None:
    """Refuse a paused template or one whose validity has ended."""
    _, until = _window(template, t)
    if not template.active:
        raise CouponRefused("inactive", "此券模板已停用", "This coupon template is paused")
    if until is not None and until <= t:
        raise CouponRefused("ended", "此券的有效期已结束", "This coupon's validity has ended")


def _held(session: Session, template_id: int, customer_ids: list[int]) -> dict[int, int]:
    """How many live (not void) coupons of the template each customer holds."""
    if not customer_ids:
        return {}
    stmt = (
        select(Coupon.customer_id, func.count(Coupon.id))
        .where(
            Coupon.template_id == template_id,
            Coupon.customer_id.in_(customer_ids),
            Coupon.status != "void",
        )
        .group_by(Coupon.customer_id)
    )
    return {int(c): int(n) for c, n in session.execute(stmt)}


def _refusal(
    session: Session,
    principal: Principal,
    template: CouponTemplate,
    visible: bool,
    customer_id: int,
    held: dict[int, int],
) -> SiyuError | None:
    """Why this customer cannot have one more (not found, or the per-customer limit)."""
    if not visible:
        try:
            get_scoped(session, Customer, customer_id, principal)  # audits the attempt
        except SiyuError as exc:
            return exc
    if held.get(customer_id, 0) >= template.per_customer_limit:
        return CouponRefused(
            "limit",
            f"每人限领 {template.per_customer_limit} 张",
            "The per-customer limit is reached",
        )
    return None


def issue_many(
    session: Session,
    principal: Principal,
    template_id: int,
    customer_ids: Iterable[int],
    batch_key: str,
    source: str = "bulk",
) -> dict[str, object]:
    """Issue to many customers (one key each per batch); refusals are counted, not fatal."""
    principal.require(Role.operator)
    _lock_template(session, principal, template_id)  # a missing template refuses the whole call
    wanted = sorted(set(customer_ids))
    wants = [(c, f"{batch_key}:{c}") for c in wanted]
    issued = already = 0
    refused: dict[str, int] = {}
    for found, replay in issue_batch(session, principal, template_id, wants, source):
        if isinstance(found, SiyuError):
            reason = getattr(found, "reason", found.code)
            refused[reason] = refused.get(reason, 0) + 1
        elif replay:
            already += 1
        else:
            issued += 1
    return {"issued": issued, "already": already, "refused": refused}


def segment_members(session: Session, principal: Principal, segment_id: int) -> list[int]:
    """A segment's current members, from the segments domain when it is installed."""
    try:
        from siyu.segments.service import member_ids  # type: ignore[attr-defined]
    except ImportError as exc:
        raise InvalidField(
            "segment_id", "分群功能尚未安装，请改用客户列表", "segments are not available; pass ids"
        ) from exc
    return list(member_ids(session, principal, segment_id))


def issue_on_events(
    session: Session,
    principal: Principal,
    customer_ids: list[int],
    types: list[str],
    since: datetime,
) -> int:
    """Templates triggered by an event type: one coupon per such event (key event:<id>)."""
    from siyu.ingest.models import Event

    templates = session.scalars(
        scoped(select(CouponTemplate), CouponTemplate, principal).where(
            CouponTemplate.trigger_event.in_(types), CouponTemplate.active.is_(True)
        )
    ).all()
    issued = 0
    for template in templates:
        events = session.execute(
            select(Event.id, Event.customer_id).where(
                Event.workspace_id == principal.workspace_id,
                Event.customer_id.in_(customer_ids),
                Event.type == template.trigger_event,
                Event.received_at >= since,
            )
        ).all()
        for event_id, customer_id in events:
            try:
                with session.begin_nested():
                    issue_coupon(
                        session,
                        principal,
                        template.id,
                        customer_id,
                        f"{template.id}:{event_id}",
                        source="event",
                    )
                issued += 1
            except (SiyuError, IntegrityError):
                continue
    return issued


def customer_coupons(
    session: Session, principal: Principal, customer_id: int, status: str | None = None
) -> list[Coupon]:
    """A customer's coupons, newest first."""
    stmt = scoped(select(Coupon), Coupon, principal).where(Coupon.customer_id == customer_id)
    if status:
        stmt = stmt.where(Coupon.status == status)
    return list(session.scalars(stmt.order_by(Coupon.id.desc())))
