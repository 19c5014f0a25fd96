"""touch: drop the single-column workspace index

Every touch insert maintained it, and no query needs it: the unique (workspace_id,
idempotency_key) and ix_touch_ws_status / ix_touch_ws_source all lead with workspace_id, so
they serve any lookup by workspace (the console's lists, the workspace cascade) as well.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_touch_workspace_id", table_name="touch")


def downgrade() -> None:
    op.create_index("ix_touch_workspace_id", "touch", ["workspace_id"])
