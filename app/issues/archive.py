"""The public archive: which issues anyone may read on the web, and their pages."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.issues.errors import IssueNotFound
from app.issues.mail import digest_content
from app.models import Issue, IssueStatus
from app.tokens import Signer
from emails.render import render_digest_web

PUBLIC_STATUSES = (IssueStatus.SENT,)


def published_issues(session: Session) -> list[Issue]:
    """Every issue in the archive, newest week first."""
    query = select(Issue).where(Issue.status.in_(PUBLIC_STATUSES)).order_by(Issue.week.desc())
    return list(session.scalars(query))


def published_issue(session: Session, issue_id: int) -> Issue:
    """An issue of the archive; `IssueNotFound` when there is none or it is not public."""
    issue = session.get(Issue, issue_id)
    if issue is None or issue.status not in PUBLIC_STATUSES:
        raise IssueNotFound(issue_id, f"no issue {issue_id} in the archive")
    return issue


class WebPages:
    """Archive pages rendered once per issue version and then served from memory.

    One per web app: the pages depend on its settings and keys, which the instance holds.
    """

    def __init__(self, settings: Settings, signer: Signer, *, keep: int = 64) -> None:
        self.settings = settings
        self.signer = signer
        self.keep = keep
        self._pages: dict[tuple[int, str], str] = {}

    def page(self, session: Session, issue: Issue) -> str:
        """The issue as a web page: the email's own layout, without a reader's links."""
        version = (issue.sent_at or issue.updated_at).isoformat()
        key = (issue.id, version)
        if key not in self._pages:
            if len(self._pages) > self.keep:
                self._pages.clear()
            content = digest_content(session, issue, settings=self.settings, signer=self.signer)
            self._pages[key] = render_digest_web(content)
        return self._pages[key]
