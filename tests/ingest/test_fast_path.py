"""The bulk helpers the fast paths rely on: same values as the slow paths, on both stores."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from sqlalchemy import select

from siyu.core.auth import system_principal
from siyu.core.crypto import get_keyring
from siyu.core.db import Database, bulk_update, one_of, table_of
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerCreate
from siyu.customers.service import create_customer
from siyu.ingest.readers import parse_time
from tests.conftest import Tenant


def test_blind_index_is_still_hmac_sha256_of_kind_and_value() -> None:
    ring = get_keyring()
    expected = hmac.new(ring.blind_key, b"phone:13812345678", hashlib.sha256).hexdigest()
    # Stored indexes must keep matching: the fast digest gives the very same text.
    assert ring.blind_index("phone", "13812345678") == expected


def test_parse_time_fast_path_equals_the_format() -> None:
    for text in ("2026-01-05 10:20:30", "2026-12-31 23:59:59"):
        assert parse_time(text) == datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    # Unpadded values still go through strptime.
    assert parse_time("2026-1-5 1:02:03") == datetime(2026, 1, 5, 1, 2, 3)


def test_bulk_update_converts_and_one_of_matches(db: Database, tenant: Tenant) -> None:
    with db.transaction() as session:
        principal = system_principal(tenant.workspace_id)
        ids = [
            create_customer(session, principal, CustomerCreate(name=n)).id
            for n in ("甲", "乙", "丙")
        ]
        untouched = session.scalar(select(Customer.last_seen_at).where(Customer.id == ids[2]))
    seen = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    with db.transaction() as session:
        rows = [{"name": f"新{i}", "last_seen_at": seen, "id": i} for i in ids[:2]]
        # Columns convert as in bulk_insert: the name is encrypted, the time stored as UTC.
        bulk_update(session, table_of(Customer), "id", rows)
    with db.transaction() as session:
        got = session.execute(
            select(Customer.id, Customer.name, Customer.last_seen_at)
            .where(one_of(session, Customer.id, ids))
            .order_by(Customer.id)
        ).all()
        picked = list(
            session.scalars(select(Customer.id).where(one_of(session, Customer.id, ids[1:])))
        )
    assert [tuple(r) for r in got] == [
        (ids[0], f"新{ids[0]}", seen),
        (ids[1], f"新{ids[1]}", seen),
        (ids[2], "丙", untouched),
    ]
    assert sorted(picked) == ids[1:]
