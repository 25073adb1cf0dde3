"""Address checks with a real DNS exchange: a server that never answers, one that says NXDOMAIN."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import dns.message
import dns.rcode
import pytest
from email_validator import caching_resolver

from app.readers import subscriptions
from app.readers.subscriptions import InvalidAddress, normalise_email


def _local_resolver(port: int, timeout: float):
    resolver = caching_resolver(timeout=timeout)
    resolver.lifetime = timeout
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    return resolver


@pytest.fixture
def silent_dns() -> Iterator[int]:
    """A UDP port that receives DNS queries and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def nxdomain_dns() -> Iterator[int]:
    """A DNS server that answers every query: no such domain."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            response = dns.message.make_response(dns.message.from_wire(data))
            response.set_rcode(dns.rcode.NXDOMAIN)
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_dns_timeout_never_holds_the_request_for_seconds(monkeypatch, silent_dns):
    monkeypatch.setattr(
        subscriptions, "_resolver", lambda timeout: _local_resolver(silent_dns, timeout)
    )
    started = time.monotonic()
    address = normalise_email("reader@example.org", check_deliverability=True, dns_timeout=0.5)
    elapsed = time.monotonic() - started
    assert address == "reader@example.org"  # unknown deliverability is not a reason to refuse
    assert elapsed < 1.5


def test_nonexistent_domain_is_refused_with_a_reason(monkeypatch, nxdomain_dns):
    monkeypatch.setattr(
        subscriptions, "_resolver", lambda timeout: _local_resolver(nxdomain_dns, timeout)
    )
    with pytest.raises(InvalidAddress, match="does not exist"):
        normalise_email("reader@no-such-domain.example", check_deliverability=True, dns_timeout=1)


def test_subscribe_route_uses_the_dns_check_when_enabled(
    monkeypatch, nxdomain_dns, app, client, published
):
    monkeypatch.setattr(
        subscriptions, "_resolver", lambda timeout: _local_resolver(nxdomain_dns, timeout)
    )
    app.state.digest.settings.check_deliverability = True
    response = client.post("/subscribe", json={"email": "a@no-such-domain.example"})
    assert response.status_code == 422
    assert "does not exist" in response.json()["detail"]
    assert published == []


@pytest.mark.parametrize(
    "raw",
    ["  Mixed.Case@Example.ORG ", "mixed.case@example.org"],
)
def test_addresses_are_normalised_to_one_form(raw):
    assert normalise_email(raw) == "mixed.case@example.org"


def test_non_string_and_control_characters_are_refused():
    for raw in (None, 42, "a@example.org\x00", "tab\t@example.org"):
        with pytest.raises(InvalidAddress):
            normalise_email(raw)  # type: ignore[arg-type]


def test_international_domains_become_punycode_and_non_ascii_mailboxes_are_refused():
    assert normalise_email("Reader@Bücher.example") == "reader@xn--bcher-kva.example"
    with pytest.raises(InvalidAddress, match="non-ASCII"):
        normalise_email("jürgen@example.org")
