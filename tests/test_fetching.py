"""Feeds reach public addresses only: every spelling of loopback, private ranges, link-local,
redirects and rebinding names are refused where the connection is opened; failures do not tell
open ports from closed ones. Real local servers throughout."""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.accounts import create_admin
from app.models import Feed, Post
from app.posts.feeds import FeedAddressRefused, add_feed, ingest, poll_feed
from app.posts.fetching import guarded_transport, is_public_address, make_client
from tests.test_admin import EMAIL, PASSWORD, log_in, token

RSS = (Path(__file__).parent / "feeds" / "rss20.xml").read_bytes()
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class DualStackServer(ThreadingHTTPServer):
    """Listens on every IPv6 and IPv4 address, so each loopback spelling reaches it."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class Site:
    """A real HTTP server: `/feed` is RSS, `/to?url` redirects there; every path asked is kept."""

    def __init__(self, address: str) -> None:
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                site.paths.append(self.path)
                if self.path.startswith("/to?"):
                    self.send_response(302)
                    self.send_header("Location", self.path[4:])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(RSS)))
                self.end_headers()
                self.wfile.write(RSS)

            def log_message(self, *args: object) -> None:
                pass

        server_class = DualStackServer if address == "::" else ThreadingHTTPServer
        self.httpd = server_class((address, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def everywhere() -> Iterator[Site]:
    site = Site("::")
    yield site
    site.close()


@pytest.fixture
def public_and_internal() -> Iterator[tuple[Site, Site]]:
    """127.0.0.1 stands in for the internet (the tests' policy allows only it), 127.0.0.2 for an
    internal host: both really answer, so a request that got through would be seen."""
    public, internal = Site("127.0.0.1"), Site("127.0.0.2")
    yield public, internal
    public.close()
    internal.close()


def only_127_0_0_1(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address == ipaddress.IPv4Address("127.0.0.1")


def _feed(db, url: str) -> Feed:
    feed = Feed(url=url, topics=[], error_count=0, created_at=NOW)
    db.add(feed)
    db.flush()
    return feed


def _post_count(db) -> int:
    db.flush()
    return db.scalar(select(func.count()).select_from(Post))


LOOPBACK_SPELLINGS = [
    "localhost",
    "LocalHost",
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "017700000001",
    "0.0.0.0",
    "[::1]",
    "[::ffff:127.0.0.1]",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_loopback_spelling_is_refused_before_connecting(db, settings, everywhere, host):
    feed = _feed(db, f"http://{host}:{everywhere.port}/feed")
    result = poll_feed(db, feed, settings=settings, now=NOW)
    assert everywhere.paths == []  # the server that listens there never saw a request
    assert result["status"] == "not-public" and feed.last_status == "not-public"
    assert "non-public address" in feed.last_error
    assert "DIGEST_FEED_ALLOW_PRIVATE" in feed.last_error
    assert feed.error_count == 1 and _post_count(db) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[fe80::1]/feed",
        "http://10.0.0.1/feed",
        "http://172.16.0.1/feed",
        "http://192.168.1.1:8080/feed",
        "http://100.64.0.1/feed",  # carrier-grade NAT
        "http://224.0.0.1/feed",  # multicast
        "http://[fd00::1]/feed",
        "https://[::ffff:169.254.169.254]/feed",
        "http://[64:ff9b::a9fe:a9fe]/feed",  # NAT64 of 169.254.169.254
    ],
)
def test_private_and_link_local_ranges_are_refused_without_a_connection(db, settings, url):
    settings.feed_timeout = 5.0
    feed = _feed(db, url)
    started = time.monotonic()
    result = poll_feed(db, feed, settings=settings, now=NOW)
    # Refused on sight: trying to connect would have waited for the 5 s timeout.
    assert time.monotonic() - started < 1.0
    assert result["status"] == "not-public" and "non-public address" in result["error"]


def test_intranet_installs_can_allow_private_addresses(db, settings, everywhere):
    settings.feed_allow_private = True
    feed = _feed(db, f"http://localhost:{everywhere.port}/feed")
    assert poll_feed(db, feed, settings=settings, now=NOW)["status"] == "ok"
    assert everywhere.paths == ["/feed"] and _post_count(db) == 2


@pytest.mark.parametrize("host", ["localhost", "2130706433", "[::ffff:127.0.0.1]", "0.0.0.0"])
def test_api_refuses_a_non_public_feed_with_422(client, admin_headers, published, host):
    url = f"http://{host}:8080/feed"
    answer = client.post("/api/feeds", json={"url": url}, headers=admin_headers)
    assert answer.status_code == 422, answer.text
    assert "non-public address" in answer.json()["detail"]
    assert published == []  # nothing stored, no poll queued
    listed = client.get("/api/feeds", headers=admin_headers).json()
    assert listed["total"] == 0


def test_api_takes_public_and_unresolvable_hosts_and_private_ones_when_allowed(
    client, admin_headers, settings, db
):
    # An IP literal on the internet, and a name that does not resolve yet (the poll checks it).
    for url in ("http://93.184.215.14/feed", "https://not-yet-registered.test/feed"):
        answer = client.post("/api/feeds", json={"url": url}, headers=admin_headers)
        assert answer.status_code == 201, answer.text
    settings.feed_allow_private = True
    intranet = {"url": "http://localhost:8080/feed"}
    assert client.post("/api/feeds", json=intranet, headers=admin_headers).status_code == 201


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/feed",
        "http://host:99999/feed",
        "http://host:0/feed",
        "http://[::1]:65536/feed",
        "http://exa mple.org/feed",
        "ftp://127.0.0.1/feed",
        "http:///feed",
        "http://" + "a" * 64 + ".test/feed",  # a label longer than DNS allows
    ],
)
def test_malformed_feed_urls_are_422_not_500(client, admin_headers, url):
    answer = client.post("/api/feeds", json={"url": url}, headers=admin_headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]


def test_admin_form_refuses_a_non_public_feed_unless_allowed(client, db, settings, frozen_clock):
    create_admin(db, email=EMAIL, password=PASSWORD, now=NOW)
    db.commit()
    assert log_in(client).status_code == 303
    form = {"url": "http://2130706433:8080/feed", "csrf_token": token(client, "/admin/feeds")}
    refused = client.post("/admin/feeds", data=form)
    assert refused.status_code == 422 and "non-public address" in refused.text
    assert db.scalar(select(func.count()).select_from(Feed)) == 0
    settings.feed_allow_private = True
    assert client.post("/admin/feeds", data=form).status_code == 200
    assert db.scalar(select(Feed.url)) == "http://2130706433:8080/feed"


def test_add_feed_refuses_loopback_as_a_domain_error(db):
    with pytest.raises(FeedAddressRefused, match="non-public"):
        add_feed(db, url="http://0x7f000001/feed", topics=[], title=None, now=NOW)
    assert db.scalar(select(func.count()).select_from(Feed)) == 0


def test_ingest_of_a_loopback_url_is_refused(db, settings, everywhere):
    with pytest.raises(Exception, match="non-public address"):
        ingest(f"http://localhost:{everywhere.port}/feed", session=db, settings=settings, now=NOW)
    assert everywhere.paths == []


def test_a_proxy_from_the_environment_cannot_carry_feeds_past_the_guard(
    db, settings, public_and_internal, monkeypatch
):
    # A proxy would connect wherever it is asked: with the guard on, feeds never go through one.
    _public, internal = public_and_internal
    proxy = f"http://127.0.0.2:{internal.port}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings.feed_timeout = 1.0
    feed = _feed(db, "http://93.184.215.14/feed")
    result = poll_feed(db, feed, settings=settings, now=NOW)
    assert internal.paths == [] and result["status"] != "ok"


def test_a_redirect_to_an_internal_host_is_refused_at_that_hop(db, settings, public_and_internal):
    public, internal = public_and_internal
    inside = f"http://127.0.0.2:{internal.port}/feed"
    feed = _feed(db, f"http://127.0.0.1:{public.port}/to?{inside}")
    transport = guarded_transport(allowed=only_127_0_0_1)
    with make_client(settings, transport=transport) as http:
        result = poll_feed(db, feed, settings=settings, now=NOW, client=http)
        assert result["status"] == "not-public", result
        assert public.paths == [f"/to?{inside}"] and internal.paths == []
        # The same client follows a redirect that stays on allowed addresses.
        feed.url = f"http://127.0.0.1:{public.port}/to?/feed"
        assert poll_feed(db, feed, settings=settings, now=NOW, client=http)["status"] == "ok"


def test_a_name_is_checked_at_each_connection_so_rebinding_cannot_slip_through(
    db, settings, public_and_internal
):
    public, internal = public_and_internal
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.1", "127.0.0.2"]])

    def rebinding_dns(host: str, port: int) -> list[str]:
        assert host == "feed.rebind.test"
        return next(answers)

    transport = guarded_transport(allowed=only_127_0_0_1, resolver=rebinding_dns)
    feed = _feed(db, f"http://feed.rebind.test:{public.port}/feed")
    statuses = []
    for _ in range(3):  # a fresh client each time, as each poll of a worker makes one
        with make_client(settings, transport=transport) as http:
            statuses.append(poll_feed(db, feed, settings=settings, now=NOW, client=http)["status"])
    # Second answer: the internal address only; third: one good and one bad address.
    assert statuses == ["ok", "not-public", "not-public"]
    assert public.paths == ["/feed"] and internal.paths == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("127.0.0.1", False),
        ("127.255.255.254", False),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("224.0.0.251", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::7f00:1", False),  # IPv4-compatible, deprecated
        ("64:ff9b::7f00:1", False),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("fe80::1", False),
        ("fc00::1", False),
        ("fd12:3456::1", False),
        ("ff02::1", False),
        ("2001:db8::1", False),
    ],
)
def test_which_addresses_count_as_public(address, public):
    assert is_public_address(ipaddress.ip_address(address)) is public


# ---- errors must not tell which ports are open -------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def port_kinds() -> Iterator[dict[str, int]]:
    """A closed port, one that accepts and never answers, one that resets, one that hangs up."""
    listeners: list[socket.socket] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def listen(behaviour: str) -> int:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.05)
        listeners.append(server)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    continue
                if behaviour == "reset":  # SO_LINGER 0: close sends RST
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                elif behaviour == "hang-up":
                    conn.close()
                else:
                    held.append(conn)

        threading.Thread(target=serve, daemon=True).start()
        return server.getsockname()[1]

    yield {
        "closed": _closed_port(),
        "silent": listen("silent"),
        "reset": listen("reset"),
        "hang-up": listen("hang-up"),
    }
    stop.set()
    for sock in listeners + held:
        sock.close()


@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "allow-private"])
def test_refused_silent_and_reset_ports_read_the_same(db, settings, port_kinds, guarded):
    settings.feed_timeout = 0.5
    settings.feed_allow_private = not guarded
    transport = guarded_transport(allowed=only_127_0_0_1) if guarded else None
    seen = {}
    with make_client(settings, transport=transport) as http:
        for kind, port in port_kinds.items():
            feed = _feed(db, f"http://127.0.0.1:{port}/feed")
            result = poll_feed(db, feed, settings=settings, now=NOW, client=http)
            seen[kind] = (result["status"], feed.last_error)
    assert len(set(seen.values())) == 1, seen
    status, message = seen["closed"]
    assert status == "network-error" and "127.0.0.1" in message
    assert str(port_kinds["closed"]) not in message
