"""Which URLs webhooks may be sent to (SSRF protection).

A URL must be https unless its host is on WEBHOOK_ALLOWED_HOSTS, and every
address its host resolves to must be public: private, loopback, link-local
(the cloud metadata service 169.254.169.254 among them), multicast,
reserved, unspecified and shared (CGNAT) addresses are refused, also when
hidden inside an IPv6 address (IPv4-mapped, 6to4, Teredo, NAT64). The check
runs when an endpoint is saved and again before every attempt (DNS can
change), and the sender connects to exactly the address it checked.

WEBHOOK_ALLOWED_HOSTS entries are host names (exact match), IP addresses or
networks in CIDR notation; a host that matches, or whose every address lies
in an allowed network, may use http and private addresses.
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2048
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; the message says why."""

    code = "unsafe_url"


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (addresses, in resolver order) and
    what to ask for there."""

    scheme: str
    host: str  # for the Host header and TLS server name
    port: int
    path: str  # path and query
    addresses: tuple[tuple[int, str], ...]  # of (family, ip string)


def _allow_list() -> tuple[set[str], list[IPNetwork]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in settings.WEBHOOK_ALLOWED_HOSTS:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.rstrip("."))
    return names, networks


def _embedded(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (and routes to)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def address_problem(ip: IPAddress) -> str | None:
    """Why webhooks may not go to `ip`, or None for a public address."""
    if ip in _METADATA:
        return "is the cloud metadata service"
    for inner in _embedded(ip):
        problem = address_problem(inner)
        if problem:
            return f"embeds {inner}, which {problem}"
    checks = [
        (ip.is_loopback, "is a loopback address"),
        (ip.is_link_local, "is a link-local address"),
        (ip.is_multicast, "is a multicast address"),
        (ip.is_unspecified, "is the unspecified address"),
        (ip.is_reserved, "is a reserved address"),
        (ip.is_private, "is a private address"),
        (not ip.is_global, "is not a public address"),
    ]
    for failed, reason in checks:
        if failed:
            return reason
    return None


def _parse(url: object) -> tuple[str, str, int, str]:
    """(scheme, host, port, path and query) of an acceptable URL; raises UnsafeUrl."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("must be an absolute https:// URL")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"must be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeUrl("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeUrl("must be an absolute https:// URL")
    if not parts.hostname:
        raise UnsafeUrl("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("must not carry credentials (user:password@); authenticate with the signature instead")
    if parts.fragment:
        raise UnsafeUrl("must not have a #fragment")
    host = parts.hostname.rstrip(".")
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeUrl("has a host name that is not valid") from None
    if port == 0:
        raise UnsafeUrl("has an invalid port")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host.lower(), port or (443 if scheme == "https" else 80), path


def resolve(host: str, port: int) -> list[tuple[int, str]]:
    """[(family, ip string)] for `host`, in the resolver's order. Tests replace it."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = str(sockaddr[0]).split("%", 1)[0]  # a str for AF_INET and AF_INET6
        if address not in seen:
            seen.add(address)
            out.append((family, address))
    return out


def check_url(url: object) -> Target:
    """Returns the checked Target for `url` or raises UnsafeUrl. Resolves the
    host; every address it resolves to must pass, not only the first."""
    scheme, host, port, path = _parse(url)
    names, networks = _allow_list()
    name_allowed = host in names
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    addresses: list[tuple[int, str]]
    if literal is not None:
        addresses = [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, str(literal))]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeUrl(f"host {host!r} does not resolve ({getattr(exc, 'strerror', None) or exc})") from None
        if not addresses:
            raise UnsafeUrl(f"host {host!r} has no IPv4 or IPv6 address")
    ips = [ipaddress.ip_address(a) for _f, a in addresses]
    allowed = name_allowed or all(any(ip in net for net in networks) for ip in ips)
    if not allowed:
        if scheme != "https":
            raise UnsafeUrl("must use https:// (plain http is only for hosts on WEBHOOK_ALLOWED_HOSTS)")
        for ip in ips:
            problem = address_problem(ip)
            if problem:
                shown = "" if literal is not None else f"{host} resolves to "
                raise UnsafeUrl(f"{shown}{ip}, which {problem}; webhooks only go to public addresses")
    return Target(scheme=scheme, host=host.strip("[]"), port=port, path=path, addresses=tuple(addresses))
