"""Channel history (#23): which channels keep events, how many, for how long.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tidings_apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "history_channels", sa.JSON(), server_default=sa.text("('[]')"), nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("history_size", sa.Integer(), server_default=sa.text("100"), nullable=False)
        )
        batch_op.add_column(
            sa.Column("history_ttl", sa.Integer(), server_default=sa.text("120"), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("tidings_apps", schema=None) as batch_op:
        batch_op.drop_column("history_ttl")
        batch_op.drop_column("history_size")
        batch_op.drop_column("history_channels")
