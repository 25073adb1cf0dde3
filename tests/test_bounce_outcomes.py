"""app.bounces.outcomes: late reports matched by signed token and applied by SPEC §9's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.bounces.events import Reading, Report
from app.bounces.outcomes import SOFT_LIMIT, apply_reading
from app.config import Settings
from app.models import BounceEvent, BounceKind, ConsentEvent, Delivery, Issue, Subscriber
from app.tokens import MailRef, bounce_token
from tests.test_sending import T0, add_readers, make_issue

HARD = BounceKind.HARD
SOFT = BounceKind.SOFT


def _sent(db: Session, reader: Subscriber, *, week: str = "2026-W48") -> Issue:
    """An issue whose digest the relay accepted for `reader` (their ledger row is `sent`)."""
    issue = make_issue(db, week=week)
    issue.status = "sent"
    db.add(
        Delivery(
            issue_id=issue.id,
            subscriber_id=reader.id,
            batch=0,
            state="sent",
            attempts=1,
            updated_at=T0,
            sent_at=T0,
        )
    )
    db.flush()
    return issue


def _token(settings: Settings, reader: Subscriber, issue: Issue | None, kind: str = "digest"):
    ref = MailRef(kind, issue.id if issue else None, reader.id)
    return bounce_token(settings.signing_keys(), ref)


def _apply(db: Session, settings: Settings, *reports: Report, trust: bool = False, at=T0):
    applied = apply_reading(
        db, Reading(reports=reports), source="pipe", settings=settings, now=at, trust_address=trust
    )
    db.flush()
    db.expire_all()
    return applied


def _delivery(db: Session, issue: Issue, reader: Subscriber) -> Delivery:
    return db.scalars(
        select(Delivery).where(Delivery.issue_id == issue.id, Delivery.subscriber_id == reader.id)
    ).one()


def test_a_permanent_failure_with_a_valid_token_bounces_the_reader_and_the_delivery(
    db: Session, settings: Settings
) -> None:
    reader, bystander = add_readers(db, 2)
    issue = _sent(db, reader)
    report = Report(
        kind=HARD,
        recipient=reader.email,
        status="5.1.1",
        diagnostic="smtp; 550 5.1.1 <r0@example.org>: Recipient address rejected: unknown user",
        tokens=(_token(settings, reader, issue),),
        reference="<dsn-1@relay.example.org>",
    )
    [applied] = _apply(db, settings, report)
    assert applied.changed and applied.subscriber_id == reader.id
    assert f"reader {reader.id} bounced (5.1.1)" in applied.action
    assert db.get(Subscriber, reader.id).status == "bounced"
    assert db.get(Subscriber, bystander.id).status == "confirmed"
    delivery = _delivery(db, issue, reader)
    assert delivery.state == "bounced"
    assert "late bounce: 5.1.1" in delivery.last_error
    consent = db.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == reader.id)).one()
    assert (consent.kind, consent.channel) == ("bounced", "bounce:pipe")
    event = db.scalars(select(BounceEvent)).one()
    assert (event.kind, event.status, event.issue_id) == ("hard", "5.1.1", issue.id)


@pytest.mark.parametrize(
    "tokens, why",
    [
        ((), "no return-path token of ours"),
        (("d1-1-aaaaaaaaaaaaa",), "forged or foreign token"),
    ],
)
def test_a_report_without_a_valid_token_changes_nothing(
    db: Session, settings: Settings, tokens: tuple[str, ...], why: str
) -> None:
    [reader] = add_readers(db, 1)
    issue = _sent(db, reader)
    # The address and the issue are right: only the signature is missing or wrong.
    report = Report(kind=HARD, recipient=reader.email, status="5.1.1", tokens=tokens)
    [applied] = _apply(db, settings, report)
    assert not applied.changed and why in applied.action
    assert db.get(Subscriber, reader.id).status == "confirmed"
    assert _delivery(db, issue, reader).state == "sent"
    assert db.scalars(select(BounceEvent)).all() == []


def test_a_token_for_another_reader_id_fails_its_signature(db: Session, settings: Settings):
    reader, other = add_readers(db, 2)
    issue = _sent(db, reader)
    token = _token(settings, reader, issue).replace(f"-{reader.id}-", f"-{other.id}-")
    [applied] = _apply(db, settings, Report(kind=HARD, status="5.1.1", tokens=(token,)))
    assert "forged" in applied.action
    assert {db.get(Subscriber, r.id).status for r in (reader, other)} == {"confirmed"}


def test_a_token_signed_with_a_retired_key_still_counts(db: Session, settings: Settings):
    [reader] = add_readers(db, 1)
    issue = _sent(db, reader)
    token = _token(settings, reader, issue)
    settings.secret_key = ["a-newer-key-0123456789abcdefgh", *settings.secret_key]
    [applied] = _apply(db, settings, Report(kind=HARD, status="5.2.1", tokens=(token,)))
    assert applied.changed
    assert db.get(Subscriber, reader.id).status == "bounced"


def test_a_complaint_suppresses_at_once_and_leaves_the_delivery_sent(
    db: Session, settings: Settings
) -> None:
    [reader] = add_readers(db, 1)
    issue = _sent(db, reader)
    report = Report(kind=BounceKind.COMPLAINT, tokens=(_token(settings, reader, issue),))
    [applied] = _apply(db, settings, report)
    assert applied.changed and "complained" in applied.action
    assert db.get(Subscriber, reader.id).status == "complained"
    delivery = _delivery(db, issue, reader)
    assert delivery.state == "sent" and delivery.last_error.startswith("complaint")
    kinds = db.scalars(select(ConsentEvent.kind).where(ConsentEvent.subscriber_id == reader.id))
    assert list(kinds) == ["complained"]


def test_temporary_failures_suppress_only_in_three_different_issues(
    db: Session, settings: Settings
) -> None:
    [reader] = add_readers(db, 1)
    issues = [_sent(db, reader, week=f"2026-W{n}") for n in (45, 46, 47)]

    def soft(issue: Issue, at_days: int, reference: str) -> str:
        report = Report(
            kind=SOFT,
            status="4.2.2",
            diagnostic="mailbox full",
            tokens=(_token(settings, reader, issue),),
            reference=reference,
        )
        [applied] = _apply(db, settings, report, at=T0 + timedelta(days=at_days))
        return applied.action

    assert soft(issues[0], 0, "<a>").startswith(f"temporary failure (4.2.2): 1 of {SOFT_LIMIT}")
    # A second report about the same issue does not count twice.
    assert f"1 of {SOFT_LIMIT}" in soft(issues[0], 1, "<b>")
    assert f"2 of {SOFT_LIMIT}" in soft(issues[1], 7, "<c>")
    assert db.get(Subscriber, reader.id).status == "confirmed"
    assert _delivery(db, issues[1], reader).state == "failed"
    assert f"bounced (failures in {SOFT_LIMIT} different issues)" in soft(issues[2], 14, "<d>")
    assert db.get(Subscriber, reader.id).status == "bounced"
    kinds = list(
        db.scalars(
            select(ConsentEvent.kind)
            .where(ConsentEvent.subscriber_id == reader.id)
            .order_by(ConsentEvent.id)
        )
    )
    assert kinds == ["soft-bounce", "soft-bounce", "soft-bounce", "bounced"]


def test_temporary_failures_older_than_the_window_do_not_count(db: Session, settings: Settings):
    [reader] = add_readers(db, 1)
    issues = [_sent(db, reader, week=f"2026-W{n}") for n in (30, 31, 47)]
    for issue, days in zip(issues, (-200, -150, 0), strict=True):
        report = Report(kind=SOFT, status="4.4.7", tokens=(_token(settings, reader, issue),))
        _apply(db, settings, report, at=T0 + timedelta(days=days))
    assert db.get(Subscriber, reader.id).status == "confirmed"


def test_the_same_report_processed_twice_changes_things_once(db: Session, settings: Settings):
    [reader] = add_readers(db, 1)
    issue = _sent(db, reader)
    report = Report(
        kind=SOFT, status="4.2.2", tokens=(_token(settings, reader, issue),), reference="<dsn>"
    )
    first, second = _apply(db, settings, report), _apply(db, settings, report)
    assert first[0].changed and not second[0].changed
    assert second[0].action == "already processed: nothing changed"
    assert len(db.scalars(select(BounceEvent)).all()) == 1


def test_a_bounced_confirmation_mail_suppresses_the_pending_reader(db, settings) -> None:
    [reader] = add_readers(db, 1, status="pending")
    token = _token(settings, reader, None, kind="confirm")
    [applied] = _apply(db, settings, Report(kind=HARD, status="5.1.1", tokens=(token,)))
    assert applied.changed
    assert db.get(Subscriber, reader.id).status == "bounced"
    assert db.scalars(select(BounceEvent.issue_id)).one() is None


def test_an_authenticated_webhook_may_name_the_reader_by_address(db: Session, settings):
    [reader] = add_readers(db, 1)
    issue = _sent(db, reader)
    report = Report(
        kind=HARD,
        recipient=reader.email.upper(),
        status="5.1.1",
        message_id=f"<digest.{issue.id}.{reader.id}@news.example.org>",
    )
    [untrusted] = _apply(db, settings, report)
    assert not untrusted.changed
    [trusted] = _apply(db, settings, report, trust=True)
    assert trusted.changed
    assert db.get(Subscriber, reader.id).status == "bounced"
    assert _delivery(db, issue, reader).state == "bounced"


def test_an_authenticated_report_for_an_unknown_address_changes_nothing(db, settings) -> None:
    [reader] = add_readers(db, 1)
    reports = (
        Report(kind=HARD, recipient="nobody@example.org", status="5.1.1"),
        Report(kind=HARD, recipient="not an address", status="5.1.1"),
    )
    applied = _apply(db, settings, *reports, trust=True)
    assert [a.changed for a in applied] == [False, False]
    assert "no reader has the address nobody@example.org" in applied[0].action
    assert "is not an address" in applied[1].action
    assert db.get(Subscriber, reader.id).status == "confirmed"


def test_a_token_naming_a_reader_that_does_not_exist_is_reported(db: Session, settings):
    token = bounce_token(settings.signing_keys(), MailRef("digest", 1, 987654))
    [applied] = _apply(db, settings, Report(kind=HARD, status="5.1.1", tokens=(token,)))
    assert "reader 987654, who no longer exists" in applied.action
    assert not applied.changed


def test_a_reading_without_reports_says_why(db: Session, settings: Settings) -> None:
    reading = Reading(note="auto-reply")
    [applied] = apply_reading(db, reading, source="pipe", settings=settings, now=T0)
    assert applied.action == "nothing to do: auto-reply" and not applied.changed


def test_a_quoted_message_id_of_an_issue_that_does_not_exist_names_no_delivery(db, settings):
    [reader] = add_readers(db, 1)
    report = Report(
        kind=HARD,
        recipient=reader.email,
        status="5.1.1",
        message_id=f"<digest.424242.{reader.id}@news.example.org>",
    )
    [applied] = _apply(db, settings, report, trust=True)
    assert applied.changed and "delivery" not in applied.action
    assert db.scalars(select(BounceEvent.issue_id)).one() is None


def test_a_refusal_by_policy_counts_like_a_temporary_failure(db: Session, settings) -> None:
    """5.7.x (spam, DMARC) judges the sender: one DMARC mistake must not empty the list."""
    [reader] = add_readers(db, 1)
    issues = [_sent(db, reader, week=f"2026-W{n}") for n in (45, 46, 47)]
    actions = []
    for issue, status in zip(issues, ("5.7.26", "4.2.2", "5.7.1"), strict=True):
        kind = SOFT if status.startswith("4") else HARD
        report = Report(kind=kind, status=status, tokens=(_token(settings, reader, issue),))
        [applied] = _apply(db, settings, report)
        actions.append(applied.action)
        if len(actions) < 3:
            assert db.get(Subscriber, reader.id).status == "confirmed"
    assert actions[0].startswith(f"refused by policy (5.7.26): 1 of {SOFT_LIMIT} issues;")
    assert _delivery(db, issues[0], reader).state == "failed"
    assert "bounced (failures in 3 different issues)" in actions[2]
    assert db.get(Subscriber, reader.id).status == "bounced"
