"""Identifier types OneID knows, how each is normalized, and which are strong by default."""

from __future__ import annotations

from siyu.core.errors import InvalidField
from siyu.core.pii import normalize_email, normalize_phone

TYPES = (
    "phone",
    "email",
    "wechat_unionid",
    "wechat_openid",
    "wecom_external_userid",
    "taobao_buyer_id",
    "taobao_nick",
    "jd_pin",
    "youzan_buyer_id",
    "douyin_buyer_id",
    "member_card",
    "device_id",
)
# Strong identifiers name one person: two customers sharing one are merged automatically.
DEFAULT_STRONG = ("phone", "wechat_unionid", "member_card", "wecom_external_userid")
# Which identifier types carry PII (their values are never shown to roles without full PII).
PII_TYPES = {"phone", "email"}


def normalize(kind: str, raw: object, field: str | None = None) -> str:
    """The canonical value of an identifier; a bad one is an error naming the field."""
    field = field or kind
    if kind not in TYPES:
        raise InvalidField(field, f"未知的标识类型 {kind}", f"unknown identifier type {kind}")
    if not isinstance(raw, str | int) or isinstance(raw, bool):
        raise InvalidField(field, "应为字符串", "must be a string")
    value = str(raw).strip()
    if kind == "phone":
        return normalize_phone(value, field)
    if kind == "email":
        return normalize_email(value, field)
    if kind == "wechat_openid" and ":" not in value:
        # An openid only means something inside one app, so its app id is part of the value.
        raise InvalidField(
            field, "openid 需写成 appid:openid", "openid must be written appid:openid"
        )
    if not value or len(value) > 128:
        raise InvalidField(field, "应为1到128个字符", "must be 1 to 128 characters")
    return value
