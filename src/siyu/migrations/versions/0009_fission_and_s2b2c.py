"""fission and s2b2c

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import siyu.core.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "distributor",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.LargeBinary(), nullable=True),
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("city", sa.String(length=32), nullable=True),
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
            ["parent_id"], ["distributor.id"], name=op.f("fk_distributor_parent_id_distributor")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_distributor_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distributor")),
        sa.UniqueConstraint("workspace_id", "code", name=op.f("uq_distributor_workspace_id_code")),
    )
    with op.batch_alter_table("distributor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_distributor_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_distributor_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "invite_campaign",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("goal", sa.String(length=16), nullable=False),
        sa.Column("reward_kind", sa.String(length=16), nullable=False),
        sa.Column("inviter_points", sa.Integer(), nullable=False),
        sa.Column("invitee_points", sa.Integer(), nullable=False),
        sa.Column(
            "coupon_template_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("reward_cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
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
            name=op.f("fk_invite_campaign_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_campaign")),
    )
    with op.batch_alter_table("invite_campaign", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invite_campaign_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "supplier",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column(
            "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("inventory_url", sa.String(length=512), nullable=True),
        sa.Column("pull_minutes", sa.Integer(), nullable=False),
        sa.Column("last_pulled_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_pull_error", sa.Text(), nullable=True),
        sa.Column("low_stock", sa.Integer(), nullable=False),
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
            name=op.f("fk_supplier_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier")),
        sa.UniqueConstraint("workspace_id", "code", name=op.f("uq_supplier_workspace_id_code")),
    )
    with op.batch_alter_table("supplier", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_supplier_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "touchpoint",
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
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
            name=op.f("fk_touchpoint_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touchpoint")),
        sa.UniqueConstraint("code", name=op.f("uq_touchpoint_code")),
    )
    with op.batch_alter_table("touchpoint", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_touchpoint_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_touchpoint_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "invite_link",
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "inviter_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
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
            ["campaign_id"],
            ["invite_campaign.id"],
            name=op.f("fk_invite_link_campaign_id_invite_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["customer.id"], name=op.f("fk_invite_link_inviter_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_invite_link_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_link")),
        sa.UniqueConstraint(
            "campaign_id", "inviter_id", name=op.f("uq_invite_link_campaign_id_inviter_id")
        ),
        sa.UniqueConstraint("code", name=op.f("uq_invite_link_code")),
    )
    with op.batch_alter_table("invite_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invite_link_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "payout",
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("paid_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=True),
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
            ["distributor_id"],
            ["distributor.id"],
            name=op.f("fk_payout_distributor_id_distributor"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_payout_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout")),
    )
    with op.batch_alter_table("payout", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_payout_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_payout_workspace_id"), ["workspace_id"], unique=False)
    op.create_table(
        "product",
        sa.Column(
            "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("image_url", sa.String(length=512), nullable=True),
        sa.Column("copy", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
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
            ["supplier_id"], ["supplier.id"], name=op.f("fk_product_supplier_id_supplier")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_product_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product")),
    )
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_supplier_id"), ["supplier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_product_workspace_id"), ["workspace_id"], unique=False)
    op.create_table(
        "touchpoint_step",
        sa.Column(
            "touchpoint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("step", sa.String(length=16), nullable=False),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_touchpoint_step_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["touchpoint_id"],
            ["touchpoint.id"],
            name=op.f("fk_touchpoint_step_touchpoint_id_touchpoint"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_touchpoint_step_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touchpoint_step")),
        sa.UniqueConstraint(
            "touchpoint_id",
            "customer_id",
            "step",
            name=op.f("uq_touchpoint_step_touchpoint_id_customer_id_step"),
        ),
    )
    with op.batch_alter_table("touchpoint_step", schema=None) as batch_op:
        batch_op.create_index("ix_touchpoint_step_customer", ["customer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_touchpoint_step_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "commission_entry",
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("refund_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_fen", sa.BigInteger(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dedupe", sa.String(length=64), nullable=False),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settle_after", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("payout_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
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
            ["distributor_id"],
            ["distributor.id"],
            name=op.f("fk_commission_entry_distributor_id_distributor"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_commission_entry_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_commission_entry_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_entry")),
        sa.UniqueConstraint(
            "workspace_id", "dedupe", name=op.f("uq_commission_entry_workspace_id_dedupe")
        ),
    )
    with op.batch_alter_table("commission_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commission_entry_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index("ix_commission_entry_due", ["status", "settle_after"], unique=False)
        batch_op.create_index("ix_commission_entry_order", ["order_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_commission_entry_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "commission_rule",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("level1_bps", sa.Integer(), nullable=False),
        sa.Column("level2_bps", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
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
            ["product_id"], ["product.id"], name=op.f("fk_commission_rule_product_id_product")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_commission_rule_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_rule")),
    )
    with op.batch_alter_table("commission_rule", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_commission_rule_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "invite",
        sa.Column(
            "campaign_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "inviter_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "invitee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("converted_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
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
            ["campaign_id"],
            ["invite_campaign.id"],
            name=op.f("fk_invite_campaign_id_invite_campaign"),
        ),
        sa.ForeignKeyConstraint(
            ["invitee_id"], ["customer.id"], name=op.f("fk_invite_invitee_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"], ["customer.id"], name=op.f("fk_invite_inviter_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"], ["invite_link.id"], name=op.f("fk_invite_link_id_invite_link")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_invite_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite")),
        sa.UniqueConstraint(
            "campaign_id", "invitee_id", name=op.f("uq_invite_campaign_id_invitee_id")
        ),
    )
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invite_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invite_invitee_id"), ["invitee_id"], unique=False)
        batch_op.create_index("ix_invite_inviter", ["inviter_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_invite_workspace_id"), ["workspace_id"], unique=False)
    op.create_table(
        "material",
        sa.Column(
            "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("url", sa.String(length=512), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=True),
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
            ["product_id"], ["product.id"], name=op.f("fk_material_product_id_product")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_material_supplier_id_supplier")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_material_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material")),
    )
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_material_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "share_link",
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
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
            ["distributor_id"],
            ["distributor.id"],
            name=op.f("fk_share_link_distributor_id_distributor"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_share_link_product_id_product")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_share_link_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_link")),
        sa.UniqueConstraint("code", name=op.f("uq_share_link_code")),
    )
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_share_link_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_share_link_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "sku",
        sa.Column(
            "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
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
            ["product_id"], ["product.id"], name=op.f("fk_sku_product_id_product")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_sku_supplier_id_supplier")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_sku_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sku")),
        sa.UniqueConstraint("workspace_id", "code", name=op.f("uq_sku_workspace_id_code")),
    )
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sku_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sku_supplier_id"), ["supplier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sku_workspace_id"), ["workspace_id"], unique=False)
    op.create_table(
        "group_template",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.Column("group_price_fen", sa.BigInteger(), nullable=False),
        sa.Column("time_limit_minutes", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
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
        sa.ForeignKeyConstraint(["sku_id"], ["sku.id"], name=op.f("fk_group_template_sku_id_sku")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_group_template_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_template")),
    )
    with op.batch_alter_table("group_template", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_template_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "invite_reward",
        sa.Column(
            "invite_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column(
            "coupon_template_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cost_fen", sa.BigInteger(), nullable=False),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_invite_reward_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["invite_id"],
            ["invite.id"],
            name=op.f("fk_invite_reward_invite_id_invite"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_invite_reward_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_reward")),
        sa.UniqueConstraint("workspace_id", "key", name=op.f("uq_invite_reward_workspace_id_key")),
    )
    with op.batch_alter_table("invite_reward", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invite_reward_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "reservation",
        sa.Column(
            "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
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
            ["sku_id"], ["sku.id"], name=op.f("fk_reservation_sku_id_sku"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_reservation_supplier_id_supplier")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_reservation_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservation")),
        sa.UniqueConstraint("workspace_id", "ref", name=op.f("uq_reservation_workspace_id_ref")),
    )
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.create_index("ix_reservation_due", ["status", "expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_reservation_supplier_id"), ["supplier_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_reservation_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "share_visit",
        sa.Column("link_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_share_visit_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["share_link.id"],
            name=op.f("fk_share_visit_link_id_share_link"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_share_visit_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_visit")),
    )
    with op.batch_alter_table("share_visit", schema=None) as batch_op:
        batch_op.create_index("ix_share_visit_customer_at", ["customer_id", "at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_share_visit_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_share_visit_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "stock",
        sa.Column(
            "supplier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("sku_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
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
            ["sku_id"], ["sku.id"], name=op.f("fk_stock_sku_id_sku"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["supplier_id"], ["supplier.id"], name=op.f("fk_stock_supplier_id_supplier")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_stock_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock")),
        sa.UniqueConstraint("sku_id", name=op.f("uq_stock_sku_id")),
    )
    with op.batch_alter_table("stock", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_supplier_id"), ["supplier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stock_workspace_id"), ["workspace_id"], unique=False)
    op.create_table(
        "group_buy",
        sa.Column(
            "template_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "leader_customer_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "distributor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("seats_taken", sa.Integer(), nullable=False),
        sa.Column("paid_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
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
            ["leader_customer_id"],
            ["customer.id"],
            name=op.f("fk_group_buy_leader_customer_id_customer"),
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["group_template.id"],
            name=op.f("fk_group_buy_template_id_group_template"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_group_buy_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_buy")),
        sa.UniqueConstraint("code", name=op.f("uq_group_buy_code")),
    )
    with op.batch_alter_table("group_buy", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_buy_distributor_id"), ["distributor_id"], unique=False
        )
        batch_op.create_index("ix_group_buy_due", ["status", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_group_buy_template_id"), ["template_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_group_buy_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "group_member",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("seat", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "reservation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("payment_ref", sa.String(length=128), nullable=True),
        sa.Column("joined_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
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
            ["customer_id"], ["customer.id"], name=op.f("fk_group_member_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["group_buy.id"],
            name=op.f("fk_group_member_group_id_group_buy"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_group_member_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_member")),
        sa.UniqueConstraint(
            "group_id", "customer_id", name=op.f("uq_group_member_group_id_customer_id")
        ),
        sa.UniqueConstraint("group_id", "seat", name=op.f("uq_group_member_group_id_seat")),
    )
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_member_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_group_member_workspace_id"), ["workspace_id"], unique=False
        )
    op.create_table(
        "group_refund",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("payment_ref", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", siyu.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("done_at", siyu.core.db.UTCDateTime(timezone=True), nullable=True),
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
            ["group_id"],
            ["group_buy.id"],
            name=op.f("fk_group_refund_group_id_group_buy"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["group_member.id"],
            name=op.f("fk_group_refund_member_id_group_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_group_refund_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_refund")),
        sa.UniqueConstraint("member_id", name=op.f("uq_group_refund_member_id")),
    )
    with op.batch_alter_table("group_refund", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_refund_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("group_refund", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_refund_workspace_id"))
    op.drop_table("group_refund")
    with op.batch_alter_table("group_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_member_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_group_member_customer_id"))
    op.drop_table("group_member")
    with op.batch_alter_table("group_buy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_buy_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_group_buy_template_id"))
        batch_op.drop_index("ix_group_buy_due")
        batch_op.drop_index(batch_op.f("ix_group_buy_distributor_id"))
    op.drop_table("group_buy")
    with op.batch_alter_table("stock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stock_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_stock_supplier_id"))
    op.drop_table("stock")
    with op.batch_alter_table("share_visit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_visit_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_share_visit_distributor_id"))
        batch_op.drop_index("ix_share_visit_customer_at")
    op.drop_table("share_visit")
    with op.batch_alter_table("reservation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reservation_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_reservation_supplier_id"))
        batch_op.drop_index("ix_reservation_due")
    op.drop_table("reservation")
    with op.batch_alter_table("invite_reward", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_reward_workspace_id"))
    op.drop_table("invite_reward")
    with op.batch_alter_table("group_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_template_workspace_id"))
    op.drop_table("group_template")
    with op.batch_alter_table("sku", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sku_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_sku_supplier_id"))
        batch_op.drop_index(batch_op.f("ix_sku_product_id"))
    op.drop_table("sku")
    with op.batch_alter_table("share_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_link_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_share_link_distributor_id"))
    op.drop_table("share_link")
    with op.batch_alter_table("material", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_material_workspace_id"))
    op.drop_table("material")
    with op.batch_alter_table("invite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_workspace_id"))
        batch_op.drop_index("ix_invite_inviter")
        batch_op.drop_index(batch_op.f("ix_invite_invitee_id"))
        batch_op.drop_index(batch_op.f("ix_invite_campaign_id"))
    op.drop_table("invite")
    with op.batch_alter_table("commission_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commission_rule_workspace_id"))
    op.drop_table("commission_rule")
    with op.batch_alter_table("commission_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_commission_entry_workspace_id"))
        batch_op.drop_index("ix_commission_entry_order")
        batch_op.drop_index("ix_commission_entry_due")
        batch_op.drop_index(batch_op.f("ix_commission_entry_distributor_id"))
    op.drop_table("commission_entry")
    with op.batch_alter_table("touchpoint_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_touchpoint_step_workspace_id"))
        batch_op.drop_index("ix_touchpoint_step_customer")
    op.drop_table("touchpoint_step")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_product_supplier_id"))
    op.drop_table("product")
    with op.batch_alter_table("payout", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_payout_distributor_id"))
    op.drop_table("payout")
    with op.batch_alter_table("invite_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_link_workspace_id"))
    op.drop_table("invite_link")
    with op.batch_alter_table("touchpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_touchpoint_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_touchpoint_distributor_id"))
    op.drop_table("touchpoint")
    with op.batch_alter_table("supplier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supplier_workspace_id"))
    op.drop_table("supplier")
    with op.batch_alter_table("invite_campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_campaign_workspace_id"))
    op.drop_table("invite_campaign")
    with op.batch_alter_table("distributor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_distributor_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_distributor_distributor_id"))
    op.drop_table("distributor")
