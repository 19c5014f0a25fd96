"""ingest fast path

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import siyu.core.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_landing",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_event_landing_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_landing")),
        sa.UniqueConstraint(
            "workspace_id", "event_id", name=op.f("uq_event_landing_workspace_id_event_id")
        ),
    )
    with op.batch_alter_table("event_landing", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_landing_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("event_landing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_landing_workspace_id"))
    op.drop_table("event_landing")
