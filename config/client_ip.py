"""The client's address: the one function every part of Quorum asks.

`X-Forwarded-For` is believed only when the connection itself comes from a
proxy listed in TRUSTED_PROXIES, and then only as far back as the chain runs
through trusted proxies: the header is read right to left (each proxy appends
the address it received the connection from), trusted proxies are skipped,
and the first address that is not one of them is the client. Anything to the
left of it was written by the client and is ignored, so a spoofed
`X-Forwarded-For: 1.2.3.4` buys nothing. Without TRUSTED_PROXIES the header is
never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(values: Iterable[str]) -> list[Network]:
    """TRUSTED_PROXIES entries (addresses or CIDR blocks) as networks; ValueError names a bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or network") from None
    return networks


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def client_ip_from(*, remote_addr: str, forwarded_for: str, trusted: Sequence[Network]) -> str:
    """Pure core of `client_ip` (see the module docstring)."""
    peer = _address(remote_addr)
    if peer is None:
        return ""
    if not trusted or not _trusted(peer, trusted):
        return str(peer)
    client = peer
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        address = _address(hop)
        if address is None:  # garbage in the chain: stop at the last hop we could trust
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent `request` (empty if the connection has none)."""
    cached = getattr(request, "_quorum_client_ip", None)
    if cached is not None:
        return cached
    value = client_ip_from(remote_addr=request.META.get("REMOTE_ADDR", "") or "",
                           forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", "") or "",
                           trusted=settings.TRUSTED_PROXY_NETWORKS)
    try:
        request._quorum_client_ip = value
    except AttributeError:
        pass
    return value
