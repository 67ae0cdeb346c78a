"""the proxy table

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proxy_domains",
        sa.Column("domain", sa.String(253), primary_key=True),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("console", sa.Boolean(), nullable=False),
        sa.Column("upstream", sa.String(128), nullable=False),
        sa.Column("https", sa.Boolean(), nullable=False),
        sa.Column("force_https", sa.Boolean(), nullable=False),
        sa.Column("cert_status", sa.String(16), nullable=False),
        sa.Column("cert_reason", sa.Text(), nullable=False),
        sa.Column("cert_issuer", sa.Text(), nullable=False),
        sa.Column("cert_not_before", sa.BigInteger(), nullable=True),
        sa.Column("cert_not_after", sa.BigInteger(), nullable=True),
        sa.Column("cert_checked_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_proxy_domains_app", "proxy_domains", ["app"])


def downgrade() -> None:
    op.drop_table("proxy_domains")
