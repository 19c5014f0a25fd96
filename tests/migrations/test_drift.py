"""The migrations build exactly the tables the models declare, on both stores."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from siyu.core.db import Database
from siyu.core.registry import metadata


def test_migrated_schema_matches_the_models(db: Database) -> None:
    with db.transaction() as session:
        context = MigrationContext.configure(session.connection(), opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []
