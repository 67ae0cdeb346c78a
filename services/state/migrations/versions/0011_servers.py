"""servers: the remote Docker engines AppOS reaches over SSH, and the server each app runs on
(issue 21; every existing app is on `local`)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("docker_socket", sa.Text(), nullable=False),
        sa.Column("known_hosts", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table("apps") as batch:
        batch.add_column(sa.Column("server", sa.String(64), nullable=False, server_default="local"))
        batch.create_index("ix_apps_server", ["server"])


def downgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.drop_index("ix_apps_server")
        batch.drop_column("server")
    op.drop_table("servers")
