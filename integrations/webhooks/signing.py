"""The Quorum-Signature header:

    Quorum-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

During a secret rotation both the new and the previous secret sign, so the
header carries two v1 values (new first); a receiver accepts the request if
any of them matches its secret. docs/webhooks.md shows the receiver side.
"""

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import WebhookEndpoint

SECRET_PREFIX = "whsec_"
HEADER = "Quorum-Signature"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: float, body: bytes) -> str:
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def header_value(secrets_: Iterable[str], timestamp: float, body: bytes) -> str:
    """The header for `body` signed at `timestamp` with each of `secrets_`."""
    parts = [f"t={int(timestamp)}"]
    parts.extend(f"v1={signature(s, timestamp, body)}" for s in secrets_ if s)
    return ",".join(parts)


def signing_secrets(endpoint: "WebhookEndpoint", now: datetime) -> list[str]:
    """The endpoint's current secret, and the previous one while its overlap lasts."""
    out = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        out.append(endpoint.previous_secret)
    return out
