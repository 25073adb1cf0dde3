"""Who the client is behind reverse proxies: X-Forwarded-For, believed only from trusted peers.

Every proxy appends the address it saw to the header, so the right end is written by the proxies
we run and the left end by whoever connected first, the client included, who can write anything
there. Walking from the right, each address that is one of our proxies hands us on to the one
before it; the first that is not ours is the client. With no trusted proxies (the default) the
header is never read, and the peer of the TCP connection is the client.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(peer: str, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str:
    """The client's address from the connection's `peer` and the X-Forwarded-For header lines.

    An entry that is not an address (a proxy misconfigured, or a hop that writes "unknown") ends
    the walk at the last hop we believe: a client must never be able to pick its own key.
    """
    seen = _parse(peer)
    if not _trusted(seen, proxies):
        return peer
    assert seen is not None  # _trusted() said so
    hops = [entry for line in forwarded_for for entry in line.split(",") if entry.strip()]
    for entry in reversed(hops):
        address = _parse(entry)
        if address is None:
            break
        seen = address
        if not _trusted(address, proxies):
            break
    return str(seen)
