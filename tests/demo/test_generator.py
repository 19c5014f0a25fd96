"""The generator: deterministic by seed, realistically shaped, and truthful about who is who."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict
from datetime import datetime

import pytest

from siyu.demo.generator import ORDER_CHANNELS, Dataset, generate, make_person

END = datetime(2026, 12, 31, 22, 0)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return generate(500, 7, END)


def _fingerprint(d: Dataset) -> list[object]:
    return [
        [asdict(p) for p in d.persons],
        [asdict(o) for o in d.orders],
        [asdict(c) for c in d.contacts],
        [(e.pid, e.at, e.payload) for e in d.events],
    ]


def test_same_seed_same_domain_other_seed_other_domain() -> None:
    first, again = generate(120, 3, END), generate(120, 3, END)
    assert _fingerprint(first) == _fingerprint(again)
    other = generate(120, 4, END)
    assert [p.phone for p in other.persons] != [p.phone for p in first.persons]
    assert len(other.orders) != len(first.orders) or _fingerprint(other) != _fingerprint(first)


def test_every_person_on_two_to_four_channels_and_records_only_there(data: Dataset) -> None:
    persons = {p.pid: p for p in data.persons}
    assert {len(p.channels) for p in data.persons} <= {2, 3, 4}
    assert Counter(len(p.channels) for p in data.persons)[2] > 0
    assert all(any(c in ORDER_CHANNELS for c in p.channels) for p in data.persons)
    for o in data.orders:
        assert o.channel in persons[o.pid].channels
    for c in data.contacts:
        assert "wecom" in persons[c.pid].channels
    for e in data.events:
        source = e.payload["source"]
        channels = persons[e.pid].channels
        if source == "store":
            assert "store" in channels
        if source == "wecom":
            assert "wecom" in channels


def test_about_ten_orders_per_person_skewed(data: Dataset) -> None:
    per_person = Counter(o.pid for o in data.orders)
    mean = len(data.orders) / len(data.persons)
    assert 7 <= mean <= 13
    counts = sorted(per_person.values())
    assert sum(1 for n in counts if n == 1) > len(data.persons) * 0.2  # many one-timers
    assert counts[-1] >= 40  # and a loyal tail


def test_618_and_double_11_are_the_peaks(data: Dataset) -> None:
    months = Counter((o.ordered_at.year, o.ordered_at.month) for o in data.orders)
    year = [months[(2026, m)] for m in range(1, 13)]
    average = sum(year) / 12
    assert months[(2026, 6)] > 1.5 * average
    assert months[(2026, 11)] > 1.5 * average
    assert max(year) in (months[(2026, 6)], months[(2026, 11)])
    assert all(data.start <= o.ordered_at <= END for o in data.orders)
    assert (END - data.start).days == 547


def test_categories_prices_and_touchpoints_are_realistic(data: Dataset) -> None:
    categories = Counter(line.product.category for o in data.orders for line in o.lines)
    assert set(categories) == {"口红", "眼影", "粉底", "护肤", "睫毛膏", "香水"}
    assert categories["口红"] > categories["香水"]
    for o in data.orders:
        assert o.total_fen == sum(line.amount_fen for line in o.lines)
        assert 0 <= o.paid_fen <= o.total_fen
    touch = Counter(o.touchpoint for o in data.orders if o.channel == "youzan")
    assert set(touch) == {"package_card", "red_packet_card", "kol_comment", "shopping_guide"}
    adds = [e for e in data.events if e.payload["type"] == "add_contact"]
    assert adds and all(e.payload["properties"]["touchpoint"] for e in adds)
    kinds = Counter(e.payload["type"] for e in data.events)
    assert {"join_group", "leave_group", "message", "view", "click", "share", "sign_in"} <= set(
        kinds
    )
    complainers = {e.pid for e in data.events if e.payload["type"] == "complaint"}
    assert 0.003 <= len(complainers) / len(data.persons) <= 0.04


def test_truth_labels_match_what_each_record_says(data: Dataset) -> None:
    persons = {p.pid: p for p in data.persons}
    keys = [key for key, _ in data.truth()]
    assert len(keys) == len(set(keys))
    typos = phones = 0
    for o in data.orders:
        p = persons[o.pid]
        assert o.buyer in p.ids.values()
        if o.phone:
            phones += 1
            diff = sum(a != b for a, b in zip(o.phone, p.phone, strict=True))
            assert diff in (0, 1)
            typos += diff
        assert o.name[0] == p.name[0]
    assert 0.01 <= typos / phones <= 0.06
    assert any(o.phone is None for o in data.orders)
    for e in data.events:
        for kind, value in e.payload["identifiers"].items():
            if kind != "phone":
                assert persons[e.pid].ids[kind] == value
    owners: dict[str, int] = {}
    for p in data.persons:
        assert owners.setdefault(p.phone, p.pid) == p.pid  # real phones are unique per person


def test_a_smaller_demo_is_a_prefix_of_a_bigger_one() -> None:
    small, big = generate(40, 5, END), generate(90, 5, END)
    assert [asdict(p) for p in small.persons] == [asdict(p) for p in big.persons[:40]]

    def orders(d: Dataset) -> list[tuple[int, datetime, str, str, int]]:
        return sorted((o.pid, o.ordered_at, o.channel, o.buyer, o.total_fen) for o in d.orders)

    assert orders(small) == [o for o in orders(big) if o[0] < 40]


def test_platform_identifiers_name_one_person_each() -> None:
    rng, used = random.Random(1), set[str]()
    owners: dict[str, int] = {}
    # At the default 20,000 people, nicks like 婷婷爱美妆12 would collide if left to chance.
    for p in (make_person(rng, pid, used, END) for pid in range(20_000)):
        for value in (p.phone, *p.ids.values()):
            assert owners.setdefault(value, p.pid) == p.pid
