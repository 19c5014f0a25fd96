"""A pooled PostgreSQL connection the server closed is replaced at checkout, without a ping."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from siyu.core.db import make_engine
from tests.pg import TempPostgres


def test_a_connection_the_server_closed_is_replaced_at_checkout(
    postgres: TempPostgres | None,
) -> None:
    if postgres is None:
        pytest.skip("PostgreSQL is not installed here")
    engine = make_engine(postgres.url("postgres"), pool_size=1, max_overflow=0)
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    try:
        with engine.connect() as conn:
            first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = make_engine(postgres.url("postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as other:
            # Waits until the backend has gone.
            other.execute(text("SELECT pg_terminate_backend(:p, 10000)"), {"p": first})
        admin.dispose()
        with engine.connect() as conn:
            second = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == second
    finally:
        engine.dispose()
    assert second != first
    # Checkouts of a live connection send nothing of their own.
    assert sent == ["SELECT pg_backend_pid()"] * 2 + ["SELECT 1", "SELECT pg_backend_pid()"]
