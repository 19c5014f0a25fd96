"""A realistic beauty-brand private domain, generated deterministically from a seed.

Pure: no database, no files. Every record knows the person behind it (`pid`), so what OneID
makes of the records can be scored against the truth. Times are naive local (Asia/Shanghai)
times, as platform exports write them.
"""

from __future__ import annotations

import bisect
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from siyu.demo import vocab
from siyu.demo.vocab import Product

DAYS = 548  # 18 months
# Order channels have export files; wecom and store are seen through events.
ORDER_CHANNELS = ("tmall", "jd", "youzan", "douyin")
CHANNEL_WEIGHTS = {
    "tmall": 6.0,
    "wecom": 5.0,
    "youzan": 4.0,
    "douyin": 3.5,
    "jd": 3.0,
    "store": 2.0,
}
PHONE_RATE = {"tmall": 0.90, "jd": 0.95, "youzan": 0.80, "douyin": 0.90}
TYPO_RATE = 0.03
# WeCom contacts added before siyu went live come from the contacts export, later ones as events.
GO_LIVE_DAYS_BEFORE_END = 183


@dataclass(frozen=True)
class Person:
    """The truth about one person: who they are and the identifiers each channel knows."""

    pid: int
    name: str
    phone: str
    province: str
    city: str
    district: str
    streets: tuple[str, ...]
    channels: tuple[str, ...]
    ids: dict[str, str]
    nick_change: datetime | None = None


@dataclass(frozen=True)
class Line:
    """One SKU of an order: line total and this line's share of what was paid, in fen."""

    product: Product
    quantity: int
    amount_fen: int
    paid_fen: int


@dataclass
class Order:
    """One platform order as its export shows it (identifiers may be missing or mistyped)."""

    pid: int
    channel: str
    ordered_at: datetime
    status: str
    lines: tuple[Line, ...]
    total_fen: int
    paid_fen: int
    buyer: str  # the platform's own buyer identifier (nick, pin, buyer id)
    phone: str | None
    unionid: str | None
    name: str
    place: tuple[str, str, str, str]  # province, city, district, street
    touchpoint: str | None = None
    kol_id: str | None = None
    external_id: str = ""


@dataclass(frozen=True)
class Contact:
    """One row of the WeCom contacts export."""

    pid: int
    external_userid: str
    unionid: str | None
    name: str
    staff: str
    added_at: datetime
    phone: str | None
    tags: str
    source: str


@dataclass
class Event:
    """One event as sent to POST /api/v1/events:batch (payload), with its true person."""

    pid: int
    at: datetime
    payload: dict[str, Any]


@dataclass
class Dataset:
    """Everything generated: persons (truth), orders, WeCom contacts and events."""

    seed: int
    start: datetime
    end: datetime
    persons: list[Person]
    orders: list[Order] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def truth(self) -> Iterator[tuple[tuple[str, ...], int]]:
        """(record key, true person id) for every record: orders, contacts and events."""
        for o in self.orders:
            yield ("order", o.channel, o.external_id), o.pid
        for c in self.contacts:
            yield ("contact", c.external_userid), c.pid
        for e in self.events:
            yield ("event", e.payload["event_id"]), e.pid


class Calendar:
    """Day weights over the 18 months: 618 and 双11 peaks, a quiet Spring Festival."""

    def __init__(self, end: datetime) -> None:
        self.end = end
        self.first = end.date() - timedelta(days=DAYS - 1)
        self.weights = [self.weight(self.first + timedelta(days=i)) for i in range(DAYS)]
        self.midnights = [
            datetime.combine(self.first + timedelta(days=i), datetime.min.time())
            for i in range(DAYS)
        ]
        self.cum = _cumsum(self.weights)
        # Acquisition grows as the private domain matures: later days bring more new buyers.
        self.growth_cum = _cumsum([w * (0.5 + i / DAYS) for i, w in enumerate(self.weights)])

    @staticmethod
    def weight(d: date) -> float:
        """How busy a day is relative to an ordinary one."""
        if d.month == 6 and d.day <= 18:
            return 3.0 + (6.0 if d.day == 18 else 0.0)
        if d.month == 11 and d.day <= 11:
            return 3.5 + (9.0 if d.day == 11 else 0.0)
        if d.month == 3 and d.day <= 8:
            return 1.8
        if d.month == 12 and d.day == 12:
            return 3.0
        if d.month == 2 and d.day <= 10:
            return 0.6
        return 1.0

    def day(self, rng: random.Random, lo: int = 0, hi: int = DAYS - 1, growth: bool = False) -> int:
        """A day index in [lo, hi], drawn by the day weights."""
        cum = self.growth_cum if growth else self.cum
        base = cum[lo - 1] if lo > 0 else 0.0
        u = base + rng.random() * (cum[hi] - base)
        return min(max(bisect.bisect_left(cum, u), lo), hi)

    def at(self, rng: random.Random, day: int) -> datetime:
        """A time on that day: busy evenings, a midnight rush on peak days, never past the end."""
        # Exactly three draws whatever the date, so a seed gives the same people, identifiers
        # and record counts on any day the demo runs; only the dates move with the clock.
        hour = bisect.bisect_right(_HOURS_CUM, rng.random() * _HOURS_CUM[-1])
        midnight_rush, second = rng.random() < 0.3, int(rng.random() * 3600)
        if self.weights[day] >= 9 and midnight_rush:
            hour = 0
        t = self.midnights[day] + timedelta(seconds=hour * 3600 + second)
        return t if t <= self.end else self.end - timedelta(seconds=second)


_HOURS = (2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 7, 6, 6, 6, 6, 6, 7, 9, 11, 12, 10, 5)
_HOURS_CUM = tuple(sum(_HOURS[: i + 1]) for i in range(24))


def _cumsum(values: list[float]) -> list[float]:
    out, total = [], 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def _code(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        phone = rng.choice(vocab.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phone not in used:
            used.add(phone)
            return phone


def typo(rng: random.Random, phone: str, used: set[str]) -> str:
    """One digit after the prefix mistyped: still a valid mobile, and nobody else's."""
    while True:
        i = rng.randrange(3, 11)
        wrong = phone[:i] + str((int(phone[i]) + rng.randrange(1, 10)) % 10) + phone[i + 1 :]
        if wrong not in used:
            return wrong


def _name(rng: random.Random) -> str:
    female = rng.random() < 0.92
    pool = vocab.GIVEN_F if female else vocab.GIVEN_M
    given = rng.choice(pool)
    roll = rng.random()
    if roll < 0.15:
        given *= 2  # 婷婷, 雪雪
    elif roll < 0.75:
        given += rng.choice(pool)
    return rng.choice(vocab.SURNAMES) + given


def name_variant(rng: random.Random, name: str) -> str:
    """How a receiver name drifts between orders: 张婷婷 → 张婷, 李雪梅 → 李雪, or 李女士."""
    if len(name) >= 3 and rng.random() < 0.7:
        return name[:2]
    return name[0] + rng.choice(("女士", "小姐"))


def _nick(rng: random.Random, name: str) -> str:
    style = rng.random()
    if style < 0.35:
        return f"tb{rng.randrange(10**9, 10**10)}"
    if style < 0.7:
        return f"{name[1:]}{rng.choice(vocab.NICK_WORDS)}{rng.randrange(100)}"
    return f"{_code(rng, rng.randrange(4, 8), string.ascii_lowercase)}_{rng.randrange(1980, 2008)}"


def _street(rng: random.Random, roads: tuple[str, ...]) -> str:
    building, unit = rng.randrange(1, 30), rng.randrange(1, 6)
    room = f"{rng.randrange(1, 33)}{rng.randrange(1, 5):02d}"
    return (
        f"{rng.choice(roads)}{rng.randrange(1, 999)}号{rng.choice(vocab.ESTATES)}"
        f"{building}栋{unit}单元{room}室"
    )


def _channels(rng: random.Random) -> tuple[str, ...]:
    k = rng.choices((2, 3, 4), (50, 35, 15))[0]
    while True:
        pool = dict(CHANNEL_WEIGHTS)
        chosen: list[str] = []
        for _ in range(k):
            pick = rng.choices(list(pool), list(pool.values()))[0]
            chosen.append(pick)
            del pool[pick]
        # Every demo person bought at least once somewhere (that is how they entered).
        if any(c in ORDER_CHANNELS for c in chosen):
            return tuple(chosen)


def make_person(rng: random.Random, pid: int, used: set[str], end: datetime) -> Person:
    """One person with a home, 2–4 channels and the identifiers those channels give them."""
    name = _name(rng)
    province, city, districts, roads = rng.choice(vocab.PLACES)
    streets = tuple(_street(rng, roads) for _ in range(rng.choices((1, 2), (80, 20))[0]))
    ids = {
        "taobao_nick": _nick(rng, name),
        "jd_pin": f"jd_{_code(rng, 12, '0123456789abcdef')}",
        "youzan_buyer_id": str(rng.randrange(10**9, 10**10)),
        "douyin_buyer_id": str(rng.randrange(10**15, 10**16)),
        "wecom_external_userid": "wm" + _code(rng, 30),
        "wechat_unionid": "o6_bm" + _code(rng, 23),
        "member_card": f"LK{rng.randrange(10**9, 10**10)}",
    }
    change = None
    if rng.random() < 0.05:  # a Taobao nick renamed partway through the 18 months
        ids["taobao_nick_new"] = _nick(rng, name)
        change = end - timedelta(days=rng.randrange(30, DAYS - 30))
    # A platform never gives two people one nick or id: 婷婷爱美妆12 is taken, so 婷婷爱美妆127.
    for kind, value in list(ids.items()):
        while value in used:
            value += str(rng.randrange(10))
        used.add(value)
        ids[kind] = value
    return Person(
        pid,
        name,
        _phone(rng, used),
        province,
        city,
        rng.choice(districts),
        streets,
        _channels(rng),
        ids,
        change,
    )


def order_count(rng: random.Random) -> int:
    """Skewed: a third buy once, most a few times, a loyal tail dozens of times."""
    roll = rng.random()
    if roll < 0.33:
        return 1
    if roll < 0.58:
        return rng.randrange(2, 5)
    if roll < 0.84:
        return rng.randrange(5, 16)
    return min(20 + int(rng.expovariate(1 / 24)), 160)


def generate(n: int, seed: int, end: datetime) -> Dataset:
    """The whole demo private domain for n persons, identical for the same (n, seed, end)."""
    # activity.py builds on the record types defined here, hence the late import.
    from siyu.demo.activity import person_events, person_orders

    rng = random.Random(seed)
    end = end.replace(microsecond=0, tzinfo=None)
    cal = Calendar(end)
    used: set[str] = set()
    persons = [make_person(rng, pid, used, end) for pid in range(n)]
    data = Dataset(seed, datetime.combine(cal.first, datetime.min.time()), end, persons)
    for person in persons:
        # One stream per person: a person's records do not depend on anyone else's, so a
        # smaller demo is a prefix of a bigger one and a date shift stays within one person.
        own = random.Random(f"{seed}:{person.pid}")
        orders = person_orders(own, cal, person, used)
        data.orders += orders
        contacts, events = person_events(own, cal, person, orders, used)
        data.contacts += contacts
        data.events += events
    _number(rng, data)
    return data


def _number(rng: random.Random, data: Dataset) -> None:
    """Order numbers and event ids grow with time per channel, as real platforms issue them."""
    data.orders.sort(key=lambda o: (o.ordered_at, o.pid))
    counters = {"tmall": 0, "jd": 0, "youzan": 0, "douyin": 0}
    for o in data.orders:
        counters[o.channel] += 1
        k = counters[o.channel]
        if o.channel == "tmall":
            o.external_id = str(3_200_000_000_000_000_000 + k * 7_919_117 + rng.randrange(7_919))
        elif o.channel == "jd":
            o.external_id = str(280_000_000_000 + k * 3_571 + rng.randrange(3_571))
        elif o.channel == "youzan":
            o.external_id = f"E{o.ordered_at:%Y%m%d%H%M%S}{k:08d}"
        else:
            o.external_id = str(6_920_000_000_000_000_000 + k * 104_729 + rng.randrange(104_729))
    data.contacts.sort(key=lambda c: (c.added_at, c.pid))
    data.events.sort(key=lambda e: (e.at, e.pid, e.payload["type"]))
    for i, e in enumerate(data.events, start=1):
        e.payload["event_id"] = f"{e.payload['source']}-{e.payload['type']}-{i:09d}"
        e.payload["occurred_at"] = e.at.isoformat(sep=" ")
