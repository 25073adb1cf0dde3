"""Fetching a feed over HTTP: bounded, conditional, and only from public addresses.

Why the check sits where the socket is opened: a feed URL is typed by an admin, but its host's
DNS answers and its redirects belong to whoever runs that host. Checking the URL once is not
enough: a redirect, or a name that resolves differently the second time (DNS rebinding), would
reach 127.0.0.1, the LAN or the cloud metadata address 169.254.169.254. So the client opens every
connection, first hop and each redirect alike, through `PublicOnlyBackend`: it resolves the host
once, refuses if any of its addresses is not public, and connects to exactly the addresses it
checked. That is httpcore's documented extension point (a network backend), so httpx keeps doing
TLS (certificates and SNI still name the host), redirects, pooling and decompression.

Why not a library: the SSRF guards on PyPI wrap requests (advocate, unmaintained since 2020) or
async httpx clients only (safehttpx, httpx-secure); this guard is a few dozen lines on httpcore,
which httpx already depends on.

Why transport failures all read alike: "connection refused", "timed out" and "reset" tell which
ports of a host are open, so a feed's `last_error` would work as a port scanner.
`DIGEST_FEED_ALLOW_PRIVATE=true` (intranet installs) turns the guard off and the plain httpx client
is used, with the environment's proxy settings as before.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

from app.config import Settings
from app.posts.parsing import FeedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
Resolver = Callable[[str, int], list[str]]

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"
)
NOT_PUBLIC = "not-public"
# 64:ff9b::/96 carries an IPv4 address for NAT64 gateways, which would forward to it.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """The host resolves to an address feeds may not reach; the message says so plainly."""

    def __init__(self, host: str) -> None:
        try:
            ipaddress.ip_address(host)
            subject = f"{host} is"
        except ValueError:
            subject = f"{host} resolves to"
        super().__init__(
            f"{subject} a non-public address (loopback, private, link-local or reserved); "
            "set DIGEST_FEED_ALLOW_PRIVATE=true to poll intranet feeds"
        )


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address; IPv4 carried in IPv6 is judged as itself."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if carried is not None:  # the packet ends up at that IPv4 address
            return is_public_address(carried)
        if address.sixtofour is not None and not is_public_address(address.sixtofour):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_private
    )


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order (an IP literal is itself)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def check_host(
    host: str,
    port: int,
    *,
    allowed: AddressPolicy = is_public_address,
    resolver: Resolver = resolve,
) -> list[str]:
    """The addresses of `host` if every one is allowed; AddressRefused if any is not."""
    addresses = resolver(host, port)
    if not addresses or not all(
        allowed(ipaddress.ip_address(address.split("%", 1)[0])) for address in addresses
    ):
        raise AddressRefused(host)
    return addresses


class PublicOnlyBackend(httpcore.SyncBackend):
    """Opens TCP connections only to checked addresses: the address checked is the one used."""

    def __init__(
        self, *, allowed: AddressPolicy = is_public_address, resolver: Resolver = resolve
    ) -> None:
        self._allowed = allowed
        self._resolver = resolver

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = check_host(host, port, allowed=self._allowed, resolver=self._resolver)
        except (OSError, UnicodeError) as error:  # no such name: a failed connection like any
            raise httpcore.ConnectError(str(error)) from error
        failure: Exception | None = None
        for address in addresses:  # as socket.create_connection does, but over checked addresses
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # check_host never returns an empty list
        raise failure


def guarded_transport(
    *, allowed: AddressPolicy = is_public_address, resolver: Resolver = resolve
) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through `PublicOnlyBackend`."""
    transport = httpx.HTTPTransport()
    # httpx has no option for a network backend: its pool is replaced by one that has ours. Fail
    # closed if httpx ever stops keeping the pool there (a new attribute would go unused).
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("httpx.HTTPTransport changed: the feed address guard cannot be fitted")
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=PublicOnlyBackend(allowed=allowed, resolver=resolver),
    )
    return transport


def make_client(
    settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """An HTTP client for feeds: public addresses only (unless allowed), the configured timeout,
    up to 5 redirects, a clear User-Agent."""
    if transport is None and not settings.feed_allow_private:
        transport = guarded_transport()
    return httpx.Client(
        transport=transport,
        timeout=settings.feed_timeout,
        follow_redirects=True,
        max_redirects=5,
        headers={
            "User-Agent": f"weekly-digest/0.1 (+{settings.public_base_url})",
            "Accept": ACCEPT,
        },
    )


@dataclass
class Fetched:
    """A feed response: 304 (`body` None) or a body with its cache validators."""

    url: str
    body: bytes | None
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None


def fetch_feed(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    timeout: float,
) -> Fetched:
    """GET a feed conditionally, reading at most `max_bytes` within ~`timeout` seconds in all."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    # httpx's timeout bounds each read; a server trickling bytes needs an overall deadline too.
    deadline = time.monotonic() + timeout
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(str(response.url), None, etag=etag, last_modified=last_modified)
            if response.status_code >= 400:
                raise FeedError(
                    f"http-{response.status_code}",
                    f"HTTP {response.status_code} {response.reason_phrase} from {response.url}",
                )
            body = _read_bounded(response, max_bytes, deadline, timeout)
            return Fetched(
                str(response.url),
                body,
                response.headers.get("content-type", ""),
                response.headers.get("etag"),
                response.headers.get("last-modified"),
            )
    except AddressRefused as error:
        raise FeedError(NOT_PUBLIC, f"refused: {error}") from error
    except httpx.TransportError as error:
        # One text for refused, timed out, reset, TLS failure and unresolvable (see the top).
        host = error.request.url.host if _has_request(error) else httpx.URL(url).host
        raise FeedError(
            "network-error",
            f"no usable answer from {host} within {timeout:g} s "
            "(it could not be reached, or the connection failed)",
        ) from error
    except httpx.HTTPError as error:  # too many redirects, a redirect to a non-http URL …
        raise FeedError("network-error", f"{type(error).__name__}: {error}") from error


def _has_request(error: httpx.TransportError) -> bool:
    try:
        error.request  # noqa: B018 - httpx raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def _read_bounded(
    response: httpx.Response, max_bytes: int, deadline: float, timeout: float
) -> bytes:
    too_large = FeedError("too-large", f"the feed is larger than {max_bytes:,} bytes")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    body = bytearray()
    # iter_bytes decompresses, so the cap also stops a small gzip that expands hugely.
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise too_large
        if time.monotonic() > deadline:
            raise FeedError("timeout", f"the feed took longer than {timeout:g} s to download")
    return bytes(body)
