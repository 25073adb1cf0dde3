"""Late bounces and complaints (SPEC §9), and erasure of a reader's data (SPEC §10 GDPR).

`bounce_events` keeps each late outcome matched to a reader; `subscribers.email_hash` and
`erased_at` mark an erased reader. The consent record stays append-only: the one change the
database now lets through is the erasure of a row, which swaps the address for its keyed hash
("erased:<hex>") and blanks IP and user agent, and leaves the kind, time, channel and consent
text version as they were.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 07:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The one update an erasure makes; the same test on both databases.
_ERASURE_SQLITE = (
    "OLD.email NOT LIKE 'erased:%' AND NEW.email LIKE 'erased:%' "
    "AND NEW.id = OLD.id AND NEW.subscriber_id = OLD.subscriber_id AND NEW.kind = OLD.kind "
    "AND NEW.at = OLD.at AND NEW.channel = OLD.channel "
    "AND NEW.consent_text_version IS OLD.consent_text_version "
    "AND NEW.ip IS NULL AND NEW.user_agent IS NULL"
)
_ERASURE_POSTGRES = _ERASURE_SQLITE.replace(
    "consent_text_version IS OLD", "consent_text_version IS NOT DISTINCT FROM OLD"
)

SQLITE_ALLOW_ERASURE = (
    "DROP TRIGGER consent_events_no_update",
    "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events "
    f"WHEN NOT ({_ERASURE_SQLITE}) "
    "BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END",
)
SQLITE_APPEND_ONLY = (
    "DROP TRIGGER consent_events_no_update",
    "CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events "
    "BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END",
)
POSTGRES_ALLOW_ERASURE = (
    "CREATE OR REPLACE FUNCTION consent_events_append_only() RETURNS trigger AS $$ "
    f"BEGIN IF TG_OP = 'UPDATE' AND {_ERASURE_POSTGRES} THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'consent_events is append-only'; END; $$ LANGUAGE plpgsql",
)
POSTGRES_APPEND_ONLY = (
    "CREATE OR REPLACE FUNCTION consent_events_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'consent_events is append-only'; END; $$ LANGUAGE plpgsql",
)


def _run(statements: dict[str, tuple[str, ...]]) -> None:
    for statement in statements.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "bounce_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=True),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=300), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_bounce_events_subscriber_id_subscribers"),
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_bounce_events_issue_id_issues")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_events")),
    )
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bounce_events_subscriber_id"), ["subscriber_id"], unique=False
        )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_hash", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_subscribers_email_hash"), ["email_hash"])
    _run({"sqlite": SQLITE_ALLOW_ERASURE, "postgresql": POSTGRES_ALLOW_ERASURE})


def downgrade() -> None:
    """Downgrade schema."""
    _run({"sqlite": SQLITE_APPEND_ONLY, "postgresql": POSTGRES_APPEND_ONLY})
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscribers_email_hash"))
        batch_op.drop_column("erased_at")
        batch_op.drop_column("email_hash")
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bounce_events_subscriber_id"))
    op.drop_table("bounce_events")
