"""Coupon templates and issuance: to one customer, in bulk, from a journey step, on an event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core.auth import Principal, get_scoped, scoped
from siyu.core.clock import now
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
    principal.require(Role.operator)
    if not idempotency_key or len(idempotency_key) > 112:
        raise InvalidField("idempotency_key", "需要1到112个字符", "must be 1 to 112 characters")
    key = f"{source}:{idempotency_key}"
    found = session.scalars(
        select(Coupon).where(
            Coupon.workspace_id == principal.workspace_id, Coupon.idempotency_key == key
        )
    ).first()
    if found is not None:
        if found.template_id != template_id or found.customer_id != customer_id:
            raise Conflict(zh="此幂等键已用于另一张券", en="This key was used for another coupon")
        return found
    template = _lock_template(session, principal, template_id)
    get_scoped(session, Customer, customer_id, principal)
    return _issue(session, template, customer_id, key, source)


def _issue(
    session: Session, template: CouponTemplate, customer_id: int, key: str, source: str
) -> Coupon:
    t = now()
    start, until = _window(template, t)
    if not template.active:
        raise CouponRefused("inactive", "此券模板已停用", "This coupon template is paused")
    if until is not None and until <= t:
        raise CouponRefused("ended", "此券的有效期已结束", "This coupon's validity has ended")
    held = session.scalar(
        select(func.count(Coupon.id)).where(
            Coupon.template_id == template.id,
            Coupon.customer_id == customer_id,
            Coupon.status != "void",
        )
    )
    if (held or 0) >= template.per_customer_limit:
        raise CouponRefused(
            "limit",
            f"每人限领 {template.per_customer_limit} 张",
            "The per-customer limit is reached",
        )
    face = face_value(template)
    if template.budget_fen is not None and template.committed_fen + face > template.budget_fen:
        raise CouponRefused("budget", "此券预算已用完", "This template's budget is used up")
    coupon = Coupon(
        workspace_id=template.workspace_id,
        template_id=template.id,
        customer_id=customer_id,
        code=codes.new_code(),
        status="issued",
        source=source,
        idempotency_key=key,
        issued_at=t,
        valid_from=start,
        valid_until=until,
    )
    session.add(coupon)
    template.issued_count += 1
    template.committed_fen += face
    session.flush()
    return coupon


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
    template = _lock_template(session, principal, template_id)
    wanted = sorted(set(customer_ids))
    visible = (
        set(
            session.scalars(
                scoped(select(Customer.id), Customer, principal).where(Customer.id.in_(wanted))
            )
        )
        if wanted
        else set()
    )
    counts: dict[str, object] = {"issued": 0, "already": 0}
    refused: dict[str, int] = {}
    for customer_id in wanted:
        if customer_id not in visible:
            refused["not_found"] = refused.get("not_found", 0) + 1
            continue
        key = f"{source}:{batch_key}:{customer_id}"
        if session.scalar(
            select(Coupon.id).where(
                Coupon.workspace_id == principal.workspace_id, Coupon.idempotency_key == key
            )
        ):
            counts["already"] = int(counts["already"]) + 1  # type: ignore[call-overload]
            continue
        try:
            _issue(session, template, customer_id, key, source)
        except CouponRefused as exc:
            refused[exc.reason] = refused.get(exc.reason, 0) + 1
            continue
        counts["issued"] = int(counts["issued"]) + 1  # type: ignore[call-overload]
    counts["refused"] = refused
    return counts


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
