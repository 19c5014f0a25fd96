"""The demo's lifecycle: one full refresh after loading, so RFM, funnel, CLV and dormancy fill."""

from __future__ import annotations

from siyu.core.auth import Principal
from siyu.core.db import Database
from siyu.lifecycle import tasks
from siyu.lifecycle.refresh import refresh_workspace


def fill(db: Database, principal: Principal) -> int:
    """Refresh the demo workspace's metrics and schedule the nightly pass; returns customers."""
    with db.transaction() as session:
        result = refresh_workspace(db, session, principal.workspace_id)
        tasks.ensure_nightly(session, principal.workspace_id)
    return result.customers
