"""template updates: an app store's refresh changed the template an app was made from (issue 20)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_updates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("app", sa.String(64), nullable=False, unique=True),
        sa.Column("template", sa.String(160), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("found_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("template_updates")
