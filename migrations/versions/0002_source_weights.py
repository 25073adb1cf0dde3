"""Per-source editor weights: how much the ranking counts each source's stories (SPEC §7 rule 3a).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 02:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "source_weights",
        # Casefolding can triple a name's length (a 200-character name, up to 600 in the key).
        sa.Column("source_key", sa.String(length=600), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "weight >= 0 AND weight <= 10", name=op.f("ck_source_weights_weight_range")
        ),
        sa.PrimaryKeyConstraint("source_key", name=op.f("pk_source_weights")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("source_weights")
