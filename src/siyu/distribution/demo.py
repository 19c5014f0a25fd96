"""The demo's S2b2C: suppliers and stock, distributors with commissions, groups, invites and
touchpoints, laid over the customers and orders the demo already loaded."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.catalog import materials as library
from siyu.catalog import service as catalog
from siyu.catalog.schemas import MaterialIn, ProductIn, SkuIn, SupplierIn
from siyu.core.auth import Principal
from siyu.core.clock import now
from siyu.core.db import Database, bulk_insert, table_of
from siyu.customers.models import Customer
from siyu.demo import vocab
from siyu.distribution import commissions, service, touchpoints
from siyu.distribution.ledger import Ledger
from siyu.distribution.models import ShareVisit
from siyu.distribution.schemas import DistributorIn, LinkIn, RuleIn, TouchpointIn
from siyu.ingest.models import Order
from siyu.promotions.groupbuy import service as groupbuy
from siyu.promotions.groupbuy.models import GroupBuy
from siyu.promotions.groupbuy.schemas import TemplateIn
from siyu.promotions.invites import service as invites
from siyu.promotions.invites.schemas import AcceptIn, CampaignIn

BRANDS = [
    (
        "HUAYANG",
        "花漾美妆",
        "美妆",
        [("HY-LIP-01", "丝绒口红 正红", 12900), ("HY-CUSH-01", "气垫粉底", 19900)],
    ),
    ("YUNSHAN", "云山茶饮", "食品", [("YS-TEA-01", "高山乌龙 250g", 8800)]),
    (
        "MUMU",
        "沐沐母婴",
        "母婴",
        [("MM-WIPE-01", "婴儿湿巾 80抽×6", 5900), ("MM-LOT-01", "润肤乳", 7900)],
    ),
]
# How many of every 100 scans go on to add WeCom, per touchpoint (inside the seeds' ranges).
FUNNEL = {
    "package_card": 12,
    "red_packet_card": 17,
    "kol_comment": 10,
    "shopping_guide": 30,
    "store_poster": 9,
}


def install(db: Database, principal: Principal, seed: int = 11) -> int:
    """Fill the fission pages; returns how many commission entries the demo orders earned."""
    rng = random.Random(seed)
    with db.transaction() as session:
        skus = _catalog(session, principal)
        people = _distributors(session, principal)
        _rules(session, principal)
    with db.transaction() as session:
        entries = _attribute(session, principal, people, rng)
    with db.transaction() as session:
        _groups(session, principal, skus[0], rng)
        _invites(session, principal, rng)
        _touchpoints(session, principal, rng)
    return entries


def _catalog(session: Session, p: Principal) -> list[str]:
    codes = []
    for code, name, category, items in BRANDS:
        supplier = catalog.create_supplier(
            session, p, SupplierIn(code=code, name=name, low_stock=30)
        )
        skus = [
            SkuIn(code=c, name=n, price_fen=f, on_hand=200 if c != "MM-LOT-01" else 12)
            for c, n, f in items
        ]
        product = catalog.create_product(
            session,
            p,
            ProductIn(
                supplier_id=supplier.id,
                name=items[0][1],
                category=category,
                copy_text=f"{name}官方货源，正品保障，分享给身边的朋友。",
                skus=skus,
            ),
        )
        library.add_material(
            session,
            p,
            MaterialIn(
                kind="copy", title=f"{name} 朋友圈文案", body=product.copy, product_id=product.id
            ),
        )
        codes += [c for c, _, _ in items]
    _brand(session, p)
    library.add_material(
        session, p, MaterialIn(kind="training", title="重点店主培训：社群运营三步法", tier="core")
    )
    return codes


def _brand(session: Session, p: Principal) -> None:
    """The demo brand as the supplier of its own SKUs: complaints on them reach its feedback."""
    supplier = catalog.create_supplier(
        session, p, SupplierIn(code="LANKOU", name=f"{vocab.BRAND}品牌方", low_stock=30)
    )
    for item in vocab.PRODUCTS:
        sku = SkuIn(code=item.sku, name=item.name, price_fen=item.price_fen, on_hand=500)
        catalog.create_product(
            session,
            p,
            ProductIn(supplier_id=supplier.id, name=item.name, category=item.category, skus=[sku]),
        )


def _distributors(session: Session, p: Principal) -> list[int]:
    uplines = [
        service.onboard(session, p, DistributorIn(code=f"U{n}", name=f"团长{n}", tier="core")).id
        for n in range(1, 4)
    ]
    shops = [
        service.onboard(
            session,
            p,
            DistributorIn(code=f"D{n:02d}", name=f"店主{n:02d}", parent_id=uplines[n % 3]),
        ).id
        for n in range(1, 25)
    ]
    return uplines + shops


def _rules(session: Session, p: Principal) -> None:
    commissions.create_rule(session, p, RuleIn(name="默认", rates=[Decimal("10"), Decimal("2")]))
    commissions.create_rule(
        session, p, RuleIn(name="美妆", category="美妆", rates=[Decimal("12"), Decimal("3")])
    )
    commissions.create_rule(
        session, p, RuleIn(name="重点培育", tier="core", rates=[Decimal("15"), Decimal("3")])
    )


def _attribute(session: Session, p: Principal, people: list[int], rng: random.Random) -> int:
    """A share visit a day before one in six orders, then attribution and commission."""
    links = {
        d: service.create_link(
            session, p, d, LinkIn(kind=rng.choice(["link", "poster", "mini_code"]))
        )
        for d in people
    }
    orders = session.execute(
        select(Order.id, Order.customer_id, Order.ordered_at)
        .where(Order.workspace_id == p.workspace_id)
        .order_by(Order.id)
    ).all()
    chosen = [o for o in orders if rng.random() < 1 / 6]
    visits = []
    for _, customer_id, ordered_at in chosen:
        distributor = people[rng.randrange(len(people))]
        visits.append(
            {
                "workspace_id": p.workspace_id,
                "link_id": links[distributor].id,
                "distributor_id": distributor,
                "customer_id": customer_id,
                "at": ordered_at - timedelta(days=1),
            }
        )
    bulk_insert(session, table_of(ShareVisit), visits)
    written = Ledger(session, p.workspace_id).run([o.id for o in chosen])
    commissions.settle_due(session, p.workspace_id)
    return written


def _groups(session: Session, p: Principal, sku: str, rng: random.Random) -> None:
    template = groupbuy.create_template(
        session,
        p,
        TemplateIn(
            name="口红三人团",
            sku=sku,
            group_size=3,
            group_price_fen=9900,
            time_limit_minutes=24 * 60,
        ),
    )
    customers = list(
        session.scalars(
            select(Order.customer_id)
            .where(Order.workspace_id == p.workspace_id)
            .distinct()
            .limit(60)
        )
    )
    for n in range(12):
        crew = customers[n * 3 : n * 3 + 3]
        if len(crew) < 3:
            break
        group = groupbuy.open_group(session, p, template.id, crew[0])
        joined = crew[: 3 if n % 3 else rng.choice([1, 2])]
        for who in joined[1:]:
            groupbuy.join(session, p, group.code, who)
        for who in joined:
            groupbuy.pay(session, p, group.code, who, f"DEMO-PAY-{group.id}-{who}")
        if len(joined) < 3 and n % 2 == 0:
            # Let this one run out of time, as an unfilled group does.
            session.execute(
                update(GroupBuy)
                .where(GroupBuy.id == group.id)
                .values(expires_at=now() - timedelta(minutes=1))
            )
            groupbuy.fail(session, session.get(GroupBuy, group.id) or group)


def _invites(session: Session, p: Principal, rng: random.Random) -> None:
    campaign = invites.create_campaign(
        session,
        p,
        CampaignIn(
            name="邀请好友首单各得积分",
            goal="register",
            inviter_points=300,
            invitee_points=100,
            reward_cost_fen=400,
            daily_cap=5,
        ),
    )
    inviters = list(
        session.scalars(
            select(Order.customer_id)
            .where(Order.workspace_id == p.workspace_id)
            .distinct()
            .limit(8)
        )
    )
    # One invitee per 200 customers, so a small demo keeps the size it was asked for.
    budget = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.workspace_id == p.workspace_id)
    )
    budget = (budget or 0) // 200
    for n, inviter in enumerate(inviters):
        code = invites.link_for(session, p, campaign.id, inviter).code
        tries = min(rng.randint(3, 7), budget)
        budget -= tries
        for k in range(tries):
            # The last two share a device: the second is refused as a fraud cluster.
            device = f"demo-dev-{n}-{min(k, 5)}"
            invites.accept(
                session,
                p,
                code,
                AcceptIn(identifiers={"phone": f"1770000{n:02d}{k:02d}", "device_id": device}),
            )


def _touchpoints(session: Session, p: Principal, rng: random.Random) -> None:
    customers = list(
        session.scalars(
            select(Order.customer_id)
            .where(Order.workspace_id == p.workspace_id)
            .distinct()
            .limit(400)
        )
    )
    names = {
        "package_card": "双11包裹卡",
        "red_packet_card": "好评红包卡",
        "kol_comment": "小红书KOL评论区",
        "shopping_guide": "导购小王",
        "store_poster": "静安门店海报",
    }
    for kind, name in names.items():
        point = touchpoints.create(session, p, TouchpointIn(kind=kind, name=name))  # type: ignore[arg-type]
        scanned = rng.sample(customers, min(len(customers), 200))
        added = scanned[: len(scanned) * FUNNEL[kind] // 100]
        members = added[: len(added) * 2 // 3]
        steps = [(point.id, c, "scan") for c in scanned] + [
            (point.id, c, "add_wecom") for c in added
        ]
        steps += [(point.id, c, "member") for c in members] + [
            (point.id, c, "first_order") for c in members[: len(members) // 2]
        ]
        touchpoints.add_steps(session, p.workspace_id, steps)
