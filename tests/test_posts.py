"""Posts in over the admin API and `upsert_posts`: validation, all-or-nothing batches, weeks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from sqlalchemy import event, func, select

from app.models import Post
from app.posts.store import PostIn, upsert_posts, validate_posts

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _post(n: int = 1, **overrides) -> dict:
    post = {
        "url": f"https://news.example.org/story-{n}",
        "title": f"Story {n} about solar",
        "summary": "Two lines of summary.",
        "image_url": f"https://news.example.org/img/{n}.jpg",
        "author": "Mei Chen",
        "source": "Example News",
        "topics": ["Solar", "energy"],
        "published_at": "2026-11-24T10:00:00+01:00",
        "read_minutes": 3,
        "metrics": {"views": 100 * n, "likes": 10, "shares": 2, "comments": 1},
    }
    post.update(overrides)
    return post


def _count(db) -> int:
    return db.scalar(select(func.count()).select_from(Post))


def _stored(db, url: str) -> Post:
    db.expire_all()
    return db.scalar(select(Post).where(Post.url == url))


def test_post_then_repost_replaces_metrics_and_content(client, db, admin_headers):
    first = client.post("/api/posts", json=[_post(1), _post(2)], headers=admin_headers)
    assert first.status_code == 200
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    again = [_post(1, title="Story 1, corrected", metrics={"views": 5000, "likes": 40}), _post(2)]
    second = client.post("/api/posts", json=again, headers=admin_headers)
    assert second.json() == {"created": 0, "updated": 1, "unchanged": 1}
    post = _stored(db, _post(1)["url"])
    assert post.title == "Story 1, corrected"
    # Absolute counters: the later values replace, and a missing counter is 0.
    assert (post.views, post.likes, post.shares, post.comments) == (5000, 40, 0, 0)
    assert post.published_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert post.topics == ["solar", "energy"]
    assert _count(db) == 2


def test_wrapped_body_source_default_and_topic_cleanup(client, db, admin_headers):
    item = _post(
        1, url="https://www.carbon.example.net/a", topics=["  Climate ", "CLIMATE", "Grid"]
    )
    del item["source"]
    response = client.post("/api/posts", json={"posts": [item]}, headers=admin_headers)
    assert response.status_code == 200
    post = _stored(db, item["url"])
    assert post.source == "carbon.example.net"
    assert post.topics == ["climate", "grid"]


def test_html_in_title_is_kept_as_text(client, db, admin_headers):
    title = 'Why <em>firm</em> power & "R&D" <script>alert(1)</script> matter'
    client.post("/api/posts", json=[_post(1, title=title)], headers=admin_headers)
    assert _stored(db, _post(1)["url"]).title == title
    listed = client.get("/api/posts?week=2026-W48", headers=admin_headers).json()
    assert listed["items"][0]["title"] == title


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"title": None}, "title"),
        ({"title": "   "}, "title: String should have at least 1 character"),
        ({"title": "x" * 501}, "title: String should have at most 500"),
        ({"url": None}, "url: must be a string"),
        ({"url": "ftp://news.example.org/a"}, "url: must be an absolute http"),
        ({"url": "javascript:alert(1)"}, "url: must be an absolute http"),
        ({"url": "data:text/html,<b>hi</b>"}, "url: must be an absolute http"),
        ({"url": "/relative/path"}, "url: must be an absolute http"),
        ({"url": "https://news.example.org/" + "a" * 2000}, "url: must be at most 2000"),
        ({"image_url": "javascript:alert(1)"}, "image_url: must be an absolute http"),
        ({"published_at": "2026-11-24T10:00:00"}, "published_at: needs a UTC offset"),
        ({"published_at": "last tuesday"}, "published_at: must be ISO-8601"),
        ({"published_at": None}, "published_at"),
        ({"metrics": {"views": -1}}, "metrics.views: Input should be greater than or equal to 0"),
        ({"metrics": {"likes": "12"}}, "metrics.likes: Input should be a valid integer"),
        ({"read_minutes": -2}, "read_minutes"),
        ({"topics": "solar"}, "topics: must be a list of strings"),
        ({"topics": [f"t{i}" for i in range(21)]}, "topics: at most 20 topics"),
        ({"summary": "s" * 20_001}, "summary: String should have at most 20000"),
    ],
)
def test_one_bad_post_refuses_the_whole_batch(client, db, admin_headers, change, problem):
    bad = _post(2, **change)
    response = client.post("/api/posts", json=[_post(1), bad, _post(3)], headers=admin_headers)
    assert response.status_code == 422
    body = response.json()
    assert "nothing was stored" in body["detail"]
    assert [error["index"] for error in body["errors"]] == [1]
    assert any(p.startswith(problem) for p in body["errors"][0]["problems"]), body
    assert _count(db) == 0


def test_missing_fields_are_named(client, db, admin_headers):
    incomplete = _post(1)
    del incomplete["title"], incomplete["url"]
    response = client.post("/api/posts", json=[incomplete, "not an object"], headers=admin_headers)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors[0]["index"] == 0 and errors[0]["url"] is None
    assert {"url: Field required", "title: Field required"} <= set(errors[0]["problems"])
    assert errors[1]["index"] == 1
    assert _count(db) == 0


def test_duplicate_urls_in_one_batch_name_both_indexes(client, db, admin_headers):
    batch = [_post(1), _post(2), _post(1, title="Same URL again")]
    response = client.post("/api/posts", json=batch, headers=admin_headers)
    assert response.status_code == 422
    errors = {error["index"]: error for error in response.json()["errors"]}
    assert set(errors) == {0, 2}
    assert errors[0]["url"] == batch[0]["url"]
    assert "also at index 2" in errors[0]["problems"][0]
    assert "duplicate of index 0" in errors[2]["problems"][0]
    assert _count(db) == 0


def test_ten_megabyte_summary_is_refused_clearly(client, db, admin_headers):
    huge = "s" * 10_000_000
    # Over the API the body cap answers first, before any parsing...
    response = client.post("/api/posts", json=[_post(1, summary=huge)], headers=admin_headers)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]
    # ...even when the client does not declare a length (chunked upload).
    chunks = (b"x" * 1_000_000 for _ in range(7))
    streamed = client.post(
        "/api/posts",
        content=chunks,
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    # ...and from a file (the `ingest` path) validation names the field.
    with pytest.raises(ValidationError, match="summary"):
        PostIn.model_validate(_post(1, summary=huge))
    assert _count(db) == 0


def test_broken_json_wrong_type_and_wrong_shape(client, db, admin_headers):
    json_headers = {**admin_headers, "content-type": "application/json"}
    broken = client.post("/api/posts", content=b'[{"url": ', headers=json_headers)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    form = client.post("/api/posts", data={"url": "https://a.example.org"}, headers=admin_headers)
    assert form.status_code == 415
    shape = client.post("/api/posts", json={"url": "https://a.example.org"}, headers=admin_headers)
    assert shape.status_code == 422 and "list of posts" in shape.json()["detail"]
    assert _count(db) == 0


def test_admin_token_required(client, db, admin_headers):
    missing = client.post("/api/posts", json=[_post(1)])
    wrong = client.post("/api/posts", json=[_post(1)], headers={"Authorization": "Bearer nope"})
    listing = client.get("/api/posts")
    assert (missing.status_code, wrong.status_code, listing.status_code) == (401, 403, 401)
    assert _count(db) == 0


def test_week_listing_uses_utc_monday_boundaries(client, admin_headers):
    edges = {
        "before": "2026-11-22T23:59:59+00:00",  # Sunday of W47
        "first": "2026-11-23T00:00:00+00:00",  # Monday 00:00 UTC of W48
        "offset": "2026-11-30T00:30:00+01:00",  # Sunday 23:30 UTC: still W48
        "after": "2026-11-30T00:00:00+00:00",  # Monday of W49
    }
    batch = [
        _post(i, url=f"https://e.example.org/{name}", published_at=when)
        for i, (name, when) in enumerate(edges.items())
    ]
    assert client.post("/api/posts", json=batch, headers=admin_headers).status_code == 200
    week = client.get("/api/posts", params={"week": "2026-W48"}, headers=admin_headers).json()
    assert week["week"] == "2026-W48" and week["total"] == 2
    assert [item["url"].rsplit("/", 1)[1] for item in week["items"]] == ["offset", "first"]
    item = week["items"][0]
    assert isinstance(item["id"], int)
    assert item["published_at"] == "2026-11-29T23:30:00+00:00"
    assert set(item["metrics"]) == {"views", "likes", "shares", "comments"}


def test_pagination(client, admin_headers):
    batch = [_post(i, published_at=f"2026-11-{24 + i % 3}T0{i % 9}:00:00+00:00") for i in range(7)]
    client.post("/api/posts", json=batch, headers=admin_headers)
    pages = [
        client.get(
            "/api/posts",
            params={"week": "2026-W48", "limit": 3, "offset": offset},
            headers=admin_headers,
        ).json()
        for offset in (0, 3, 6)
    ]
    assert [page["total"] for page in pages] == [7, 7, 7]
    ids = [item["id"] for page in pages for item in page["items"]]
    assert len(ids) == 7 and len(set(ids)) == 7
    dates = [item["published_at"] for page in pages for item in page["items"]]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("week", ["2026-W54", "banana", "2026-W00", "2026W48"])
def test_bad_week_is_422(client, admin_headers, week):
    response = client.get("/api/posts", params={"week": week}, headers=admin_headers)
    assert response.status_code == 422
    assert "week" in response.json()["detail"].lower() or "W" in response.json()["detail"]


def test_upsert_thousands_uses_a_handful_of_statements(db, engine):
    items = validate_posts([_post(i) for i in range(2500)])
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        created = upsert_posts(db, items, now=NOW)
        created_statements = len(statements)
        statements.clear()
        changed = [item.model_copy(update={"title": item.title + "!"}) for item in items]
        updated = upsert_posts(db, changed, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert created == {"created": 2500, "updated": 0, "unchanged": 0}
    assert updated == {"created": 0, "updated": 2500, "unchanged": 0}
    # 5 chunked SELECTs + batched INSERT/UPDATE + savepoints; a per-row query would be 2500+.
    assert created_statements < 30 and len(statements) < 30, (created_statements, len(statements))
    assert _count(db) == 2500
