"""Message templates: sandboxed Jinja2 with StrictUndefined, customer attributes, coupon codes,
product recommendations and tracked short links.

Names: a real send to the customer (WeCom, SMS, email, sandbox) uses the real name; previews
and webhooks (which leave us for another system) get the masked name (张**).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.channels.links import unsubscribe_url
from siyu.channels.models import Touch
from siyu.core.errors import InvalidField
from siyu.core.pii import mask_name
from siyu.customers.models import Customer
from siyu.ingest.models import Order, OrderLine
from siyu.lifecycle.models import CustomerMetrics

ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_UNDEFINED = re.compile(r"'([^']+)' is undefined")
SAMPLE_CUSTOMER = {
    "id": 0,
    "name": "张**",
    "gender": "female",
    "city": "上海",
    "province": "上海",
    "birthday": "1990-01-01",
    "stage": "new",
    "order_count": 1,
    "total_spend_yuan": "129.90",
    "favourite_category": "彩妆",
}


class MissingVariable(InvalidField):
    """A template names a variable nobody gave."""

    def __init__(self, field_name: str, variable: str) -> None:
        super().__init__(field_name, f"缺少变量 {variable}", f"missing variable {variable}")
        self.variable = variable


@dataclass
class RenderedMessage:
    """A message ready for a provider (text, subject, SMS template parameters, links made)."""

    text: str
    subject: str | None = None
    sms_template_code: str | None = None
    sms_params: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (stored encrypted on the touch)."""
        return {
            "text": self.text,
            "subject": self.subject,
            "sms_template_code": self.sms_template_code,
            "sms_params": self.sms_params,
            "links": self.links,
        }


@lru_cache(maxsize=512)
def compile_source(source: str) -> Template:
    """Compile once per distinct source (sends render the same template many times)."""
    return ENV.from_string(source)


def check_source(field_name: str, source: str) -> Template:
    """Compile or refuse with the syntax error, naming the field."""
    try:
        return compile_source(source)
    except TemplateError as exc:
        raise InvalidField(
            field_name, f"模板语法错误：{exc}", f"template syntax error: {exc}"
        ) from exc


def render_one(field_name: str, source: str, variables: dict[str, Any]) -> str:
    """Render one field; an undefined name is MissingVariable, a sandbox breach InvalidField."""
    template = check_source(field_name, source)
    try:
        return template.render(variables)
    except UndefinedError as exc:
        found = _UNDEFINED.search(str(exc))
        raise MissingVariable(field_name, found.group(1) if found else str(exc)) from exc
    except TemplateError as exc:
        raise InvalidField(field_name, f"模板无法渲染：{exc}", f"cannot render: {exc}") from exc


def render_fields(
    fields: dict[str, Any], variables: dict[str, Any], text_field: str = "text"
) -> RenderedMessage:
    """Render text, subject and SMS parameters of a template or an ad-hoc content dict."""
    if not isinstance(fields.get("text"), str) or not fields["text"].strip():
        raise InvalidField(text_field, "消息内容不能为空", "message text must not be empty")
    subject = fields.get("subject")
    params = fields.get("sms_params") or {}
    if not isinstance(params, dict):
        raise InvalidField("content.sms_params", "应为对象", "must be an object")
    return RenderedMessage(
        text=render_one(text_field, fields["text"], variables),
        subject=render_one("subject", subject, variables) if subject else None,
        sms_template_code=fields.get("sms_template_code"),
        sms_params={k: render_one(f"sms_params.{k}", str(v), variables) for k, v in params.items()},
    )


def customer_variables(
    customer: Customer, metrics: CustomerMetrics | None, reveal: bool
) -> dict[str, Any]:
    """What a template may say about the customer (no phone, email or address)."""
    name = customer.name or ""
    spend = metrics.total_spend_fen if metrics else 0
    return {
        "id": customer.id,
        "name": name if reveal or not name else mask_name(name),
        "gender": customer.gender or "",
        "city": customer.city or "",
        "province": customer.province or "",
        "birthday": customer.birthday or "",
        "stage": (metrics.lifecycle_stage if metrics else None) or "",
        "order_count": metrics.order_count if metrics else 0,
        "total_spend_yuan": f"{Decimal(spend) / 100:.2f}",
        "favourite_category": (metrics.favourite_category if metrics else None) or "",
    }


def recommendations(session: Session, customer_id: int, limit: int = 3) -> list[str]:
    """The customer's top categories by units bought (simple, explainable)."""
    stmt = (
        select(OrderLine.category, func.sum(OrderLine.quantity).label("units"))
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.customer_id == customer_id, OrderLine.category.is_not(None))
        .group_by(OrderLine.category)
        .order_by(func.sum(OrderLine.quantity).desc(), OrderLine.category)
        .limit(limit)
    )
    return [str(category) for category, _ in session.execute(stmt)]


def check_url(url: Any) -> str:
    """Only http(s) targets may hide behind a short link."""
    if not isinstance(url, str) or not re.match(r"^https?://[^\s]+$", url):
        raise InvalidField(
            "link", "链接需以 http:// 或 https:// 开头", "links must be http(s) URLs"
        )
    return url


def link_maker(real: bool, base: str) -> tuple[Callable[[str], str], list[tuple[str, str]]]:
    """A template's link(url): a tracked short link code (previews only show a placeholder)."""
    made: list[tuple[str, str]] = []

    def link(url: str) -> str:
        target = check_url(url)
        if not real:
            return f"{base}/l/preview"
        code = secrets.token_urlsafe(9)
        made.append((code, target))
        return f"{base}/l/{code}"

    return link, made


def sample_variables(names: list[str]) -> dict[str, Any]:
    """Variables for checking a template at save time: a sample customer and the declared names."""
    return {
        "customer": dict(SAMPLE_CUSTOMER),
        "recommendations": ["彩妆", "护肤"],
        "link": lambda url: check_url(url) and "/l/sample",
        "unsubscribe_url": "/u/sample",
        **{name: f"<{name}>" for name in names},
    }


def variables_for(
    session: Session,
    customer: Customer,
    metrics: CustomerMetrics | None,
    fields: dict[str, Any],
    context: dict[str, Any],
    reveal: bool,
    link: Any,
    unsubscribe: str,
) -> dict[str, Any]:
    """Everything a template sees: customer, recommendations, link(), context variables."""
    sources = json.dumps([fields.get("text"), fields.get("subject"), fields.get("sms_params")])
    # The recommendations query runs only for templates that use them.
    recs = recommendations(session, customer.id) if "recommendations" in sources else []
    return {
        **context,
        "customer": customer_variables(customer, metrics, reveal),
        "recommendations": recs,
        "link": link,
        "unsubscribe_url": unsubscribe,
    }


def render_for_send(
    session: Session,
    touch: Touch,
    customer: Customer,
    metrics: CustomerMetrics | None,
    fields: dict[str, Any],
    context: dict[str, Any],
    base: str | None,
) -> dict[str, Any]:
    """Render with real names (masked for webhooks); links are made, stored after insert."""
    base = (base or "").rstrip("/")
    link, made = link_maker(True, base)
    unsubscribe = unsubscribe_url(base, touch.workspace_id, customer.id, touch.channel)
    variables = variables_for(
        session, customer, metrics, fields, context, touch.channel != "webhook", link, unsubscribe
    )
    rendered = render_fields(fields, variables, text_field="content.text")
    out = rendered.as_dict()
    out["links"] = [code for code, _ in made]
    out["extra"] = {k: fields[k] for k in ("welcome_code", "sender") if fields.get(k)}
    out["extra"]["unsubscribe_url"] = unsubscribe
    out["made"] = made
    return out
