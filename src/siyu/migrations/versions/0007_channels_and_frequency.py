"""channels and frequency

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import siyu.core.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_config",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("base_url", sa.String(length=256), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.LargeBinary(), nullable=True),
        sa.Column("rate_per_second", sa.Double(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_channel_config_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_config")),
        sa.UniqueConstraint(
            "workspace_id", "channel", name=op.f("uq_channel_config_workspace_id_channel")
        ),
    )
    with op.batch_alter_table("channel_config", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_config_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "channel_provider_token",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            name=op.f("fk_channel_provider_token_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_provider_token")),
        sa.UniqueConstraint(
            "workspace_id", "channel", name=op.f("uq_channel_provider_token_workspace_id_channel")
        ),
    )
    with op.batch_alter_table("channel_provider_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_provider_token_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "channel_rate_bucket",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("refreshed_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            name=op.f("fk_channel_rate_bucket_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_rate_bucket")),
        sa.UniqueConstraint(
            "workspace_id", "channel", name=op.f("uq_channel_rate_bucket_workspace_id_channel")
        ),
    )
    with op.batch_alter_table("channel_rate_bucket", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_rate_bucket_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "contact_state",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("tightened_until", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tightened_reason", sa.String(length=32), nullable=True),
        sa.Column("complaints", sa.Integer(), nullable=False),
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
            name=op.f("fk_contact_state_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_state")),
        sa.UniqueConstraint(
            "workspace_id", "customer_id", name=op.f("uq_contact_state_workspace_id_customer_id")
        ),
    )
    with op.batch_alter_table("contact_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_state_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "frequency_policy",
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("weekly_cap", sa.Integer(), nullable=False),
        sa.Column("low_activity_stages", sa.JSON(), nullable=False),
        sa.Column("low_activity_weekly_cap", sa.Integer(), nullable=False),
        sa.Column("tightened_weekly_cap", sa.Integer(), nullable=False),
        sa.Column("tighten_days", sa.Integer(), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=False),
        sa.Column("quiet_end", sa.String(length=5), nullable=False),
        sa.Column("link_base_url", sa.String(length=256), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_frequency_policy_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frequency_policy")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_frequency_policy_workspace_id")),
    )
    with op.batch_alter_table("frequency_policy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_frequency_policy_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "message_template",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("sms_template_code", sa.String(length=64), nullable=True),
        sa.Column("sms_params", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_message_template_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_template")),
        sa.UniqueConstraint(
            "workspace_id", "name", name=op.f("uq_message_template_workspace_id_name")
        ),
    )
    with op.batch_alter_table("message_template", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_template_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "sandbox_message",
        sa.Column("touch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("subject", sa.LargeBinary(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
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
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sandbox_message_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_message")),
    )
    with op.batch_alter_table("sandbox_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandbox_message_touch_id"), ["touch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sandbox_message_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "short_link",
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("touch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
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
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_short_link_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_short_link")),
        sa.UniqueConstraint("code", name=op.f("uq_short_link_code")),
    )
    with op.batch_alter_table("short_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_short_link_touch_id"), ["touch_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_short_link_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "wecom_task",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("remote_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_wecom_task_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_task")),
    )
    with op.batch_alter_table("wecom_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_wecom_task_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "touch",
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column(
            "template_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("slot_day", sa.Integer(), nullable=False),
        sa.Column("defer_until", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("rendered", sa.LargeBinary(), nullable=True),
        sa.Column("sent_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_touch_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_touch_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touch")),
        sa.UniqueConstraint(
            "workspace_id", "idempotency_key", name=op.f("uq_touch_workspace_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.create_index("ix_touch_customer_day", ["customer_id", "slot_day"], unique=False)
        batch_op.create_index(
            "ix_touch_provider_msg", ["channel", "provider_message_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_touch_workspace_id"), ["workspace_id"], unique=False)
        batch_op.create_index("ix_touch_ws_source", ["workspace_id", "source"], unique=False)
        batch_op.create_index("ix_touch_ws_status", ["workspace_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("touch", schema=None) as batch_op:
        batch_op.drop_index("ix_touch_ws_status")
        batch_op.drop_index("ix_touch_ws_source")
        batch_op.drop_index(batch_op.f("ix_touch_workspace_id"))
        batch_op.drop_index("ix_touch_provider_msg")
        batch_op.drop_index("ix_touch_customer_day")

    op.drop_table("touch")
    with op.batch_alter_table("wecom_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wecom_task_workspace_id"))

    op.drop_table("wecom_task")
    with op.batch_alter_table("short_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_short_link_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_short_link_touch_id"))

    op.drop_table("short_link")
    with op.batch_alter_table("sandbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_message_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_sandbox_message_touch_id"))

    op.drop_table("sandbox_message")
    with op.batch_alter_table("message_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_template_workspace_id"))

    op.drop_table("message_template")
    with op.batch_alter_table("frequency_policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_frequency_policy_workspace_id"))

    op.drop_table("frequency_policy")
    with op.batch_alter_table("contact_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_state_workspace_id"))

    op.drop_table("contact_state")
    with op.batch_alter_table("channel_rate_bucket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_rate_bucket_workspace_id"))

    op.drop_table("channel_rate_bucket")
    with op.batch_alter_table("channel_provider_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_provider_token_workspace_id"))

    op.drop_table("channel_provider_token")
    with op.batch_alter_table("channel_config", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_config_workspace_id"))

    op.drop_table("channel_config")
