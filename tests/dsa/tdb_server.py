"""A local stand-in for the Commission's DSA Transparency Database API on
127.0.0.1: the documented endpoints, bearer auth, its own (independent)
check of the required fields and enumerations, puid uniqueness per platform,
and scripted trouble (422, 429, 500, dropped connections) before or after
storing."""

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dsa import vocabulary as v

REQUIRED = ("decision_ground", "content_type", "category", "content_date", "application_date", "decision_facts",
            "source_type", "automated_detection", "automated_decision", "puid", "territorial_scope")
ENUMS = {"decision_ground": v.DECISION_GROUND, "category": v.CATEGORY, "source_type": v.SOURCE_TYPE,
         "automated_decision": v.AUTOMATED_DECISION, "decision_account": v.DECISION_ACCOUNT,
         "decision_provision": v.DECISION_PROVISION, "decision_monetary": v.DECISION_MONETARY}
LISTS = {"decision_visibility": v.DECISION_VISIBILITY, "content_type": v.CONTENT_TYPE,
         "territorial_scope": v.EEA_COUNTRIES, "category_specification": v.CATEGORY_SPECIFICATION}


def check(statement):
    errors = {}
    for name in REQUIRED:
        if statement.get(name) in (None, "", []):
            errors[name] = [f"The {name} field is required."]
    for name, allowed in ENUMS.items():
        if statement.get(name) is not None and statement[name] not in allowed:
            errors[name] = [f"The selected {name} is invalid."]
    for name, allowed in LISTS.items():
        if statement.get(name) is not None and not set(statement[name]) <= set(allowed):
            errors[name] = [f"The selected {name} is invalid."]
    if not any(statement.get(n) for n in ("decision_visibility", "decision_monetary", "decision_provision",
                                          "decision_account")):
        errors["decision_visibility"] = ["The decision visibility field is required when none of decision "
                                         "monetary / decision provision / decision account are present."]
    if statement.get("automated_detection") not in ("Yes", "No"):
        errors["automated_detection"] = ["The selected automated detection is invalid."]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,500}", str(statement.get("puid", ""))):
        errors["puid"] = ["The puid format is invalid."]
    if len(str(statement.get("decision_facts", ""))) > 5000:
        errors["decision_facts"] = ["The decision facts field must not be greater than 5000 characters."]
    return errors


class FakeTransparencyDatabase:
    def __init__(self, token="tdb-token"):
        self.token = token
        self.lock = threading.Lock()
        self.stored = {}  # puid -> statement
        self.store_counts = Counter()
        self.arrival = []  # puids in the order they were stored
        self.script = []  # faults for the next POSTs, one per request
        self.refuse = set()  # puids answered 422 as invalid (in a batch: statement_N)
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                match = re.fullmatch(r"/api/v1/statement/existing-puid/([A-Za-z0-9_-]+)", self.path)
                if not self._authorised() or not match:
                    return
                with server.lock:
                    known = server.stored.get(match.group(1))
                self._answer(302 if known else 404, known or {"message": "statement of reason not found"})

            def do_POST(self):
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    fault = server.script.pop(0) if server.script else "ok"
                    server.requests.append((self.path, fault))
                if fault == "drop_before":
                    self.connection.shutdown(2)
                    return
                if fault in ("429", "500"):
                    return self._answer(int(fault), {"message": "trouble"}, retry_after="0" if fault == "429" else None)
                if self.path == "/api/v1/statements":
                    status, answer = server.store_many(body.get("statements"))
                elif self.path == "/api/v1/statement":
                    status, answer = server.store_many([body], single=True)
                else:
                    status, answer = 404, {"message": "not found"}
                if status == 201 and fault == "drop_after":
                    self.connection.shutdown(2)
                    return
                if status == 201 and fault == "500_after":
                    return self._answer(500, {"message": "stored, but the answer failed"})
                self._answer(status, answer)

            def _authorised(self):
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._answer(401, {"message": "Unauthenticated."})
                    return False
                return True

            def _answer(self, status, body, retry_after=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda request, address: None  # dropped connections are the point
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def store_many(self, statements, single=False):
        if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
            return 422, {"errors": {"statements": ["The statements field must have between 1 and 100 items."]}}
        errors = {}
        for index, statement in enumerate(statements):
            problems = check(statement)
            if statement.get("puid") in self.refuse:
                problems["category"] = ["Refused by the test server."]
            if problems:
                errors[f"statement_{index}"] = problems
        if errors:
            return 422, {"errors": errors if not single else errors["statement_0"]}
        puids = [s["puid"] for s in statements]
        with self.lock:
            existing = [p for p in puids if p in self.stored]
            if existing:
                if single:
                    return 422, {"message": "The identifier given is not unique within this platform.",
                                 "errors": {"puid": ["The identifier given is not unique within this platform."]},
                                 "existing": self.stored[existing[0]]}
                return 422, {"message": "the platform identifier(s) given are not all unique within this platform.",
                             "errors": {"puid": ["the platform identifier(s) are not all unique within this "
                                                 "platform."], "existing_puids": existing}}
            out = []
            for statement in statements:
                self.stored[statement["puid"]] = statement
                self.store_counts[statement["puid"]] += 1
                self.arrival.append(statement["puid"])
                out.append({**statement, "uuid": f"uuid-{len(self.arrival)}"})
        return 201, (out[0] if single else {"statements": out})

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
