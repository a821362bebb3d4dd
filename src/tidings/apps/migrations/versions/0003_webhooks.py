"""The webhooks of an app (#14), as the JSON list [[apps.webhooks]] takes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tidings_apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhooks", sa.JSON(), server_default=sa.text("('[]')"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tidings_apps", schema=None) as batch_op:
        batch_op.drop_column("webhooks")
