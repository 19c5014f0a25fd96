"""A supplier's feedback: the feedback and complaint events that name one of its SKUs.

Events name a product by the `sku` property (what the channels and the demo send); the
catalog's SKU ownership decides whose it is. A supplier never sees who the customer is: only a
pseudonym that is stable per supplier (so repeated complaints show) and reveals nothing else.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from siyu.catalog.models import Product, Sku
from siyu.catalog.schemas import FeedbackOut
from siyu.catalog.service import supplier_of
from siyu.core.auth import Principal
from siyu.core.crypto import get_keyring
from siyu.ingest.models import Event
from siyu.workspaces.models import Role

FEEDBACK_TYPES = ("feedback", "complaint")
# What a supplier may read of an event's properties: the product and what was said about it.
SHOWN = ("sku", "category", "reason", "text", "comment", "rating")


def customer_ref(supplier_id: int, customer_id: int) -> str:
    """A per-supplier pseudonym of a customer (an HMAC: not reversible, not shared)."""
    return get_keyring().sign(f"supplier-feedback:{supplier_id}:{customer_id}")[:12]


def supplier_feedback(
    session: Session,
    caller: Principal,
    supplier_id: int | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[FeedbackOut]:
    """Feedback and complaints on a supplier's SKUs (its own, to a supplier), newest first."""
    caller.require(Role.supplier, Role.operator, Role.analyst)
    supplier = supplier_of(session, caller, supplier_id).id
    sku_code = Event.properties["sku"].as_string()
    stmt = (
        select(Event, Sku.code, Sku.product_id, Product.name)
        .join(Sku, and_(Sku.workspace_id == Event.workspace_id, Sku.code == sku_code))
        .join(Product, Product.id == Sku.product_id)
        .where(
            Event.workspace_id == caller.workspace_id,
            Event.type.in_(FEEDBACK_TYPES),
            Sku.supplier_id == supplier,
        )
    )
    if after is not None:
        # Resume after the last row shown: older, or as old with a smaller id.
        last = session.scalar(
            select(Event.occurred_at).where(
                Event.id == after, Event.workspace_id == caller.workspace_id
            )
        )
        if last is None:
            return []
        stmt = stmt.where(
            or_(Event.occurred_at < last, and_(Event.occurred_at == last, Event.id < after))
        )
    stmt = stmt.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
    return [
        FeedbackOut(
            id=event.id,
            type=event.type,
            source=event.source,
            occurred_at=event.occurred_at,
            sku=code,
            product_id=product_id,
            product=name,
            customer_ref=customer_ref(supplier, event.customer_id),
            properties={k: event.properties[k] for k in SHOWN if k in event.properties},
        )
        for event, code, product_id, name in session.execute(stmt)
    ]
