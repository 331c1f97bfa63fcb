"""The Quorum-Signature header:

    Quorum-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

During a secret rotation both the new and the previous secret sign, so the
header carries two v1 values (new first); a receiver accepts the request if
any of them matches its secret. docs/webhooks.md shows the receiver side.
"""

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
HEADER = "Quorum-Signature"


def new_secret():
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret, timestamp, body):
    message = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def header_value(secrets_, timestamp, body):
    """The header for `body` signed at `timestamp` with each of `secrets_`."""
    parts = [f"t={int(timestamp)}"]
    parts.extend(f"v1={signature(s, timestamp, body)}" for s in secrets_ if s)
    return ",".join(parts)


def signing_secrets(endpoint, now):
    """The endpoint's current secret, and the previous one while its overlap lasts."""
    out = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > now:
        out.append(endpoint.previous_secret)
    return out
