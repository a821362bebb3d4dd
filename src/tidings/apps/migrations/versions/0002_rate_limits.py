"""Per-app backend publish and read rate limits (NULL: the node's global value).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tidings_apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_backend_events_per_second", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_read_requests_per_second", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tidings_apps", schema=None) as batch_op:
        batch_op.drop_column("max_read_requests_per_second")
        batch_op.drop_column("max_backend_events_per_second")
