"""Coupon codes that cannot be guessed: 75 random bits and a Luhn mod-32 check character."""

from __future__ import annotations

import secrets

from siyu.core.errors import InvalidField

# Crockford's base32: no I, L, O or U, so codes read aloud or typed are not mistaken.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_CHARS = 15  # 15 × 5 = 75 bits from the OS's CSPRNG


def _check_char(body: str) -> str:
    """Luhn mod N: catches any single wrong character and most swapped neighbours."""
    n = len(ALPHABET)
    total, factor = 0, 2
    for char in reversed(body):
        addend = factor * ALPHABET.index(char)
        total += addend // n + addend % n
        factor = 1 if factor == 2 else 2
    return ALPHABET[(n - total % n) % n]


def new_code() -> str:
    """A fresh code: 15 random characters and the check character."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS))
    return body + _check_char(body)


def normalize(code: str) -> str:
    """Upper-case, without spaces or dashes, with the check character verified."""
    clean = code.strip().upper().replace("-", "").replace(" ", "")
    if len(clean) != RANDOM_CHARS + 1 or any(c not in ALPHABET for c in clean):
        raise InvalidField("code", "券码格式不正确", "is not a coupon code")
    if _check_char(clean[:-1]) != clean[-1]:
        raise InvalidField("code", "券码校验位不符，请检查输入", "check character does not match")
    return clean


def pretty(code: str) -> str:
    """XXXX-XXXX-XXXX-XXXX for people."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
