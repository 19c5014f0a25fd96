"""points lot FIFO index: open lots only, in redemption order

Redemptions read the head of a customer's open lots (soonest expiry, then oldest). The old
index (customer_id, expires_at) also held exhausted lots and could not give the tie-break
order, so every redemption sorted all the customer's lots; this one is a short index scan.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

OPEN = sa.text("remaining > 0")


def upgrade() -> None:
    op.drop_index("ix_points_lot_open", table_name="points_lot")
    op.create_index(
        "ix_points_lot_fifo",
        "points_lot",
        ["workspace_id", "customer_id", "expires_at", "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_points_lot_fifo", table_name="points_lot")
    op.create_index("ix_points_lot_open", "points_lot", ["customer_id", "expires_at"])
