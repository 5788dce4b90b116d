"""The last version number reserved before the latest reset: versions up to it are never written.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.bulk_insert(
        sa.table("counter", sa.column("name", sa.String), sa.column("value", sa.BigInteger)),
        [{"name": "version_before_reset", "value": 0}],
    )


def downgrade() -> None:
    op.execute("DELETE FROM counter WHERE name = 'version_before_reset'")
