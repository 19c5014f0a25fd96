"""PII normalization, validation, masking and the blind index."""

from __future__ import annotations

import pytest

from siyu.core.crypto import Keyring
from siyu.core.errors import InvalidField
from siyu.core.pii import (
    mask_email,
    mask_name,
    mask_phone,
    normalize_email,
    normalize_id_card,
    normalize_phone,
)


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        "+86 138-1234-5678",
        "86 13812345678",
        "0086-138-1234-5678",
        " (138) 1234 5678 ",
    ],
)
def test_mainland_phone_formats_are_one_number(raw: str) -> None:
    assert normalize_phone(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw", ["", "12345678901", "1381234567", "138123456789", "+1 415 555 0100", "abc"]
)
def test_invalid_phone_names_the_field(raw: str) -> None:
    with pytest.raises(InvalidField) as info:
        normalize_phone(raw, field="联系手机")
    assert info.value.detail["errors"][0]["field"] == "联系手机"


def test_email_and_id_card() -> None:
    assert normalize_email("  Li.Si@Example.CN ") == "li.si@example.cn"
    with pytest.raises(InvalidField):
        normalize_email("not-an-email")
    assert normalize_id_card("11010519491231002x") == "11010519491231002X"
    with pytest.raises(InvalidField):
        normalize_id_card("110105194912310021")


def test_masks() -> None:
    assert (mask_phone("13812345678"), mask_name("张三丰"), mask_email("abc@x.cn")) == (
        "138****5678",
        "张**",
        "a***@x.cn",
    )


def test_blind_index_is_keyed_and_deterministic() -> None:
    a, b = Keyring.generate(), Keyring.generate()
    assert a.blind_index("phone", "13812345678") == a.blind_index("phone", "13812345678")
    assert a.blind_index("phone", "13812345678") != b.blind_index("phone", "13812345678")
    assert a.blind_index("phone", "13812345678") != a.blind_index("email", "13812345678")
