"""deployments record what they ran: per service the image reference, its digest and the local
image ID, as a JSON list (empty until a deployment that starts containers succeeded)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("images_json", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("images_json")
