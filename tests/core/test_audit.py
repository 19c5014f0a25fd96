"""The audit log is append-only on both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DatabaseError

from siyu.core import audit
from siyu.core.audit import AuditEntry
from siyu.core.db import Database
from tests.conftest import Tenant


@pytest.mark.parametrize("change", ["update", "delete"])
def test_audit_rows_cannot_be_changed_or_removed(db: Database, tenant: Tenant, change: str) -> None:
    with db.transaction() as session:
        entry = audit.record(session, tenant.principal, "export", "segment", 1, rows=10)
        session.flush()
        entry_id = entry.id
    stmt = update(AuditEntry).values(action="nothing") if change == "update" else delete(AuditEntry)
    with pytest.raises(DatabaseError, match="append-only"), db.transaction() as session:
        session.execute(stmt.where(AuditEntry.id == entry_id))
    with db.transaction() as session:
        assert session.get(AuditEntry, entry_id).action == "export"  # type: ignore[union-attr]
