"""The demo private domain: a workspace, an admin, and customers spread over recent months."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from siyu.core.auth import system_principal
from siyu.core.clock import SimulatedClock, get_clock, set_clock
from siyu.core.db import Database
from siyu.customers import service as customers
from siyu.customers.schemas import CustomerCreate
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Role, User, Workspace

WORKSPACE = "演示美妆品牌"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "siyu-demo-2026"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "婷雪丽静敏燕艳娟霞芳娜秀英华慧巧美玉萍红玲桂兰琳晶欣悦佳怡梦涵诗雨思颖晓璐瑶琪菲"
    "嘉妍宁倩蕾薇洁月"
)
PREFIXES = (
    "138",
    "139",
    "136",
    "137",
    "150",
    "151",
    "152",
    "158",
    "159",
    "186",
    "187",
    "188",
    "177",
    "135",
)


@dataclass
class DemoSummary:
    workspace_id: int
    api_key: str | None
    customers: int
    username: str = ADMIN_USER
    password: str = ADMIN_PASSWORD


def fake_person(rng: random.Random, index: int) -> CustomerCreate:
    """A plausible Chinese customer; unique phone per index."""
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    phone = rng.choice(PREFIXES) + f"{(index * 7919 + rng.randrange(10_000)) % 100_000_000:08d}"
    email = f"user{index}@example.cn" if rng.random() < 0.4 else None
    return CustomerCreate(name=name, phone=phone, email=email)


def build(db: Database, n_customers: int = 300, seed: int = 7, days: int = 120) -> DemoSummary:
    """Create (or reuse) the demo workspace and fill it; deterministic by seed."""
    with db.transaction() as session:
        workspace = session.scalars(select(Workspace).where(Workspace.name == WORKSPACE)).first()
        if workspace is not None:
            return DemoSummary(
                workspace.id, None, customers.count(session, system_principal(workspace.id))
            )
        workspace, key = workspaces.create_workspace(session, WORKSPACE)
        user = session.scalars(select(User).where(User.username == ADMIN_USER)).first()
        user = user or workspaces.create_user(session, ADMIN_USER, ADMIN_PASSWORD)
        workspaces.add_member(session, workspace.id, user, Role.admin)
    rng = random.Random(seed)
    real = get_clock()
    clock = SimulatedClock(real.now() - timedelta(days=days))
    previous = set_clock(clock)
    try:
        principal = system_principal(workspace.id)
        step_minutes = days * 24 * 60 / max(n_customers, 1)
        with db.transaction() as session:
            for i in range(n_customers):
                # Growth speeds up over time, as a private domain does once SOPs run.
                clock.advance(
                    minutes=step_minutes * rng.uniform(0.2, 1.8) * (1.6 - i / n_customers)
                )
                customers.create_customer(session, principal, fake_person(rng, i))
    finally:
        set_clock(previous)
    return DemoSummary(workspace.id, key, n_customers)
