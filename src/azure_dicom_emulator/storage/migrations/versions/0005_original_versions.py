"""Original versions: the first version of an instance that a bulk update changed, kept beside the latest.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    "original_version",
    "original_blob_key",
    "original_size",
    "original_transfer_syntax_uid",
    "original_metadata",
)


def upgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_version", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("original_blob_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("original_size", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("original_transfer_syntax_uid", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("original_metadata", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("instance", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
