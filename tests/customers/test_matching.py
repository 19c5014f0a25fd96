"""Weak-evidence matching: normalization, per-field evidence, scores, blocking and suggestions."""

from __future__ import annotations

import random

import pytest

from siyu.customers.matching import (
    Candidate,
    Suggestion,
    block_keys,
    candidate_pairs,
    compare,
    normalize_address,
    score,
    suggest,
)

C = Candidate


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("浙江省杭州市西湖区文三路 88号", "杭州西湖区文三路88号"),
        ("杭州市西湖区文三路８８号", "杭州西湖区文三路88号"),  # full-width digits
        ("浙江杭州西湖区文三路88号", "杭州西湖区文三路88号"),  # province without 省
        ("北京市朝阳区建国路1号", "朝阳区建国路1号"),
        ("北京朝阳区建国路1号", "朝阳区建国路1号"),
        ("广西壮族自治区南宁市青秀区", "南宁青秀区"),
        ("浙江省", "浙江"),
        ("上海市", "上海"),
        ("12 Stanley St., MIAMI", "12stanleystmiami"),
        ("  ", ""),
    ],
)
def test_normalize_address(raw: str, expected: str) -> None:
    assert normalize_address(raw) == expected


def test_same_name_same_address_written_differently_is_suggested() -> None:
    x = C(1, name="王小明", address="浙江省杭州市西湖区文三路 88号")
    y = C(2, name="王小明", address="杭州市西湖区文三路88号 2单元")

    assert compare(x, y) == {"name": 1.0, "address": 1.0}
    [s] = suggest([x, y])
    assert (s.a, s.b, s.evidence) == (1, 2, {"name": 1.0, "address": 1.0})
    assert s.score > 0.99


def test_similar_name_same_phone_suffix_same_city_is_suggested() -> None:
    x = C(7, name="张婷婷", phone_suffix="5678", city="杭州市")
    y = C(3, name="张婷", phone_suffix="135 0000 5678", city="杭州")

    evidence = compare(x, y)
    assert evidence == {"name": 0.9111, "city": 1.0, "phone_suffix": 1.0}
    assert score(evidence) == pytest.approx(0.9524, abs=1e-4)
    assert suggest([x, y]) == [Suggestion(a=3, b=7, score=score(evidence), evidence=evidence)]


def test_nick_plus_city_is_suggested_but_a_nick_alone_is_not() -> None:
    x = C(1, nick="小猪佩奇2019", city="上海市")
    y = C(2, nick="小猪佩奇２０１９", city="上海")

    assert compare(x, y) == {"city": 1.0, "nick": 1.0}
    assert score(compare(x, y)) > 0.8
    assert score({"nick": 1.0}) < 0.8


def test_name_plus_birth_date_in_another_format_is_suggested() -> None:
    evidence = compare(
        C(1, name="刘洋", birth_date="1990-03-15"), C(2, name="刘洋", birth_date="19900315")
    )
    assert evidence == {"name": 1.0, "birth_date": 1.0}
    assert score(evidence) > 0.99


def test_split_name_compares_with_whole_name() -> None:
    x = C(1, name="张婷婷", phone_suffix="1234")
    y = C(2, surname="张", given_name="婷婷", phone_suffix="1234")
    assert compare(x, y) == {"name": 1.0, "phone_suffix": 1.0}


def test_latin_typos_and_swapped_names_still_match() -> None:
    x = C(1, given_name="danny", surname="stephenson", birth_date="19831019", postcode="3130")
    y = C(2, given_name="stephenson", surname="danny", birth_date="19831019", postcode="3133")
    assert compare(x, y) == {
        "given_name": 1.0,
        "surname": 1.0,
        "postcode": 0.75,
        "birth_date": 1.0,
    }
    assert score(compare(x, y)) > 0.99


@pytest.mark.parametrize(
    ("x", "y"),
    [
        (  # nothing in common
            C(1, name="张伟", phone_suffix="1234", address="北京市朝阳区建国路1号"),
            C(2, name="李娜", phone_suffix="5678", address="上海市浦东新区世纪大道100号"),
        ),
        (C(1, name="张伟"), C(2, name="张伟")),  # a common name alone
        (  # same name and district, nothing else
            C(1, name="张伟", suburb="西湖区", city="杭州"),
            C(2, name="张伟", suburb="西湖区", city="杭州市"),
        ),
        (  # same name, another road and another phone
            C(1, name="张伟", address="杭州市西湖区文三路88号", phone_suffix="1234"),
            C(2, name="张伟", address="杭州市西湖区天目山路12号", phone_suffix="9876"),
        ),
        (  # same road, another house number
            C(1, name="张伟", address="杭州市西湖区文三路88号"),
            C(2, name="张伟", address="杭州市西湖区文三路86号"),
        ),
        (  # same street name in another city
            C(1, name="张伟", address="北京市朝阳区人民路1号"),
            C(2, name="张伟", address="上海市浦东新区人民路1号"),
        ),
    ],
)
def test_different_people_score_below_threshold(x: Candidate, y: Candidate) -> None:
    assert score(compare(x, y)) < 0.8
    assert suggest([x, y]) == []


def test_conflicting_house_number_or_city_caps_address_similarity() -> None:
    base = C(1, address="杭州市西湖区文三路88号")
    assert compare(base, C(2, address="杭州市西湖区文三路86号")) == {"address": 0.5}
    assert compare(base, C(2, address="宁波市海曙区文三路88号")) == {"address": 0.5}
    assert compare(base, C(2, address="西湖区文三路88号3栋")) == {"address": 1.0}


def test_no_comparable_field_gives_no_suggestion() -> None:
    x = C(1, name="张三")
    y = C(2, address="杭州市西湖区文三路88号", phone_suffix="5678")

    assert compare(x, y) == {}
    assert score({}) == 0.0
    assert score({"favourite_colour": 1.0}) == 0.0
    assert suggest([x, y], threshold=0.0) == []


def test_score_is_a_probability_and_grows_with_agreement() -> None:
    assert score({"name": 0.0, "address": 0.0, "birth_date": 0.0}) < 1e-6
    assert score({"id_number": 1.0, "name": 1.0, "address": 1.0, "birth_date": 1.0}) > 1 - 1e-12
    low, mid, high = (score({"name": 1.0, "birth_date": s}) for s in (0.5, 0.875, 1.0))
    assert 0.0 <= low < mid < high <= 1.0


def test_block_keys() -> None:
    assert block_keys(C(1, name="张婷婷", phone_suffix="5678", city="杭州市")) == [
        "ps:5678|张",
        "nm:张婷婷",
    ]
    assert block_keys(
        C(2, given_name="Michaela", surname="Neumann", state="NSW", birth_date="1915-11-11")
    ) == ["gy:m240|1915", "sx:m240|n550|nsw", "db:19151111"]
    assert block_keys(C(3)) == []


def test_suggest_returns_each_pair_once_ordered_and_never_a_self_pair() -> None:
    people = [
        C(10, name="王小明", address="杭州市西湖区文三路88号", phone_suffix="1111"),
        C(11, name="王小明", address="浙江杭州西湖区文三路88号", phone_suffix="1111"),
        C(12, name="王小明", address="杭州市西湖区文三路88号2单元", phone_suffix="1111"),
        C(5, name="李娜", birth_date="1988-01-02", nick="nana"),
        C(4, name="李娜", birth_date="19880102", nick="nana"),
        C(4, name="李娜", birth_date="19880102", nick="nana"),  # the same customer twice
        C(20, name="赵六", phone_suffix="9999"),
    ]

    result = suggest(people)

    # Highest score first, ties by (a, b); each pair once, smaller key first, no self pair.
    assert [(s.a, s.b) for s in result] == [(4, 5), (10, 11), (10, 12), (11, 12)]
    assert result[0].evidence == {"name": 1.0, "birth_date": 1.0, "nick": 1.0}
    assert [s.score for s in result] == sorted((s.score for s in result), reverse=True)
    assert result[0].score > result[1].score == result[2].score == result[3].score > 0.999
    assert candidate_pairs(people) == {(4, 5), (10, 11), (10, 12), (11, 12)}


GIVEN = (
    "james john robert michael william david richard joseph thomas charles mary patricia jennifer "
    "linda elizabeth barbara susan jessica sarah karen lisa nancy betty sandra margaret ashley "
    "emily donna michelle carol amanda melissa deborah stephanie rebecca laura sharon cynthia "
    "kathleen amy angela shirley anna brenda pamela emma nicole helen samantha katherine christine "
    "debra rachel carolyn janet maria catherine heather diane olivia julie joyce victoria ruth"
).split()


def test_blocking_keeps_pairs_near_linear_with_one_shared_surname() -> None:
    rng = random.Random(1)
    people = [
        C(
            i,
            given_name=rng.choice(GIVEN),
            surname="smith",
            postcode=f"{rng.randint(1000, 9999)}",
            state=rng.choice(["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"]),
            birth_date=f"19{rng.randint(10, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
            id_number=f"{i:07d}",
        )
        for i in range(2000)
    ]

    pairs = candidate_pairs(people)

    # All pairs would be 1,999,000; smiths only meet when they also share a postcode, a name
    # sound and state, a name sound and birth year, or a birth date.
    assert len(pairs) <= 5 * len(people)
    assert pairs == candidate_pairs(reversed(people))  # independent of input order


def test_huge_block_is_cut_deterministically() -> None:
    people = [
        C(i, name="王伟", postcode="310000", address=f"杭州市文三路{i}号") for i in range(2000)
    ]

    pairs = candidate_pairs(people, max_block=100)

    assert len(pairs) <= 2000 * 99 // 2  # chunks of 100 instead of one block of 2,000
    assert pairs == candidate_pairs(list(reversed(people)), max_block=100)
    assert all(a < b for a, b in pairs)


def test_ten_thousand_candidates_well_under_ten_seconds_and_planted_duplicates_found() -> None:
    rng = random.Random(7)
    cities = [("浙江省杭州市", ["西湖区", "上城区"]), ("广东省深圳市", ["南山区", "福田区"])]
    roads = ["文三路", "天目山路", "中山路", "人民路", "深南大道", "科技园路"]
    people = []
    for i in range(9_800):
        city, districts = rng.choice(cities)
        district = rng.choice(districts)
        people.append(
            C(
                i,
                name=rng.choice("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
                + "".join(rng.choices("伟芳娜敏静丽强磊婷军洋勇艳杰娟涛明超秀兰霞平刚", k=2)),
                address=f"{city}{district}{rng.choice(roads)}{i % 300}号",
                city=city[3:],
                suburb=district,
                phone_suffix=f"{rng.randint(0, 9999):04d}",
            )
        )
    # Every 49th customer again, under a new id, with the address written another way.
    planted = {(i, 10_000 + i) for i in range(0, 9_800, 49)}
    for i, j in sorted(planted):
        p = people[i]
        address = (p.address or "").replace("省", "").replace("市", "市 ") + " 3单元"
        people.append(C(j, name=p.name, address=address, phone_suffix=p.phone_suffix))
    assert len(people) == 10_000

    result = suggest(people)

    assert planted <= {(s.a, s.b) for s in result}
