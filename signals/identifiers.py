"""Keyed hashes of account identifiers. The raw value lives only in the
request being handled: what is stored, logged and audited is
HMAC-SHA256(source key, kind ":" normalised value). Pure, except for reading
the secret from settings."""

import hashlib
import hmac
import ipaddress
import re
import unicodedata

from django.conf import settings

KINDS = ("email", "phone", "device", "payment", "ip_prefix")


def source_key(source_id) -> bytes:
    """The per-source key, derived from SIGNALS_HMAC_KEY: one platform's
    digests cannot be matched against another's."""
    secret = settings.SIGNALS_HMAC_KEY.encode("utf-8")
    return hmac.new(secret, b"quorum-signals-source:" + str(source_id).encode("ascii"), hashlib.sha256).digest()


def normalise(kind: str, value: str) -> str:
    """Equal identifiers written differently hash alike. Raises ValueError
    with a reason (never the value) when the value is not of its kind."""
    value = unicodedata.normalize("NFKC", value).strip()
    if kind == "email":
        if value.count("@") != 1 or not value.split("@")[0] or "." not in value.split("@")[1]:
            raise ValueError("must be an e-mail address")
        return value.casefold()
    if kind == "phone":
        digits = re.sub(r"[\s().-]", "", value)
        if not re.fullmatch(r"\+?[0-9]{5,20}", digits):
            raise ValueError("must be a phone number (digits, optionally a leading +)")
        return digits
    if kind == "ip_prefix":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError("must be an IP address or prefix like 203.0.113.0/24") from None
        # Addresses become their /24 (IPv4) or /48 (IPv6): linking needs the network, not the host.
        prefix = min(network.prefixlen, 24 if network.version == 4 else 48)
        return str(network.supernet(new_prefix=prefix) if network.prefixlen > prefix else network)
    if not value:
        raise ValueError("must not be empty")
    return value


def digest(*, key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}:{normalise(kind, value)}".encode(), hashlib.sha256).hexdigest()
