"""PII kinds: normalization, validation, the encrypted column type and masking."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from siyu.core.crypto import get_keyring
from siyu.core.errors import InvalidField

_PHONE_JUNK = re.compile(r"[\s\-().]")
_MAINLAND_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalize_phone(raw: str, field: str = "phone") -> str:
    """Mainland mobile to 11 digits: 13812345678, +86 138-1234-5678 and 86 13812345678 are one."""
    digits = _PHONE_JUNK.sub("", raw or "")
    if digits.startswith("+"):
        # An explicit country code must be China's.
        digits = digits[3:] if digits.startswith("+86") else "invalid"
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not _MAINLAND_MOBILE.match(digits):
        raise InvalidField(
            field,
            "不是有效的中国大陆手机号（11位，以1开头）",
            "not a valid mainland China mobile number (11 digits starting with 1)",
        )
    return digits


def normalize_email(raw: str, field: str = "email") -> str:
    """Trim and lower-case an email address; refuse one without user@domain.tld."""
    value = (raw or "").strip().lower()
    if not _EMAIL.match(value):
        raise InvalidField(field, "不是有效的邮箱地址", "not a valid email address")
    return value


def normalize_name(raw: str, field: str = "name") -> str:
    """Collapse whitespace in a real name; refuse an empty or over-long one."""
    value = " ".join((raw or "").split())
    if not value or len(value) > 64:
        raise InvalidField(field, "姓名不能为空且不超过64字", "must be 1 to 64 characters")
    return value


def normalize_address(raw: str, field: str = "address") -> str:
    """Collapse whitespace in an address."""
    value = " ".join((raw or "").split())
    if not value or len(value) > 256:
        raise InvalidField(field, "地址不能为空且不超过256字", "must be 1 to 256 characters")
    return value


def normalize_id_card(raw: str, field: str = "id_card") -> str:
    """18-character resident ID with a valid check digit."""
    value = (raw or "").strip().upper()
    if len(value) != 18 or not value[:17].isdigit():
        raise InvalidField(field, "身份证号应为18位", "must be 18 characters")
    total = sum(int(c) * w for c, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        raise InvalidField(field, "身份证号校验位错误", "check digit does not match")
    return value


NORMALIZERS = {
    "phone": normalize_phone,
    "email": normalize_email,
    "name": normalize_name,
    "address": normalize_address,
    "id_card": normalize_id_card,
}


def blind_index(kind: str, normalized: str) -> str:
    """Blind index of an already-normalized value of the given PII kind."""
    return get_keyring().blind_index(kind, normalized)


def mask_phone(phone: str) -> str:
    """138****5678."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_name(name: str) -> str:
    """张** for 张三丰."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_email(email: str) -> str:
    """a***@example.com."""
    user, _, domain = email.partition("@")
    return f"{user[:1]}***@{domain}"


class EncryptedString(TypeDecorator[str]):
    """A string column stored as AES-GCM ciphertext; the context binds it to its field."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, context: str) -> None:
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return get_keyring().encrypt(str(value), self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return get_keyring().decrypt(bytes(value), self.context)
