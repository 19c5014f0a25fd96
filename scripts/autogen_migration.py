"""Print the Alembic operations that bring a fresh store at head up to the models.

Paste the output into the domain's migration file, then `ruff format` it:
    python scripts/autogen_migration.py
"""

from __future__ import annotations

import tempfile

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.migration import MigrationContext

from siyu.core.db import make_engine
from siyu.core.migrate import upgrade
from siyu.core.registry import metadata


def main() -> None:
    """Upgrade a throwaway SQLite store to head and print what the models still add."""
    engine = make_engine(f"sqlite:///{tempfile.mkdtemp()}/autogen.db")
    upgrade(engine)
    with engine.connect() as connection:
        options = {"compare_type": True, "render_as_batch": True}
        ops = produce_migrations(MigrationContext.configure(connection, opts=options), metadata)
    print("def upgrade() -> None:")
    print(render_python_code(ops.upgrade_ops, render_as_batch=True))
    print("\n\ndef downgrade() -> None:")
    print(render_python_code(ops.downgrade_ops, render_as_batch=True))


if __name__ == "__main__":
    main()
