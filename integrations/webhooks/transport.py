"""One HTTP POST to a checked address, with hard limits.

- connects only to the addresses that addresses.check_url() checked (the
  Host header and the TLS server name stay the URL's host, and the
  certificate is verified against it);
- a connect timeout per address, a read timeout per read, and a total
  deadline for the whole attempt (a receiver that trickles one byte at a
  time cannot hold a sender);
- never follows redirects (a 3xx is a failed attempt);
- reads at most `max_response_bytes` of the response body.

Standard library only (http.client), so nothing else resolves the host
behind our back.
"""

import http.client
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .addresses import Target

USER_AGENT = "Quorum-Webhooks/1"
EXCERPT_CHARS = 1024


@dataclass
class Result:
    status_code: int | None
    error: str
    response_excerpt: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300 and not self.error


class _Deadline(socket.socket):
    """Each blocking socket call waits at most min(per-call timeout, what is
    left of the attempt's total time). Set both before the first call."""

    _deadline: float  # time.monotonic() at which the attempt's total time runs out
    _per_call: float

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the attempt ran out of its total time")
        self.settimeout(min(self._per_call, left))

    def recv_into(self, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().recv_into(*args, **kwargs)

    def recv(self, *args: Any, **kwargs: Any) -> bytes:
        self._arm()
        return super().recv(*args, **kwargs)

    def sendall(self, *args: Any, **kwargs: Any) -> None:
        self._arm()
        return super().sendall(*args, **kwargs)

    def send(self, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().send(*args, **kwargs)


class _DeadlineSocket(_Deadline):
    pass


class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):
    pass


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """Certificates verified against the system's CAs (or `cafile`), host names checked."""
    context = ssl.create_default_context(cafile=cafile)
    context.sslsocket_class = _DeadlineSSLSocket
    return context


_TLS = tls_context()


def _connect(target: Target, connect_timeout: float, deadline: float) -> _DeadlineSocket:
    errors = []
    for family, address in target.addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(min(connect_timeout, left))
            sock.connect((address, target.port))
            return sock
        except OSError as exc:
            sock.close()
            errors.append(f"{address}: {_describe(exc)}")
    raise ConnectionError("could not connect (" + "; ".join(errors or ["no time left"]) + ")")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not valid: {exc.verify_message}"
    text = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
    return text


def post(target: Target, body: bytes, headers: Mapping[str, str], *, connect_timeout: float, read_timeout: float,
         max_response_bytes: int, tls_context: ssl.SSLContext | None = None) -> Result:
    """POSTs `body` (bytes) to `target`; never raises for network trouble:
    the Result says what happened."""
    started = time.monotonic()
    deadline = started + connect_timeout + read_timeout
    sock: socket.socket | None = None
    conn = None
    status, error, excerpt = None, "", ""
    try:
        sock = plain = _connect(target, connect_timeout, deadline)
        plain._deadline, plain._per_call = deadline, read_timeout
        if target.scheme == "https":
            plain.settimeout(max(0.001, min(connect_timeout, deadline - time.monotonic())))
            sock = (tls_context or _TLS).wrap_socket(plain, server_hostname=target.host)
            if isinstance(sock, _Deadline):  # a context from tls_context(): the deadline holds inside TLS too
                sock._deadline, sock._per_call = deadline, read_timeout
        port_default = 443 if target.scheme == "https" else 80
        conn = http.client.HTTPConnection(target.host, target.port if target.port != port_default else None)
        conn.sock = sock
        conn.putrequest("POST", target.path, skip_accept_encoding=True)
        for name, value in {"User-Agent": USER_AGENT, "Content-Type": "application/json",
                            "Content-Length": str(len(body)), "Connection": "close", **headers}.items():
            conn.putheader(name, value)
        conn.endheaders(message_body=body)
        response = conn.getresponse()
        status = response.status
        try:
            raw = response.read(max_response_bytes) if max_response_bytes else b""
            excerpt = raw[:EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]
        except (OSError, http.client.HTTPException) as exc:  # the status counts; the body is only for the log
            excerpt = f"(response body not read: {_describe(exc)})"
        if 300 <= status < 400:
            location = response.getheader("Location", "")[:200]
            error = f"redirect to {location!r} not followed" if location else "redirect not followed"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
    except http.client.RemoteDisconnected:
        error = "connection closed without a response"
    except ConnectionError as exc:
        if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            error = "connection dropped by the receiver"
        else:
            error = str(exc)[:500]
    except http.client.HTTPException as exc:
        error = f"invalid HTTP response ({exc.__class__.__name__})"
    except TimeoutError:
        error = "timed out"
    except ssl.SSLError as exc:
        error = f"TLS error: {_describe(exc)}"[:500]
    except OSError as exc:
        error = _describe(exc)[:500]
    finally:
        if conn is not None:
            conn.close()
        elif sock is not None:
            sock.close()
    return Result(status_code=status, error=error, response_excerpt=excerpt,
                  duration_ms=int((time.monotonic() - started) * 1000))
