"""AES-GCM at rest, key files, and rotation that re-encrypts every PII column."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import LargeBinary, select, type_coerce

from siyu.core.crypto import Keyring, set_keyring
from siyu.core.db import Database
from siyu.core.rotation import rotate
from siyu.customers.models import Customer
from tests.conftest import Tenant


def test_round_trip_and_context_binding() -> None:
    ring = Keyring.generate()
    blob = ring.encrypt("13812345678", "customer.phone")
    assert b"13812345678" not in blob
    assert ring.decrypt(blob, "customer.phone") == "13812345678"
    with pytest.raises(InvalidTag):
        ring.decrypt(blob, "customer.email")


def test_keys_file_is_created_private_and_reloaded(tmp_path: Path) -> None:
    ring = Keyring.load_or_create(tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / "keys.json").st_mode)
    assert mode == 0o600
    again = Keyring.load_or_create(tmp_path)
    assert again.decrypt(ring.encrypt("x", "c"), "c") == "x"


def test_rotation_reencrypts_everything_and_retires_old_key(
    db: Database, tenant: Tenant, tmp_path: Path, keyring: Keyring
) -> None:
    ring = Keyring.load_or_create(tmp_path)
    set_keyring(ring)
    try:
        with db.transaction() as session:
            for i in range(7):
                session.add(
                    Customer(
                        workspace_id=tenant.workspace_id, name=f"客户{i}", phone=f"1380000000{i}"
                    )
                )
        assert rotate(db, ring) == {"customer": 7}
        assert sorted(ring.encryption) == [2]
        reloaded = Keyring.load_or_create(tmp_path)
        assert reloaded.primary == 2 and sorted(reloaded.encryption) == [2]
        with db.transaction() as session:
            raw = session.execute(select(type_coerce(Customer.phone, LargeBinary))).scalars().all()
            assert {reloaded.key_id_of(bytes(b)) for b in raw} == {2}
            phones = session.scalars(select(Customer.phone).order_by(Customer.id)).all()
        assert phones == [f"1380000000{i}" for i in range(7)]
    finally:
        set_keyring(keyring)
