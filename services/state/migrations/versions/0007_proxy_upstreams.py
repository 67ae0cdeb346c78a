"""proxy domains as proxyctl now keeps them: a console domain is always HTTPS with the redirect, an
app domain's upstream names the app's service and port (the address is looked up at each load)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE proxy_domains SET https = 1, force_https = 1 WHERE console = 1")
    op.execute(
        "UPDATE proxy_domains SET upstream = 'app:' || app || '/' || service || ':' || port WHERE console = 0"
    )


def downgrade() -> None:
    pass  # the old forms are not needed by anything
