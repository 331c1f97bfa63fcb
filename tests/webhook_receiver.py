"""A real HTTP receiver for webhook tests: a ThreadingHTTPServer on
127.0.0.1 in a background thread, scripted per request.

    with Receiver(script) as receiver:
        ... receiver.url("/hook") ...
        receiver.requests      # everything that arrived, in arrival order

`script(request)` returns a Reply: a status (with an optional delay before
it), or `drop` (close the connection without answering), or `hang` seconds
(read the request, then say nothing). It gets a Received with the event id
and how many times this id has arrived so far (1 on the first attempt), so
scripts like "fail the first two attempts of every event" are one line.
Test tooling, not product code.
"""

import json
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    delay: float = 0.0
    drop: bool = False
    hang: float = 0.0
    headers: dict = field(default_factory=dict)
    trickle: float = 0.0  # seconds between single bytes of the answer (a slow-loris receiver)


@dataclass
class Received:
    at: float  # time.time() when the body had arrived
    path: str
    headers: dict
    body: bytes
    event_id: str
    attempt: int  # the how-many-th arrival of this event id
    status: int | None = None  # what we answered (None: dropped or hung)
    answered_at: float | None = None  # time.time() when the (fully written) answer started

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def acknowledged(self):
        return self.status is not None and 200 <= self.status < 300


def always_ok(request):
    return Reply()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        with receiver.lock:
            event_id = self.headers.get("Quorum-Event-Id", "")
            receiver.seen[event_id] = receiver.seen.get(event_id, 0) + 1
            received = Received(at=time.time(), path=self.path, headers=dict(self.headers.items()), body=body,
                                event_id=event_id, attempt=receiver.seen[event_id])
            receiver.requests.append(received)
        reply = receiver.script(received)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.drop or reply.hang:
            if reply.hang:
                time.sleep(reply.hang)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if _peer_closed(self.connection):  # the sender gave up (or died) while we waited: nobody to answer
            self.close_connection = True
            return
        answering = time.time()
        head = [f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}",
                *(f"{name}: {value}" for name, value in reply.headers.items()),
                f"Content-Length: {len(reply.body)}", "Connection: close", "", ""]
        raw = "\r\n".join(head).encode("latin-1") + reply.body
        self.close_connection = True
        try:
            if reply.trickle:  # the whole answer, status line included, one byte at a time
                for byte in raw:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(reply.trickle)
            else:
                self.wfile.write(raw)
                self.wfile.flush()
            received.status, received.answered_at = reply.status, answering
        except OSError:  # the sender gave up (its timeout) and closed: not acknowledged
            pass


def _peer_closed(sock):
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 drops connections under a burst (TCP retransmits: seconds)


class Receiver:
    def __init__(self, script=always_ok, port=0, tls=None):
        """`tls`: (certificate file, key file) to answer https instead of http."""
        self.script = script
        self.requests = []
        self.seen = {}
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", port), _Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.receiver = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path="/hook"):
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def acknowledged(self, path=None):
        """{event id: the first acknowledged Received} (per path, if given)."""
        out = {}
        for r in self.snapshot():
            if r.acknowledged and (path is None or r.path == path) and r.event_id not in out:
                out[r.event_id] = r
        return out


def load_verifier():
    """verify_quorum_signature() exactly as docs/webhooks.md shows it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    code = next(b for b in blocks if "def verify_quorum_signature" in b)
    namespace = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)
    return namespace["verify_quorum_signature"]
