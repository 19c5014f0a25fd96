"""Weak-evidence matching: score pairs of customers and propose merges for an operator to review.

Strong identifiers (phone, unionid, ...) merge automatically elsewhere; this module only scores
weak evidence (names, addresses, birth dates, phone suffixes, nicks) and never touches a database.
The score is a Fellegi-Sunter posterior: every compared field adds log2(m/u) bits when it agrees,
log2((1-m)/(1-u)) when it disagrees, and a straight line in between for partial similarity.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler, Levenshtein


@dataclass(frozen=True)
class Candidate:
    """One customer's comparable, already-decrypted attributes."""

    key: int
    name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    address: str | None = None
    street_number: str | None = None
    suburb: str | None = None
    city: str | None = None
    state: str | None = None
    postcode: str | None = None
    birth_date: str | None = None
    phone_suffix: str | None = None
    nick: str | None = None
    id_number: str | None = None


@dataclass(frozen=True)
class Suggestion:
    """A proposed merge of customers a < b, with the per-field similarities behind it."""

    a: int
    b: int
    score: float
    evidence: dict[str, float] = dataclasses.field(hash=False)


# field: (m, u, s_low). m = P(field agrees | same person): 1 - the rate of typos, stale values
# and alternative spellings we expect. u = P(agrees | different people): about 1 / the number of
# equally common values (4-digit phone suffix 1e-4, birth date ~1/(365*60), Australian postcode
# ~1/2000, full Chinese name ~3e-4 because 张伟-style names are common, city 0.1 because a
# brand's customers crowd into a few big cities). s_low is the similarity unrelated values reach
# by chance (Jaro-Winkler of 2-char Chinese names sharing a surname ~0.73, Levenshtein of two
# random 8-digit dates ~0.5), so it earns no credit. Chosen from these population figures, not
# fitted to any data; FEBRL4 (bench/oneid_febrl.py) was only used to check the outcome.
FIELDS: dict[str, tuple[float, float, float]] = {
    "name": (0.9, 3e-4, 0.8),
    "given_name": (0.9, 5e-3, 0.8),
    "surname": (0.9, 1e-2, 0.8),
    "address": (0.8, 1e-5, 0.7),
    "street_number": (0.9, 2e-2, 0.5),
    "suburb": (0.9, 1e-2, 0.8),
    "city": (0.9, 0.1, 0.8),
    "state": (0.95, 0.1, 0.9),
    "postcode": (0.9, 2e-3, 0.5),
    "birth_date": (0.9, 5e-5, 0.6),
    "phone_suffix": (0.95, 1e-4, 0.9),
    # People keep different nicks on different platforms, so a differing nick says little.
    "nick": (0.3, 1e-6, 0.85),
    "id_number": (0.95, 1e-7, 0.7),
}
# Prior log2-odds that two customers are one person before any field is compared: about one in
# 130,000, the order of a large brand's customer base. With threshold 0.8 a suggestion needs
# ~19 bits of evidence: a name plus a birth date, an address, or a phone suffix; a nick plus a
# city. A full name alone (11.6 bits) or a name plus a district (18) is not enough.
PRIOR_BITS = -17.0
# field: (bits when disagreeing, extra bits when agreeing fully, s_low, 1 / (1 - s_low))
_WEIGHTS = {
    f: (math.log2((1 - m) / (1 - u)), math.log2(m * (1 - u) / (u * (1 - m))), low, 1 / (1 - low))
    for f, (m, u, low) in FIELDS.items()
}

_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")
# Administrative and building suffixes end a token in a Chinese address written without spaces.
_ZH_SUFFIX = re.compile(
    r"(自治区|特别行政区|单元|街道|大道|省|市|区|县|镇|乡|路|街|巷|弄|号|栋|幢|座|楼|室|村)"
)
_PROVINCES = (
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 香港 澳门"
).split()
_PROVINCE = re.compile(
    "(" + "|".join(_PROVINCES) + ")(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区)?"
)
_SOUNDEX = {c: d for d, letters in enumerate("bfpv cgjkqsxz dt l mn r".split(), 1) for c in letters}


def _clean(text: str | None) -> str:
    """NFKC (full-width to half-width), lower-case, punctuation to single spaces."""
    if not text:
        return ""
    return " ".join(_PUNCT.sub(" ", unicodedata.normalize("NFKC", text).lower()).split())


def _digits(text: str | None) -> str:
    return "".join(ch for ch in _clean(text) if ch.isdigit())


def _place(token: str) -> str:
    """A place token without its 省/市 suffix, so 浙江省 and 浙江, 杭州市 and 杭州 compare equal."""
    m = _PROVINCE.fullmatch(token)
    if m:
        return m.group(1)
    if len(token) >= 3 and token[-1] in "省市":
        return token[:-1]
    return token


def _is_admin(raw: str) -> bool:
    """Whether a raw Chinese address token names a province, city, county or district."""
    if _PROVINCE.fullmatch(raw) or raw.endswith(("省", "市", "县", "自治州")):
        return True
    return raw.endswith("区") and not raw.endswith(("小区", "社区"))  # 小区 is a housing estate


def _split_address(text: str | None) -> tuple[list[str], list[str]]:
    """An address as (place tokens: city, district; street tokens: road, number, unit)."""
    raw = _ZH_SUFFIX.sub(r"\1 ", _clean(text)).split()
    # The province is implied by the city and often left out, so a leading one is dropped
    # ("浙江省杭州市西湖区", "浙江杭州西湖区" and "杭州市西湖区" all become 杭州 西湖区).
    m = _PROVINCE.match(raw[0]) if raw else None
    if m and (len(raw) > 1 or m.end() < len(raw[0])):
        raw = ([raw[0][m.end() :]] if m.end() < len(raw[0]) else []) + raw[1:]
    n = 0
    while n < len(raw) and _is_admin(raw[n]):
        n += 1
    tokens = [_place(t) for t in raw]
    return tokens[:n], tokens[n:]


def normalize_address(text: str) -> str:
    """Canonical address: NFKC, lower-case, no spaces or punctuation, no 省/市 noise."""
    place, street = _split_address(text)
    return "".join(place + street)


def _soundex(word: str) -> str:
    letters = [ch for ch in word if "a" <= ch <= "z"]
    if not letters:
        return word[:2]  # Chinese and other scripts: the first characters stand in for a sound
    out, last = [letters[0]], _SOUNDEX.get(letters[0], 0)
    for ch in letters[1:]:
        code = _SOUNDEX.get(ch, 0)
        if code and code != last:
            out.append(str(code))
        if ch not in "hw":
            last = code
    return ("".join(out) + "000")[:4]


@dataclass(slots=True)
class _Prep:
    """A candidate's normalized values, computed once per suggest() run."""

    key: int
    name: str
    given: str
    surname: str
    split: bool
    latin_full: bool
    address: str
    place: str
    street: str
    street_tokens: str
    street_multi: bool
    numbers: frozenset[str]
    values: dict[str, str]


def _prepare(c: Candidate) -> _Prep:
    given, surname = _clean(c.given_name), _clean(c.surname)
    name = _clean(c.name)
    if not name and (given or surname):
        # Chinese names are written surname first without a space; latin ones given name first.
        name = surname + given if _CJK.search(surname + given) else f"{given} {surname}".strip()
    if not surname and name:
        surname = name[0] if _CJK.search(name) else name.split()[-1]
    place, street = _split_address(c.address)
    values = {
        "street_number": _clean(c.street_number).replace(" ", ""),
        "suburb": normalize_address(c.suburb or ""),
        "city": normalize_address(c.city or ""),
        "state": normalize_address(c.state or ""),
        "postcode": _digits(c.postcode),
        "birth_date": _digits(c.birth_date),
        "phone_suffix": _digits(c.phone_suffix)[-4:],
        "nick": _clean(c.nick),
        "id_number": _clean(c.id_number).replace(" ", ""),
    }
    return _Prep(
        key=c.key,
        name=name,
        given=given,
        surname=surname,
        split=bool(c.given_name or c.surname),
        latin_full=" " in name,
        address="".join(place + street),
        place="".join(place),
        street="".join(street),
        street_tokens=" ".join(street),
        street_multi=len(street) > 1,
        numbers=frozenset(re.findall(r"\d+", " ".join(street))),
        values={k: v for k, v in values.items() if v},
    )


def _address_sim(x: _Prep, y: _Prep) -> float:
    if x.address == y.address:
        return 1.0
    # The city and district are shared by thousands of people and are compared as fields of
    # their own, so they must not make two different streets look 80% alike.
    if x.street and y.street:
        sim = fuzz.ratio(x.street, y.street) / 100
        # Extra detail on one side (a unit, a building) should not count against a match, but
        # a bare "文三路" contained in every address on that road must not count as one either.
        if x.street_multi and y.street_multi and sim < 1.0:
            sim = max(sim, fuzz.token_set_ratio(x.street_tokens, y.street_tokens) / 100)
    else:
        sim = fuzz.ratio(x.address, y.address) / 100
    # Different house numbers, or different cities/districts, are different addresses; one side
    # leaving a level out (no unit number, no city) is not a conflict.
    if x.numbers and y.numbers and not (x.numbers <= y.numbers or y.numbers <= x.numbers):
        sim = min(sim, 0.5)
    if x.place and y.place and x.place not in y.place and y.place not in x.place:
        sim = min(sim, 0.5)
    return sim


_JW, _LEV = JaroWinkler.normalized_similarity, Levenshtein.normalized_similarity
# Places by Jaro-Winkler; codes and numbers by edit distance, so one mistyped digit earns credit.
_VALUE_SIM: dict[str, Callable[..., float]] = dict.fromkeys(("suburb", "city", "state"), _JW)
_VALUE_SIM.update(
    dict.fromkeys(
        ("street_number", "postcode", "birth_date", "phone_suffix", "nick", "id_number"), _LEV
    )
)


def _compare(x: _Prep, y: _Prep) -> dict[str, float]:
    ev: dict[str, float] = {}
    if x.split and y.split:
        if x.given and y.given:
            ev["given_name"] = _JW(x.given, y.given)
        if x.surname and y.surname:
            ev["surname"] = _JW(x.surname, y.surname)
        if len(ev) == 2:
            # Given name and surname typed into each other's box: credit the crossed reading.
            crossed = (_JW(x.given, y.surname), _JW(x.surname, y.given))
            if sum(crossed) > ev["given_name"] + ev["surname"]:
                ev["given_name"], ev["surname"] = crossed
    elif x.name and y.name:
        sim = _JW(x.name, y.name)
        if x.latin_full and y.latin_full and sim < 1.0:
            # Latin full names are sometimes written surname first.
            sim = max(sim, fuzz.token_sort_ratio(x.name, y.name) / 100)
        ev["name"] = sim
    if x.address and y.address:
        ev["address"] = _address_sim(x, y)
    yv = y.values
    for field, value in x.values.items():
        other = yv.get(field)
        if other is not None:
            ev[field] = 1.0 if value == other else _VALUE_SIM[field](value, other)
    return ev


def _rounded(evidence: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in evidence.items()}


def compare(x: Candidate, y: Candidate) -> dict[str, float]:
    """Per-field similarity in [0, 1] for every field both candidates have."""
    return _rounded(_compare(_prepare(x), _prepare(y)))


# From the finest level to the coarsest: a matching district already implies a matching city
# and province, so a coarser level only counts while the finer ones disagree.
_LOCATION = ("suburb", "city", "state")


def _bits(evidence: dict[str, float]) -> float:
    """Prior plus each field's weight: disagreement bits, plus a share of the span to agreement."""
    total, location = PRIOR_BITS, False
    for field, sim in evidence.items():
        w = _WEIGHTS.get(field)  # unknown evidence has no calibrated weight
        if w is None:
            continue
        if field in _LOCATION:
            location = True
            continue
        t = (sim - w[2]) * w[3]
        total += w[0] + w[1] * (0.0 if t < 0.0 else 1.0 if t > 1.0 else t)
    for field in _LOCATION if location else ():
        if field in evidence:
            w = _WEIGHTS[field]
            t = min(1.0, max(0.0, (evidence[field] - w[2]) * w[3]))
            total += w[0] + w[1] * t
            if t >= 0.5:
                break
    return total


def score(evidence: dict[str, float]) -> float:
    """Posterior probability in [0, 1] that the evidence describes one person."""
    if not any(field in _WEIGHTS for field in evidence):
        return 0.0
    bits = _bits(evidence)
    return 1.0 / (1.0 + 2.0 ** min(-bits, 1000.0))


def _block_keys(p: _Prep) -> list[str]:
    v, dob, initial = p.values, p.values.get("birth_date", ""), p.name[:1]
    cjk = bool(_CJK.search(p.name))
    if cjk:
        # A Chinese surname is too common a key on its own (王 is 7% of people), so Chinese
        # names block on their first two characters or whole, never on surname + place.
        family, sound, code = "", "", p.name[:2]
    else:
        family, sound = p.surname, _soundex(p.surname)
        code = _soundex((p.given or p.name).split(" ")[0]) if p.given or p.name else ""
    # The street part, so "杭州西湖区文三路88号" and "西湖区文三路88号" share a key.
    street = p.street or p.address
    street = street[:8] if _CJK.search(street) else street[:6]
    keys = [
        f"sp:{family}|{v['postcode']}" if family and "postcode" in v else "",
        f"gy:{code}|{dob[:4]}" if code and dob else "",
        f"ss:{sound}|{v['suburb']}" if sound and "suburb" in v else "",
        f"sx:{code}|{sound}|{v.get('state', '')}" if code and sound else "",
        f"ps:{v['phone_suffix']}|{initial}" if "phone_suffix" in v and initial else "",
        f"nk:{v['nick']}" if "nick" in v else "",
        f"ad:{v.get('street_number', '')}|{street}" if len(street) >= 4 else "",
        f"db:{dob}" if len(dob) >= 6 else "",
        f"id:{v['id_number']}" if "id_number" in v else "",
        f"nm:{p.name}" if cjk else "",
    ]
    return [k for k in keys if k]


def block_keys(c: Candidate) -> list[str]:
    """Blocking keys: two candidates are compared only when they share one."""
    return _block_keys(_prepare(c))


def _pairs(preps: dict[int, _Prep], max_block: int) -> set[tuple[int, int]]:
    blocks: dict[str, list[_Prep]] = defaultdict(list)
    for p in preps.values():
        for k in set(_block_keys(p)):
            blocks[k].append(p)
    pairs: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2:
            continue
        # A huge block (a common surname in one postcode) is sorted and cut into chunks of
        # max_block, so its cost grows linearly and the same input always gives the same pairs.
        members.sort(key=lambda p: (p.name, p.values.get("birth_date", ""), p.address, p.key))
        for start in range(0, len(members), max(2, max_block)):
            keys = [m.key for m in members[start : start + max(2, max_block)]]
            for i, a in enumerate(keys):
                for b in keys[i + 1 :]:
                    pairs.add((a, b) if a < b else (b, a))
    return pairs


def candidate_pairs(candidates: Iterable[Candidate], max_block: int = 500) -> set[tuple[int, int]]:
    """The (a, b) pairs with a < b that suggest() would compare."""
    return _pairs({c.key: _prepare(c) for c in candidates}, max_block)


def suggest(
    candidates: Iterable[Candidate], threshold: float = 0.8, max_block: int = 500
) -> list[Suggestion]:
    """Merge suggestions over blocked pairs, scored, deduplicated, highest score first."""
    preps = {c.key: _prepare(c) for c in candidates}
    out = []
    # In bits, with a little slack for the rounding of the evidence that is reported.
    floor = math.log2(threshold / (1 - threshold)) - 0.01 if 0 < threshold < 1 else -math.inf
    for a, b in _pairs(preps, max_block):
        evidence = _compare(preps[a], preps[b])
        if not evidence or _bits(evidence) < floor:
            continue
        evidence = _rounded(evidence)
        s = score(evidence)
        if s >= threshold:
            out.append(Suggestion(a=a, b=b, score=s, evidence=evidence))
    out.sort(key=lambda s: (-s.score, s.a, s.b))
    return out
