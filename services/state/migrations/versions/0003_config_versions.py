"""config versions, and an app's rollback and policy options

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("app", sa.String(64), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("compose", sa.Text(), nullable=False),
        sa.Column("env", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("deployment_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("auto_rollback", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("last_good_version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("policy_exceptions_json", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("policy_exceptions_json")
        batch.drop_column("last_good_version")
        batch.drop_column("auto_rollback")
    op.drop_table("config_versions")
