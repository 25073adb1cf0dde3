"""Feeds polled from a real local HTTP server: formats, failures, conditional GET, ingest, API."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.models import Feed, Post
from app.posts.feeds import IngestError, enqueue_feed_polls, ingest, poll_all, poll_feed
from app.posts.store import upsert_posts, validate_posts

FEEDS = Path(__file__).parent / "feeds"
DEMO_POSTS = Path(__file__).resolve().parent.parent / "app" / "demo" / "posts.json"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "application/xml"
    delay: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    send_length: bool = True


@dataclass
class FeedServer:
    """Routes served by a stdlib HTTP server on 127.0.0.1; every request's headers are kept."""

    port: int = 0
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve_file(self, path: str, name: str, **options) -> str:
        self.routes[path] = Route((FEEDS / name).read_bytes(), **options)
        return self.url(path)


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            server.requests.append((self.path, dict(self.headers)))
            route = server.routes.get(self.path) or Route(b"not found", status=404)
            time.sleep(route.delay)
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            # The client may give up (too large, timeout): that is the point of those routes.
            with contextlib.suppress(OSError):
                self.wfile.write(route.body)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def feed_server(settings) -> Iterator[FeedServer]:
    # The server is on loopback, which feeds may reach only when allowed (tests/test_fetching.py).
    settings.feed_allow_private = True
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    httpd.block_on_close = False
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _feed(db, url: str, topics: list[str] | None = None, title: str | None = None) -> Feed:
    feed = Feed(url=url, topics=topics or [], title=title, error_count=0, created_at=NOW)
    db.add(feed)
    db.flush()
    return feed


def _posts(db) -> dict[str, Post]:
    db.flush()
    db.expire_all()
    return {post.url: post for post in db.scalars(select(Post))}


def test_rss20_entries_become_posts(db, settings, feed_server):
    feed = _feed(db, feed_server.serve_file("/rss", "rss20.xml"), topics=["energy"])
    result = poll_feed(db, feed, settings=settings, now=NOW)
    assert result["status"] == "ok" and result["created"] == 2
    posts = _posts(db)
    storage = posts["https://grid-weekly.test/2026/11/rd-storage"]
    assert storage.title == "R&D spending on storage <5% of budgets"  # text, as the feed meant it
    assert storage.summary == "Battery makers lag behind. Ørsted & partners disagree."
    assert "<" not in storage.summary and "alert" not in storage.summary
    assert storage.author == "Jürgen Hofmann"
    assert storage.source == "Grid Weekly"
    assert storage.topics == ["batteries", "grid", "energy"]
    assert storage.image_url == "https://grid-weekly.test/img/storage.jpg"
    assert storage.published_at == datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
    assert (storage.views, storage.likes, storage.feed_id) == (0, 0, feed.id)
    wind = posts["https://grid-weekly.test/2026/11/offshore-wind-auction"]
    assert wind.image_url == "https://grid-weekly.test/img/wind.jpg"  # media:content
    assert (feed.last_status, feed.error_count, feed.last_error) == ("ok", 0, None)
    assert feed.title == "Grid Weekly" and feed.last_fetched_at == NOW


def test_rss10_rdf_feed(db, settings, feed_server):
    feed = _feed(
        db, feed_server.serve_file("/rdf", "rss10.rdf", content_type="application/rdf+xml")
    )
    assert poll_feed(db, feed, settings=settings, now=NOW)["created"] == 1
    post = _posts(db)["https://solar-notes.test/a/perovskite"]
    assert post.published_at == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)  # dc:date, -05:00
    assert post.topics == ["solar"] and post.author == "Mei Chen"


def test_atom_feed_resolves_relative_links_and_html(db, settings, feed_server):
    feed = _feed(db, feed_server.serve_file("/atom", "atom.xml"), title="H2 desk")
    assert poll_feed(db, feed, settings=settings, now=NOW)["created"] == 1
    [post] = _posts(db).values()
    assert post.url == feed_server.url("/posts/green-hydrogen-stalls")
    assert post.title == "Why green hydrogen stalls"
    assert post.summary == "Electrolysers are idle."
    assert post.source == "H2 desk"  # the configured title wins over the feed's own
    assert post.image_url == "https://h2-heat.test/img/h2.png"  # media:thumbnail
    assert post.published_at == datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_entries_without_link_or_date_are_skipped_and_counted(db, settings, feed_server):
    feed = _feed(db, feed_server.serve_file("/skips", "skips.xml"))
    result = poll_feed(db, feed, settings=settings, now=NOW)
    assert result["skipped"] == {"no_link": 2, "no_date": 1, "invalid": 0}
    assert list(_posts(db)) == ["https://skips.test/good"]


def test_http_error_is_recorded_and_counted_until_it_recovers(db, settings, feed_server):
    feed = _feed(db, feed_server.url("/gone"))
    first = poll_feed(db, feed, settings=settings, now=NOW)
    poll_feed(db, feed, settings=settings, now=NOW)
    assert first["status"] == "http-404" and "404" in first["error"]
    assert (feed.last_status, feed.error_count) == ("http-404", 2)
    assert "HTTP 404" in feed.last_error
    feed_server.serve_file("/gone", "rss20.xml")
    assert poll_feed(db, feed, settings=settings, now=NOW)["status"] == "ok"
    assert (feed.error_count, feed.last_error) == (0, None)


def test_server_error_and_slow_server(db, settings, feed_server):
    settings.feed_timeout = 0.3
    feed_server.routes["/500"] = Route(b"oops", status=500, content_type="text/plain")
    feed_server.routes["/slow"] = Route((FEEDS / "rss20.xml").read_bytes(), delay=2.0)
    broken, slow = _feed(db, feed_server.url("/500")), _feed(db, feed_server.url("/slow"))
    assert poll_feed(db, broken, settings=settings, now=NOW)["status"] == "http-500"
    started = time.monotonic()
    result = poll_feed(db, slow, settings=settings, now=NOW)
    assert time.monotonic() - started < 1.5
    # Read like a refused or reset connection: the text must not tell which ports are open.
    assert result["status"] == "network-error" and "no usable answer" in slow.last_error
    assert _posts(db) == {}


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [
        ("malformed", (FEEDS / "malformed.xml").read_bytes(), "malformed", "malformed feed"),
        ("html page", b"<!doctype html><html><body>Hi</body></html>", "not-a-feed", "no RSS"),
        ("json", b'{"posts": []}', "not-a-feed", "no RSS"),
        ("truncated", b'<?xml version="1.0"?>\n<rss version="2.0"><chan', "malformed", "malformed"),
        ("empty", b"", "not-a-feed", "no RSS"),
    ],
)
def test_unusable_bodies_are_recorded(db, settings, feed_server, name, body, status, message):
    feed_server.routes["/bad"] = Route(body)
    feed = _feed(db, feed_server.url("/bad"))
    result = poll_feed(db, feed, settings=settings, now=NOW)
    assert result["status"] == status, result
    assert message in feed.last_error and feed.error_count == 1


@pytest.mark.parametrize("send_length", [True, False], ids=["declared", "streamed"])
def test_body_over_the_cap_is_refused(db, settings, feed_server, send_length):
    rss = (FEEDS / "rss20.xml").read_bytes()
    huge = rss.replace(b"<description>Plain", b"<description>" + b"x" * 10_000_000 + b" Plain")
    feed_server.routes["/huge"] = Route(huge, send_length=send_length)
    feed = _feed(db, feed_server.url("/huge"))
    result = poll_feed(db, feed, settings=settings, now=NOW)
    assert result["status"] == "too-large"
    assert f"{settings.feed_max_bytes:,}" in feed.last_error
    assert _posts(db) == {}


def test_etag_and_last_modified_make_the_next_poll_conditional(db, settings, feed_server):
    stamp = "Wed, 25 Nov 2026 08:00:00 GMT"
    url = feed_server.serve_file("/etag", "rss20.xml", etag='"v1"', last_modified=stamp)
    feed = _feed(db, url)
    assert poll_feed(db, feed, settings=settings, now=NOW)["created"] == 2
    assert (feed.etag, feed.last_modified) == ('"v1"', stamp)
    second = poll_feed(db, feed, settings=settings, now=NOW)
    _path, headers = feed_server.requests[-1]
    assert headers["If-None-Match"] == '"v1"' and headers["If-Modified-Since"] == stamp
    assert second["status"] == "not-modified" and second["created"] == 0
    assert feed.last_status == "not-modified" and feed.error_count == 0


def test_one_broken_feed_does_not_stop_the_others(db, settings, feed_server):
    settings.feed_timeout = 0.3
    feed_server.routes["/slow"] = Route(b"", delay=1.0)
    urls = [
        feed_server.serve_file("/a", "rss20.xml"),
        feed_server.url("/missing"),
        feed_server.url("/slow"),
        feed_server.serve_file("/b", "atom.xml"),
    ]
    for url in urls:
        _feed(db, url)
    results = poll_all(db, settings=settings, now=NOW)
    assert [r["status"] for r in results] == ["ok", "http-404", "network-error", "ok"]
    assert len(_posts(db)) == 3


def test_an_unexpected_exception_in_one_feed_is_recorded(db, settings):
    rss = (FEEDS / "rss20.xml").read_bytes()

    def network(request: httpx.Request) -> httpx.Response:
        if request.url.host == "explodes.test":
            raise RuntimeError("boom in the transport")
        return httpx.Response(200, content=rss, headers={"content-type": "application/rss+xml"})

    bad, good = _feed(db, "https://explodes.test/feed"), _feed(db, "https://fine.test/feed")
    with httpx.Client(transport=httpx.MockTransport(network)) as client:
        results = poll_all(db, settings=settings, now=NOW, client=client)
    assert [r["status"] for r in results] == ["error", "ok"]
    assert "boom in the transport" in bad.last_error and bad.error_count == 1
    assert good.last_status == "ok" and len(_posts(db)) == 2


def test_feed_polls_never_reset_metrics_or_rewrite_api_posts(db, settings, feed_server):
    url = feed_server.serve_file("/rss", "rss20.xml")
    api_owned = validate_posts(
        [
            {
                "url": "https://grid-weekly.test/2026/11/offshore-wind-auction",
                "title": "CMS title",
                "published_at": "2026-11-25T08:00:00+00:00",
                "metrics": {"views": 900, "likes": 90},
            }
        ]
    )
    upsert_posts(db, api_owned, now=NOW)
    feed = _feed(db, url)
    assert poll_feed(db, feed, settings=settings, now=NOW)["created"] == 1
    storage_url = "https://grid-weekly.test/2026/11/rd-storage"
    # The CMS later reports engagement for the feed's post; a re-poll must keep those counters.
    cms_update = validate_posts(
        [
            {
                "url": storage_url,
                "title": "R&D spending on storage",
                "published_at": "2026-11-24T09:15:00+00:00",
                "metrics": {"views": 1234, "shares": 5},
            }
        ]
    )
    upsert_posts(db, cms_update, now=NOW)
    again = poll_feed(db, feed, settings=settings, now=NOW)
    posts = _posts(db)
    assert again["updated"] == 1  # its own post's title came back from the feed
    assert (posts[storage_url].views, posts[storage_url].shares) == (1234, 5)
    assert posts[storage_url].title == "R&D spending on storage <5% of budgets"
    cms = posts["https://grid-weekly.test/2026/11/offshore-wind-auction"]
    assert (cms.title, cms.views, cms.likes, cms.feed_id) == ("CMS title", 900, 90, None)


def test_ingest_json_file(db, settings, tmp_path):
    result = ingest(str(DEMO_POSTS), session=db, settings=settings, now=NOW)
    shipped = json.loads(DEMO_POSTS.read_text(encoding="utf-8"))
    assert result["kind"] == "json" and result["created"] == len(shipped)
    assert set(_posts(db)) == {post["url"] for post in shipped}
    again = ingest(str(DEMO_POSTS), session=db, settings=settings, now=NOW)
    assert (again["created"], again["unchanged"]) == (0, len(shipped))


def test_ingest_bad_files_say_why(db, settings, tmp_path):
    with pytest.raises(IngestError, match="no such file"):
        ingest(str(tmp_path / "missing.json"), session=db, settings=settings, now=NOW)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"url": ')
    with pytest.raises(IngestError, match="not valid JSON"):
        ingest(str(broken), session=db, settings=settings, now=NOW)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(
        json.dumps(
            [
                {
                    "url": "https://a.example.org/1",
                    "title": "ok",
                    "published_at": "2026-11-24T10:00:00Z",
                },
                {
                    "url": "javascript:alert(1)",
                    "title": "bad",
                    "published_at": "2026-11-24T10:00:00",
                },
            ]
        )
    )
    with pytest.raises(IngestError) as caught:
        ingest(str(invalid), session=db, settings=settings, now=NOW)
    assert "post #1" in str(caught.value) and "published_at" in str(caught.value)
    notes = tmp_path / "notes.txt"
    notes.write_text("just some words")
    with pytest.raises(IngestError, match="no RSS or Atom"):
        ingest(str(notes), session=db, settings=settings, now=NOW)
    assert _posts(db) == {}


def test_ingest_feed_file_and_url_without_storing_a_feed(db, settings, feed_server):
    from_file = ingest(str(FEEDS / "rss10.rdf"), session=db, settings=settings, now=NOW)
    url = feed_server.serve_file("/atom", "atom.xml")
    from_url = ingest(url, session=db, settings=settings, now=NOW)
    assert (from_file["kind"], from_file["created"]) == ("feed", 1)
    assert (from_url["kind"], from_url["created"]) == ("feed", 1)
    assert len(_posts(db)) == 2
    assert db.scalar(select(func.count()).select_from(Feed)) == 0
    with pytest.raises(IngestError, match="HTTP 404"):
        ingest(feed_server.url("/nope"), session=db, settings=settings, now=NOW)


def test_feeds_api(client, db, admin_headers, published):
    body = {"url": "https://grid-weekly.test/feed", "topics": [" Grid ", "Energy"]}
    created = client.post("/api/feeds", json=body, headers=admin_headers)
    assert created.status_code == 201
    feed = created.json()
    assert feed["topics"] == ["grid", "energy"] and feed["error_count"] == 0
    assert published == [("digest.poll_feed", (feed["id"],))]
    duplicate = client.post("/api/feeds", json=body, headers=admin_headers)
    assert duplicate.status_code == 409 and duplicate.json()["feed"]["id"] == feed["id"]
    for bad in (
        {"url": "javascript:alert(1)"},
        {"topics": ["x"]},
        {"url": "https://x.test", "t": 1},
    ):
        assert client.post("/api/feeds", json=bad, headers=admin_headers).status_code == 422
    listed = client.get("/api/feeds", headers=admin_headers).json()
    assert listed["total"] == 1
    assert {"last_fetched_at", "last_status", "last_error", "error_count"} <= set(
        listed["items"][0]
    )
    assert client.get("/api/feeds").status_code == 401
    poll = client.post(f"/api/feeds/{feed['id']}/poll", headers=admin_headers)
    assert poll.status_code == 202 and published[-1] == ("digest.poll_feed", (feed["id"],))
    assert client.delete(f"/api/feeds/{feed['id']}", headers=admin_headers).status_code == 204
    assert client.get("/api/feeds", headers=admin_headers).json()["total"] == 0
    assert client.post("/api/feeds/999999/poll", headers=admin_headers).status_code == 404


def test_enqueue_feed_polls_queues_one_task_per_feed_after_commit(db, published):
    first, second = _feed(db, "https://a.test/feed"), _feed(db, "https://b.test/feed")
    assert enqueue_feed_polls(db) == 2
    assert published == []  # a worker must not start before the rows are committed
    db.commit()
    assert published == [("digest.poll_feed", (first.id,)), ("digest.poll_feed", (second.id,))]
