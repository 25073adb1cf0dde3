"""What can go wrong with an issue, in a module of its own so that the send engine and the
workers can name these errors without loading the ranking (numpy, scikit-learn)."""

from __future__ import annotations

from app.errors import Conflict, Invalid, NotFound


class IssueNotFound(NotFound):
    """No issue with that id (the one "no such issue" of every issue and send operation)."""

    def __init__(self, issue_id: int, message: str | None = None) -> None:
        super().__init__(message or f"no issue {issue_id}")
        self.issue_id = issue_id


class IssueLocked(Conflict):
    """The issue is no longer a draft (sending, paused, sent or cancelled): it cannot change."""


class InvalidEdit(Invalid):
    """An edit the editor must fix; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
