"""Cancelled deliveries get a state of their own; issues remember their last test copy (issue 12).

A cancel used to leave the rows it stopped as `skipped`, the state of readers who left before
their copy went; those rows (`skipped` with the cancel's note "cancelled") become `cancelled`,
so an earlier cancelled send shows what it did not send, and can be sent to the rest.
`issues.test_sent_at` and `test_sent_to` say when the last marked test copy went, and to whom,
on the send confirmation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("test_sent_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("test_sent_to", sa.Text(), nullable=True))
    op.execute(
        "UPDATE deliveries SET state = 'cancelled'"
        " WHERE state = 'skipped' AND last_error = 'cancelled'"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute(
        "UPDATE deliveries SET state = 'skipped', last_error = 'cancelled'"
        " WHERE state = 'cancelled'"
    )
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of `issues` would drop the
    # table that every delivery row refers to, which SQLite's foreign keys refuse.
    op.drop_column("issues", "test_sent_to")
    op.drop_column("issues", "test_sent_at")
