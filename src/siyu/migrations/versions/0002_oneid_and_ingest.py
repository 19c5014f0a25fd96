"""oneid and ingest

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import siyu.core.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "column_mapping",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
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
            name=op.f("fk_column_mapping_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_column_mapping")),
        sa.UniqueConstraint(
            "workspace_id", "name", name=op.f("uq_column_mapping_workspace_id_name")
        ),
    )
    with op.batch_alter_table("column_mapping", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_column_mapping_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "import_job",
        sa.Column("layout", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("rows_ok", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
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
            name=op.f("fk_import_job_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.create_index("ix_import_job_hash", ["workspace_id", "file_hash"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_import_job_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "merge_record",
        sa.Column(
            "survivor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "absorbed_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("watermarks", sa.JSON(), nullable=False),
        sa.Column("survivor_before", sa.LargeBinary(), nullable=False),
        sa.Column("absorbed_before", sa.LargeBinary(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("undone_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
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
            name=op.f("fk_merge_record_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_record")),
    )
    with op.batch_alter_table("merge_record", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_merge_record_absorbed_id"), ["absorbed_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_merge_record_survivor_id"), ["survivor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_merge_record_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "merge_suggestion",
        sa.Column(
            "customer_a", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_b", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("merge_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
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
            name=op.f("fk_merge_suggestion_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_suggestion")),
        sa.UniqueConstraint(
            "workspace_id",
            "customer_a",
            "customer_b",
            name=op.f("uq_merge_suggestion_workspace_id_customer_a_customer_b"),
        ),
    )
    with op.batch_alter_table("merge_suggestion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merge_suggestion_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_merge_suggestion_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "consent",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_consent_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_consent_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "event",
        sa.Column("event_id", sa.String(length=128), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_event_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_event_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint(
            "workspace_id", "event_id", name=op.f("uq_event_workspace_id_event_id")
        ),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index("ix_event_customer_at", ["customer_id", "occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "identity",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("value_bidx", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("first_seen_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_identity_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_identity_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity")),
        sa.UniqueConstraint(
            "workspace_id",
            "type",
            "value_bidx",
            name=op.f("uq_identity_workspace_id_type_value_bidx"),
        ),
    )
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.create_index("ix_identity_customer", ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_identity_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("ordered_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("store", sa.String(length=64), nullable=True),
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("touchpoint", sa.String(length=32), nullable=True),
        sa.Column("province", sa.String(length=32), nullable=True),
        sa.Column("city", sa.String(length=32), nullable=True),
        sa.Column("address", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_orders_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_orders_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "workspace_id",
            "channel",
            "external_id",
            name=op.f("uq_orders_workspace_id_channel_external_id"),
        ),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_customer_at", ["customer_id", "ordered_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_orders_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orders_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "observation",
        sa.Column("record", sa.String(length=160), nullable=False),
        sa.Column(
            "identity_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("observed_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            ["identity_id"], ["identity.id"], name=op.f("fk_observation_identity_id_identity")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_observation_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation")),
        sa.UniqueConstraint(
            "workspace_id",
            "record",
            "identity_id",
            name=op.f("uq_observation_workspace_id_record_identity_id"),
        ),
    )
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observation_identity_id"), ["identity_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_observation_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "order_line",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product", sa.String(length=256), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_quantity", sa.Integer(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
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
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_line_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_order_line_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_line")),
    )
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_line_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_order_line_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "refund",
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=256), nullable=True),
        sa.Column("at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            ["order_id"], ["orders.id"], name=op.f("fk_refund_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_refund_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund")),
        sa.UniqueConstraint(
            "workspace_id",
            "order_id",
            "external_id",
            name=op.f("uq_refund_workspace_id_order_id_external_id"),
        ),
    )
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refund_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_refund_workspace_id"), ["workspace_id"], unique=False)

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("gender", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("birthday", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("province", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("city", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column(
                "merged_into_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("first_seen_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_seen_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_customer_merged_into_id"), ["merged_into_id"], unique=False
        )

    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settings", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_column("settings")

    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_merged_into_id"))
        batch_op.drop_column("last_seen_at")
        batch_op.drop_column("first_seen_at")
        batch_op.drop_column("merged_into_id")
        batch_op.drop_column("city")
        batch_op.drop_column("province")
        batch_op.drop_column("birthday")
        batch_op.drop_column("gender")
        batch_op.drop_column("address")

    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refund_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_refund_order_id"))

    op.drop_table("refund")
    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_line_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_order_line_order_id"))

    op.drop_table("order_line")
    with op.batch_alter_table("observation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observation_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_observation_identity_id"))

    op.drop_table("observation")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_orders_distributor_id"))
        batch_op.drop_index("ix_orders_customer_at")

    op.drop_table("orders")
    with op.batch_alter_table("identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_workspace_id"))
        batch_op.drop_index("ix_identity_customer")

    op.drop_table("identity")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_workspace_id"))
        batch_op.drop_index("ix_event_customer_at")

    op.drop_table("event")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_consent_customer_id"))

    op.drop_table("consent")
    with op.batch_alter_table("merge_suggestion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merge_suggestion_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_merge_suggestion_status"))

    op.drop_table("merge_suggestion")
    with op.batch_alter_table("merge_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merge_record_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_merge_record_survivor_id"))
        batch_op.drop_index(batch_op.f("ix_merge_record_absorbed_id"))

    op.drop_table("merge_record")
    with op.batch_alter_table("import_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_job_workspace_id"))
        batch_op.drop_index("ix_import_job_hash")

    op.drop_table("import_job")
    with op.batch_alter_table("column_mapping", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_column_mapping_workspace_id"))

    op.drop_table("column_mapping")
