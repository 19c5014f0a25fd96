"""journey_timer and outbox: claim indexes that end with the id the claim orders by

Both claims take the oldest due rows, ties broken by id, LIMIT a batch. With the indexes on
(due_at) and (status, run_at) alone PostgreSQL could not read them in that order: it joined
and sorted every due row for each batch (205 ms a claim with 100,000 timers due, against
2.4 ms by the index), a cost that grew with the store. SQLite's indexes already end with the
rowid, so there this only renames what it had.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_journey_timer_due", table_name="journey_timer")
    op.create_index("ix_journey_timer_due", "journey_timer", ["due_at", "id"])
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "run_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "run_at"])
    op.drop_index("ix_journey_timer_due", table_name="journey_timer")
    op.create_index("ix_journey_timer_due", "journey_timer", ["due_at"])
