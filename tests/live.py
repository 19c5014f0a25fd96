"""Real concurrency needs real commits: a throwaway workspace on a store's own engine."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import delete

from siyu.core.db import Database, make_engine
from siyu.core.outbox import OutboxMessage
from siyu.workspaces import service as workspaces
from siyu.workspaces.models import Workspace
from tests.conftest import Tenant

T = TypeVar("T")


@contextmanager
def committed_workspace(engines: Any, kind: str, threads: int) -> Iterator[tuple[Database, Tenant]]:
    """A Database whose transactions really commit, with a fresh workspace removed afterwards."""
    url = engines(kind).url.render_as_string(hide_password=False)
    db = Database(make_engine(url, pool_size=threads, max_overflow=4))
    with db.transaction() as session:
        workspace, key = workspaces.create_workspace(session, f"live-{uuid.uuid4().hex[:12]}")
    try:
        yield db, Tenant(workspace.id, key)
    finally:
        with db.transaction() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.workspace_id == workspace.id))
            session.execute(delete(Workspace).where(Workspace.id == workspace.id))
        db.engine.dispose()


def race(threads: int, count: int, work: Callable[[int], T]) -> list[T | Exception]:
    """Run work(i) for i < count on real threads at once; each outcome or its exception."""

    def one(i: int) -> T | Exception:
        try:
            return work(i)
        except Exception as exc:  # the outcome under test, not a failure of the harness
            return exc

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(one, range(count)))
