"""Readers choose sections, pause or go monthly; an issue renders once per segment (issue 13).

- `subscribers.sections` (the selection key, "" = everything), `cadence` ("weekly"/"monthly")
  and `paused_until`: the reader's preferences from their preference centre.
- `issue_items.sections` (the sections a post is in) and `overall` (in everyone's top 10; the
  others are a section's best beyond it). Existing items are all overall.
- `consent_events.detail`: what a preference change set ("sections: wind, policy"), so the
  consent record says what the reader asked for. A plain ADD COLUMN (no table copy on SQLite),
  which keeps the append-only trigger.
- `issue_segments`: one rendering of an issue per distinct (sections, cadence) of its readers,
  with its items and its finished message; `deliveries.segment` names the reader's.
- `section_clicks`: clicks on an item by the readers of each section (per-section source prior).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sections", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("cadence", sa.String(length=10), nullable=False, server_default="weekly")
        )
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(), nullable=True))
    op.add_column("consent_events", sa.Column("detail", sa.String(length=300), nullable=True))
    with op.batch_alter_table("issue_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sections", sa.String(length=500), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("overall", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment", sa.Integer(), nullable=True))
    op.create_table(
        "issue_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sections", sa.String(length=500), nullable=False),
        sa.Column("cadence", sa.String(length=10), nullable=False),
        sa.Column("item_ids", sa.JSON(), nullable=False),
        sa.Column("readers", sa.Integer(), nullable=False),
        sa.Column("message_template", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_segments_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issue_segments")),
        sa.UniqueConstraint("issue_id", "number", name=op.f("uq_issue_segments_issue_id")),
    )
    with op.batch_alter_table("issue_segments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_segments_issue_id"), ["issue_id"])
    op.create_table(
        "section_clicks",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=60), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["issue_items.id"],
            name=op.f("fk_section_clicks_item_id_issue_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", "section", name=op.f("pk_section_clicks")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("section_clicks")
    with op.batch_alter_table("issue_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_segments_issue_id"))
    op.drop_table("issue_segments")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("segment")
    with op.batch_alter_table("issue_items", schema=None) as batch_op:
        batch_op.drop_column("overall")
        batch_op.drop_column("sections")
    op.drop_column("consent_events", "detail")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("paused_until")
        batch_op.drop_column("cadence")
        batch_op.drop_column("sections")
