"""image updates: what the last update check found per app service (issue 19), each app's rows
replaced by every check

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_updates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("app", sa.String(64), nullable=False, index=True),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("current_tag", sa.String(128), nullable=False),
        sa.Column("current_digest", sa.String(128), nullable=False),
        sa.Column("candidate_tag", sa.String(128), nullable=False),
        sa.Column("candidate_digest", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("checked_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_updates")
