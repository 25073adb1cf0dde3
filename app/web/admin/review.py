"""Draft review: the dashboard, one issue with why each post is in or out, pin/drop, edit."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import clock
from app.config import Settings
from app.issues.drafts import (
    InvalidEdit,
    IssueLocked,
    IssueNotFound,
    delivery_counts,
    get_issue,
    prepare_draft,
    review_ranking,
    update_issue,
)
from app.models import Issue, IssueItem, IssueStatus, Post, Subscriber, SubscriberStatus
from app.ranking.click_prior import source_key
from app.web.admin.auth import AdminSession, admin_form, current_admin
from app.web.admin.pages import problem, reason_text, render
from app.web.deps import db_session, settings_dep
from app.weeks import last_complete_week, parse_week, week_window

router = APIRouter()
ACTIONS = {"pin": "pinned", "unpin": "unpinned", "drop": "dropped", "undrop": "undropped"}
LIVE = (IssueStatus.SENDING, IssueStatus.PAUSED)
# Reasons the review shows in words (summary, coverage, other posts), not in the numbers table.
WORDED_REASONS = frozenset({"summary", "coverage", "also_in", "duplicates"})


@dataclass(frozen=True)
class StoryView:
    """A listed post's story on the review page: why in words, who covered it, the raw numbers."""

    summary: str
    covered_by: int  # independent sources (syndicated copies of one wire text count once)
    posts: int  # posts in the story, the listed one included
    others: list[Post]  # the story's other posts, best first
    has_metrics: bool
    details: list[tuple[str, str]]


def readers_by_status(session: Session) -> dict[str, int]:
    """How many readers are in each state (every state present, zero when none)."""
    counts = dict.fromkeys(SubscriberStatus.ALL, 0)
    query = select(Subscriber.status, func.count()).group_by(Subscriber.status)
    counts.update({status: number for status, number in session.execute(query)})
    return counts


@router.get("/admin", response_class=HTMLResponse)
def dashboard(
    request: Request, admin: AdminSession = Depends(current_admin), session: Session = db_session
) -> HTMLResponse:
    """The current draft (or a button to draft this week's), a running send, recent issues."""
    recent = list(session.scalars(select(Issue).order_by(Issue.week.desc()).limit(6)))
    draft = next((issue for issue in recent if issue.status == IssueStatus.DRAFT), None)
    live = session.scalars(select(Issue).where(Issue.status.in_(LIVE))).all()
    return render(
        request,
        "admin/dashboard.html",
        admin=admin,
        draft=draft,
        live=live,
        recent=recent,
        counts=delivery_counts(session, [issue.id for issue in recent]),
        readers=readers_by_status(session),
        week=last_complete_week(clock.now()),
        no_engagement=bool(draft and draft.items) and not any(map(has_metrics, draft.items)),
    )


def has_metrics(item: IssueItem) -> bool:
    """Whether the listed post carried engagement counters (a feed's posts have none)."""
    flag = item.reasons.get("has_metrics")
    if isinstance(flag, bool):
        return flag
    post = item.post  # ranked before the ranking said so: judge by the counters themselves
    return any((post.views, post.likes, post.shares, post.comments))


def _form_week(value: Any) -> str:
    """An ISO week typed in the form, normalised; ValueError with the reason otherwise."""
    year, number = parse_week(str(value or "").strip())
    week = f"{year:04d}-W{number:02d}"
    if week_window(week)[0] > clock.now():
        raise ValueError(f"{week} has not begun yet")
    return week


@router.post("/admin/issues")
async def draft_week(
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Rank a week now and create or refresh its draft, then show it."""
    form = await request.form()
    try:
        week = _form_week(form.get("week") or last_complete_week(clock.now()))
        drafted = await run_in_threadpool(
            prepare_draft, session, week=week, now=clock.now(), settings=settings
        )
    except ValueError as error:
        return problem(
            request,
            admin,
            "Cannot draft that week",
            str(error),
            status=422,
            back=("/admin", "Back to the dashboard"),
        )
    except IssueLocked as error:
        return problem(
            request,
            admin,
            "That week is already out",
            str(error),
            status=409,
            back=("/admin", "Back to the dashboard"),
        )
    return RedirectResponse(f"/admin/issues/{drafted.issue.id}?done=drafted", 303)


def _review_data(session: Session, issue: Issue, settings: Settings) -> dict[str, Any]:
    """What the review page shows beside the items: left-out posts by reason, and the drops."""
    titles = {item.post_id: item.post.title for item in issue.items}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    current = True
    if issue.status == IssueStatus.DRAFT:
        ranking = review_ranking(session, issue=issue, settings=settings)
        current = [i.post_id for i in ranking.items] == [i.post_id for i in issue.items]
        shown = [e for e in ranking.excluded if e.reason not in ("dropped", "outside-week")][:500]
        posts = _posts(session, [e.post_id for e in shown])
        for excluded in shown:
            post = posts.get(excluded.post_id)
            if post is not None:
                kind = excluded.reason.partition(":")[0]
                groups[kind].append({"post": post, "reason": reason_text(excluded.reason, titles)})
    dropped = _posts(session, issue.drops)
    return {
        "groups": dict(sorted(groups.items(), key=lambda kv: (kv[0] == "below-cut", kv[0]))),
        "dropped": [dropped[pid] for pid in issue.drops if pid in dropped],
        "ranking_current": current,
    }


def _post_ids(value: Any) -> list[int]:
    """The post ids in a stored reason (a list of ints), ignoring anything else."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, int) and not isinstance(v, bool)]


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"


def _readable(value: Any) -> str:
    """A raw reason value for the technical table: numbers rounded, lists and maps spelt out."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, dict):
        return ", ".join(f"{key} ×{_readable(v)}" for key, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(_readable(v) for v in value) or "—"
    return str(value)


def technical_details(item: IssueItem) -> list[tuple[str, str]]:
    """The ranking's raw numbers for one item as (label, value) rows, its score first."""
    rows = [("score", f"{item.score:.4f}")]
    for key, value in item.reasons.items():
        if key not in WORDED_REASONS and key != "score":
            rows.append((str(key).replace("_", " "), _readable(value)))
    return rows


def _story(item: IssueItem, others: list[Post]) -> StoryView:
    reasons = item.reasons
    coverage = reasons.get("coverage") if isinstance(reasons.get("coverage"), dict) else {}
    # Ranked before coverage was recorded: count the distinct outlets among the story's posts.
    outlets = {source_key(p.source) for p in [item.post, *others]}
    return StoryView(
        summary=str(reasons.get("summary") or ""),
        covered_by=_count(coverage.get("count")) or len(outlets),
        posts=_count(coverage.get("posts")) or 1 + len(others),
        others=others,
        has_metrics=has_metrics(item),
        details=technical_details(item),
    )


def stories(session: Session, items: Sequence[IssueItem]) -> dict[int, StoryView]:
    """Each listed item's story by item id; the other posts of all stories in one query."""
    wanted = {item.id: _post_ids(item.reasons.get("duplicates")) for item in items}
    found = _posts(session, sorted({pid for ids in wanted.values() for pid in ids}))
    return {
        item.id: _story(item, [found[pid] for pid in wanted[item.id] if pid in found])
        for item in items
    }


def _posts(session: Session, ids: list[int]) -> dict[int, Post]:
    found: dict[int, Post] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update((p.id, p) for p in session.scalars(select(Post).where(Post.id.in_(chunk))))
    return found


@router.get("/admin/issues/{issue_id}", response_class=HTMLResponse)
def review(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(current_admin),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> HTMLResponse:
    """One issue: ranked items with score and reasons; for a draft, edits and the left-out."""
    try:
        issue = get_issue(session, issue_id=issue_id)
    except IssueNotFound:
        return problem(
            request,
            admin,
            "No such issue",
            f"There is no issue {issue_id}.",
            status=404,
            back=("/admin", "Back to the dashboard"),
        )
    return render(
        request,
        "admin/issue.html",
        admin=admin,
        issue=issue,
        counts=delivery_counts(session, [issue.id])[issue.id],
        editable=issue.status == IssueStatus.DRAFT,
        stories=stories(session, issue.items),
        **_review_data(session, issue, settings),
    )


def _action(form: Any) -> tuple[str, int]:
    """The clicked button's 'pin:12' style value as (action, post id)."""
    action, _, post_id = str(form.get("action") or "").partition(":")
    if action not in ACTIONS or not post_id.isdigit():
        raise ValueError("unknown action")
    return action, int(post_id)


@router.post("/admin/issues/{issue_id}/items")
async def edit_items(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Pin, unpin, drop or undrop one post (the button pressed), then re-rank the draft."""
    form = await request.form()
    try:
        action, post_id = _action(form)
    except ValueError:
        return problem(
            request,
            admin,
            "Unknown action",
            "That button does nothing here.",
            status=422,
            back=(f"/admin/issues/{issue_id}", "Back"),
        )
    return await _edit(
        request, admin, session, settings, issue_id, ACTIONS[action], **{action: [post_id]}
    )


@router.post("/admin/issues/{issue_id}/text")
async def edit_text(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Save the subject and intro of a draft."""
    form = await request.form()
    subject, intro = str(form.get("subject") or ""), str(form.get("intro") or "")
    # Browsers send textarea line breaks as CRLF; store them as plain newlines.
    return await _edit(
        request,
        admin,
        session,
        settings,
        issue_id,
        "text",
        subject=subject,
        intro=intro.replace("\r\n", "\n"),
    )


@router.post("/admin/issues/{issue_id}/rerank")
async def rerank(
    issue_id: int,
    request: Request,
    admin: AdminSession = Depends(admin_form),
    session: Session = db_session,
    settings: Settings = Depends(settings_dep),
) -> Response:
    """Rank the draft's week again from the posts as they are now (pins and drops kept)."""
    issue = session.get(Issue, issue_id)
    if issue is None:
        return problem(
            request, admin, "No such issue", f"There is no issue {issue_id}.", status=404
        )
    try:
        await run_in_threadpool(
            prepare_draft, session, week=issue.week, now=clock.now(), settings=settings
        )
    except IssueLocked as error:
        return problem(
            request,
            admin,
            "This issue is locked",
            str(error),
            status=409,
            back=(f"/admin/issues/{issue_id}", "Back to the issue"),
        )
    return RedirectResponse(f"/admin/issues/{issue_id}?done=drafted", 303)


async def _edit(
    request: Request,
    admin: AdminSession,
    session: Session,
    settings: Settings,
    issue_id: int,
    done: str,
    **changes: Any,
) -> Response:
    back = (f"/admin/issues/{issue_id}", "Back to the issue")
    try:
        await run_in_threadpool(
            update_issue, session, issue_id=issue_id, now=clock.now(), settings=settings, **changes
        )
    except IssueNotFound:
        return problem(
            request, admin, "No such issue", f"There is no issue {issue_id}.", status=404
        )
    except IssueLocked as error:
        return problem(request, admin, "This issue is locked", str(error), status=409, back=back)
    except InvalidEdit as error:
        return problem(
            request, admin, "That change was not saved", str(error), status=422, back=back
        )
    anchor = "#items" if done != "text" else "#text"
    return RedirectResponse(f"/admin/issues/{issue_id}?done={done}{anchor}", 303)
