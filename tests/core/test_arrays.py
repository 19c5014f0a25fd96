"""Array statements on PostgreSQL: one INSERT/UPDATE for many rows, same outcome as row by row."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from siyu.core.arrays import insert_unnest, update_unnest
from siyu.core.db import Database

pytestmark = pytest.mark.parametrize("db", ["postgresql"], indirect=True)
ITEMS = Table(
    "arrays_item",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("k", String(16), unique=True),
    Column("n", Integer),
)


def _table(session) -> None:  # type: ignore[no-untyped-def]
    session.execute(
        text("CREATE TEMP TABLE arrays_item (id serial PRIMARY KEY, k varchar(16) UNIQUE, n int)")
    )


def test_insert_skips_taken_keys_and_returns_only_new_rows(db: Database) -> None:
    with db.transaction() as session:
        _table(session)
        first = insert_unnest(
            session, ITEMS, [{"k": "a", "n": 1}, {"k": "b", "n": 2}], ("k",), ("k", "n")
        )
        again = insert_unnest(
            session, ITEMS, [{"k": "b", "n": 9}, {"k": "c", "n": 3}], ("k",), ("k",)
        )
        rows = session.execute(text("SELECT k, n FROM arrays_item ORDER BY k")).all()
    assert sorted(first) == [("a", 1), ("b", 2)]
    assert again == [("c",)]
    assert [tuple(r) for r in rows] == [("a", 1), ("b", 2), ("c", 3)]
    assert insert_unnest(session, ITEMS, []) == []


def test_update_by_key_takes_the_last_row_of_a_repeated_key(db: Database) -> None:
    with db.transaction() as session:
        _table(session)
        insert_unnest(session, ITEMS, [{"k": "a", "n": 1}, {"k": "b", "n": 2}, {"k": "c", "n": 3}])
        update_unnest(
            session, ITEMS, "k", [{"k": "a", "n": 10}, {"k": "c", "n": 30}, {"k": "a", "n": 11}]
        )
        rows = session.execute(text("SELECT k, n FROM arrays_item ORDER BY k")).all()
    assert [tuple(r) for r in rows] == [("a", 11), ("b", 2), ("c", 30)]
