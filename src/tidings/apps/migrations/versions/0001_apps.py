"""Create the apps table and the revision counter.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The MySQL variants and parenthesized defaults of tidings.apps.sqltypes, spelled out
# (MySQL joined in #27; SQLite and PostgreSQL create the same tables as before).
_MYSQL = ("mysql", "mariadb")
_IDENTITY = sa.Text().with_variant(sa.String(255, collation="utf8mb4_bin"), *_MYSQL)
_TIME = sa.Float().with_variant(sa.Double(), *_MYSQL)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tidings_apps",
        sa.Column("id", _IDENTITY, nullable=False),
        sa.Column("key", _IDENTITY, nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", _TIME, nullable=True),
        sa.Column("name", sa.Text(), server_default=sa.text("('')"), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "enable_client_messages", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column(
            "enable_subscription_count",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column("max_connections", sa.Integer(), nullable=True),
        sa.Column("max_payload_bytes", sa.Integer(), nullable=True),
        sa.Column("max_client_event_bytes", sa.Integer(), nullable=True),
        sa.Column("max_channels_per_event", sa.Integer(), nullable=True),
        sa.Column("max_batch_size", sa.Integer(), nullable=True),
        sa.Column("max_presence_members", sa.Integer(), nullable=True),
        sa.Column("max_member_info_bytes", sa.Integer(), nullable=True),
        sa.Column("max_event_name_length", sa.Integer(), nullable=True),
        sa.Column("max_subscriptions_per_connection", sa.Integer(), nullable=True),
        sa.Column("max_client_events_per_second", sa.Integer(), nullable=True),
        sa.Column("allowed_origins", sa.JSON(), server_default=sa.text("('[]')"), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    revision_table = op.create_table(
        "tidings_app_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.bulk_insert(revision_table, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("tidings_app_revision")
    op.drop_table("tidings_apps")
