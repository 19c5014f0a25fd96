"""What one demo person does over 18 months: orders per channel, WeCom, mini-program, store."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

from siyu.demo import vocab
from siyu.demo.generator import (
    DAYS,
    GO_LIVE_DAYS_BEFORE_END,
    ORDER_CHANNELS,
    PHONE_RATE,
    TYPO_RATE,
    Calendar,
    Contact,
    Event,
    Line,
    Order,
    Person,
    name_variant,
    order_count,
    typo,
)

_BY_CATEGORY: dict[str, list[vocab.Product]] = {}
for _p in vocab.PRODUCTS:
    _BY_CATEGORY.setdefault(_p.category, []).append(_p)
_CATEGORIES = list(vocab.CATEGORY_WEIGHTS)
_CATEGORY_CUM = list(itertools.accumulate(vocab.CATEGORY_WEIGHTS.values()))


def _maybe_typo(rng: random.Random, phone: str, used: set[str]) -> str:
    return typo(rng, phone, used) if rng.random() < TYPO_RATE else phone


def _lines(rng: random.Random, peak: bool) -> tuple[tuple[Line, ...], int, int]:
    picks: list[tuple[vocab.Product, int]] = []
    for _ in range(rng.choices((1, 2, 3), (70, 22, 8))[0]):
        category = rng.choices(_CATEGORIES, cum_weights=_CATEGORY_CUM)[0]
        product = rng.choice(_BY_CATEGORY[category])
        if product not in [p for p, _ in picks]:
            picks.append((product, 2 if rng.random() < 0.12 else 1))
    total = sum(p.price_fen * q for p, q in picks)
    # 618 and 双11 bring 满300减40; other days an occasional 20-yuan coupon.
    if peak:
        discount = total // 30_000 * 4_000
    else:
        discount = 2_000 if rng.random() < 0.15 and total >= 19_900 else 0
    lines, left = [], discount
    for i, (p, q) in enumerate(picks):
        amount = p.price_fen * q
        share = left if i == len(picks) - 1 else discount * amount // total
        left -= share
        lines.append(Line(p, q, amount, amount - share))
    return tuple(lines), total, total - discount


def _status(rng: random.Random, at: datetime, end: datetime) -> str:
    roll = rng.random()  # one draw whatever the age (see Calendar.at)
    age = end - at
    if age < timedelta(days=1):
        return "paid"
    if age < timedelta(days=4):
        return "paid" if roll < 0.33 else "shipped"
    return "cancelled" if roll < 0.03 else "completed"


def person_orders(rng: random.Random, cal: Calendar, person: Person, used: set[str]) -> list[Order]:
    """The person's orders over their active months, spread over their order channels."""
    channels = [c for c in person.channels if c in ORDER_CHANNELS]
    weights = [3.0] + [1.0] * (len(channels) - 1)
    n = order_count(rng)
    # Loyal buyers have been around longer; a late first order leaves room for few orders.
    lo_span = DAYS - 1 if n < 20 else int(DAYS * 0.6)
    first = cal.day(rng, 0, lo_span, growth=True)
    last = DAYS - 1 if rng.random() < 0.6 else min(DAYS - 1, first + int(rng.expovariate(1 / 220)))
    n = min(n, 1 + (last - first) // 3)
    days = [first] + [cal.day(rng, first, last) for _ in range(n - 1)]
    orders = []
    for day in days:
        at = cal.at(rng, day)
        channel = rng.choices(channels, weights)[0]
        lines, total, paid = _lines(rng, cal.weights[day] >= 3)
        status = _status(rng, at, cal.end)
        buyer = _buyer(person, channel, at)
        phone = person.phone if rng.random() < PHONE_RATE[channel] else None
        name = person.name if rng.random() >= 0.08 else name_variant(rng, person.name)
        o = Order(
            pid=person.pid,
            channel=channel,
            ordered_at=at,
            status=status,
            lines=lines,
            total_fen=total,
            paid_fen=0 if status == "cancelled" else paid,
            buyer=buyer,
            phone=_maybe_typo(rng, phone, used) if phone else None,
            unionid=person.ids["wechat_unionid"]
            if channel == "youzan" and rng.random() < 0.5
            else None,
            name=name,
            place=(person.province, person.city, person.district, rng.choice(person.streets)),
        )
        if channel == "youzan":
            o.touchpoint = rng.choices(vocab.TOUCHPOINTS, (35, 20, 15, 30))[0]
        elif channel == "douyin" and rng.random() < 0.35:
            o.kol_id = rng.choice(vocab.KOLS)
        orders.append(o)
    return orders


def _buyer(person: Person, channel: str, at: datetime) -> str:
    if channel == "tmall":
        renamed = person.nick_change is not None and at >= person.nick_change
        return person.ids["taobao_nick_new" if renamed else "taobao_nick"]
    key = {"jd": "jd_pin", "youzan": "youzan_buyer_id", "douyin": "douyin_buyer_id"}[channel]
    return person.ids[key]


class _Events:
    """Collects one person's events with their identifiers and properties."""

    def __init__(self, rng: random.Random, cal: Calendar, person: Person) -> None:
        self.rng, self.cal, self.person = rng, cal, person
        self.out: list[Event] = []

    def add(self, kind: str, source: str, at: datetime, ids: dict[str, str], **props: Any) -> None:
        payload: dict[str, Any] = {"type": kind, "source": source, "identifiers": ids}
        if props:
            payload["properties"] = props
        self.out.append(Event(self.person.pid, at, payload))

    def times(self, count: int, lo: int) -> list[datetime]:
        return [self.cal.at(self.rng, self.cal.day(self.rng, lo)) for _ in range(count)]


def _count(rng: random.Random, mean: float) -> int:
    """A geometric count with the given mean: most people do a little, a few do a lot."""
    return int(rng.expovariate(1 / mean)) if mean > 0 else 0


def person_events(
    rng: random.Random, cal: Calendar, person: Person, orders: list[Order], used: set[str]
) -> tuple[list[Contact], list[Event]]:
    """WeCom contact and chats, groups, mini-program visits, store check-ins, complaints."""
    ev = _Events(rng, cal, person)
    contacts: list[Contact] = []
    first = min((o.ordered_at for o in orders), default=cal.end)
    start = max(0, min((first.date() - cal.first).days, DAYS - 1))
    ids, phone = person.ids, person.phone
    wecom = {"wecom_external_userid": ids["wecom_external_userid"]}
    union = {"wechat_unionid": ids["wechat_unionid"]}
    if "wecom" in person.channels:
        touch = _touchpoint(rng, person)
        added = min(first + timedelta(days=rng.randrange(2, 16), hours=rng.randrange(24)), cal.end)
        staff = rng.choice(vocab.STAFF)
        with_union = rng.random() < 0.85
        # Drawn before the branch, so the rng stream does not depend on the date (see Calendar).
        remark = _maybe_typo(rng, phone, used) if rng.random() < 0.6 else None
        nickname = person.name if rng.random() < 0.3 else person.name[1:] + rng.choice("呀~酱")
        tags = "、".join(rng.sample(("口红控", "敏感肌", "学生党", "高客单", "宝妈"), 2))
        if added < cal.end - timedelta(days=GO_LIVE_DAYS_BEFORE_END):
            union_id = ids["wechat_unionid"] if with_union else None
            contacts.append(
                Contact(
                    person.pid,
                    ids["wecom_external_userid"],
                    union_id,
                    nickname,
                    staff,
                    added,
                    remark,
                    tags,
                    vocab.TOUCHPOINT_ZH[touch],
                )
            )
        else:
            add_ids = {**wecom, **(union if with_union else {})}
            ev.add("add_contact", "wecom", added, add_ids, touchpoint=touch, staff=staff)
        lo = max(start, (added.date() - cal.first).days)
        for at in ev.times(_count(rng, 9), lo):
            ev.add("message", "wecom", at, wecom, direction=rng.choice(("in", "in", "out")))
        for group in rng.sample(vocab.GROUPS, rng.choices((0, 1, 2), (30, 50, 20))[0]):
            joined = ev.times(1, lo)[0]
            ev.add("join_group", "wecom", joined, wecom, group=group)
            if rng.random() < 0.25 and joined + timedelta(days=3) < cal.end:
                ev.add(
                    "leave_group",
                    "wecom",
                    joined + timedelta(days=rng.randrange(3, 40)),
                    wecom,
                    group=group,
                )
        if rng.random() < 0.05:
            ev.add("feedback", "wecom", ev.times(1, lo)[0], wecom, text=rng.choice(vocab.FEEDBACK))
    mini = "youzan" in person.channels or ("wecom" in person.channels and rng.random() < 0.5)
    if mini:
        _mini_program(rng, ev, start, union, phone, used)
    if "store" in person.channels:
        card = {"member_card": ids["member_card"]}
        for i, at in enumerate(ev.times(1 + _count(rng, 3), start)):
            store_ids = {**card, "phone": _maybe_typo(rng, phone, used)}
            ev.add("sign_in", "store", at, store_ids, store=f"{person.city}万象城专柜")
            if i and rng.random() < 0.3:
                ev.add("coupon_used", "store", at, store_ids, coupon=rng.choice(vocab.COUPONS))
    _complaint(rng, ev, start, person, wecom, union, mini, used)
    return contacts, [e for e in ev.out if e.at <= cal.end]


def _touchpoint(rng: random.Random, person: Person) -> str:
    if "douyin" in person.channels and rng.random() < 0.5:
        return "kol_comment"
    if "store" in person.channels and rng.random() < 0.6:
        return "shopping_guide"
    return rng.choices(vocab.TOUCHPOINTS, (50, 25, 5, 20))[0]


def _mini_program(
    rng: random.Random,
    ev: _Events,
    start: int,
    union: dict[str, str],
    phone: str,
    used: set[str],
) -> None:
    # Joining the membership (0元入会) asks for the phone: the link between WeChat and orders.
    times = ev.times(1, start)
    if rng.random() < 0.7:
        ids = {**union, "phone": _maybe_typo(rng, phone, used)}
        ev.add("sign_in", "wechat", times[0], ids, page="会员中心", membership="join")
    for at in ev.times(_count(rng, 14), start):
        ev.add("view", "wechat", at, union, page=rng.choice(vocab.PAGES))
    for at in ev.times(_count(rng, 4), start):
        ev.add("click", "wechat", at, union, target=rng.choice(vocab.PRODUCTS).sku)
    for at in ev.times(_count(rng, 1.2), start):
        ev.add("share", "wechat", at, union, product=rng.choice(vocab.PRODUCTS).sku)
    for at in ev.times(_count(rng, 3), start):
        ev.add("sign_in", "wechat", at, union, page="每日签到")
    for at in ev.times(_count(rng, 1), start):
        ev.add("coupon_used", "wechat", at, union, coupon=rng.choice(vocab.COUPONS))


def _complaint(
    rng: random.Random,
    ev: _Events,
    start: int,
    person: Person,
    wecom: dict[str, str],
    union: dict[str, str],
    mini: bool,
    used: set[str],
) -> None:
    if rng.random() >= 0.02:
        return
    product = rng.choice(vocab.PRODUCTS)
    props = {
        "sku": product.sku,
        "category": product.category,
        "reason": rng.choice(vocab.COMPLAINT_REASONS),
    }
    at = ev.times(1, start)[0]
    if "wecom" in person.channels:
        ev.add("complaint", "wecom", at, wecom, **props)
    elif mini:
        ev.add("complaint", "wechat", at, union, **props)
    elif "store" in person.channels:
        ids = {"member_card": person.ids["member_card"], "phone": person.phone}
        ev.add("complaint", "store", at, ids, **props)
