"""A real gunicorn for the security tests, on the test's database, in a
process group of its own (stopped by its pid, never by name)."""

import os
import sys
import urllib.request
from contextlib import contextmanager

from django.db import connection

from tests.processes import Process, free_port, wait_for


@contextmanager
def running_gunicorn(tmp_path, *, workers=1, env=None):
    """Yields the port of a gunicorn serving config.wsgi with `workers` sync
    workers (gunicorn.conf.py applies: multiprocess metrics), `env` added."""
    port = free_port()
    full_env = dict(os.environ)
    db = connection.settings_dict
    full_env.update({
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "QUORUM_VAR_DIR": str(tmp_path),
        **(env or {}),
    })
    server = Process([os.path.join(sys.prefix, "bin", "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}",
                      "--workers", str(workers), "--no-control-socket", "--timeout", "120"],
                     name="gunicorn", env=full_env, log_path=tmp_path / "gunicorn.log")

    def ready():
        if not server.alive():
            raise AssertionError(f"gunicorn exited:\n{server.output()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_for(ready, timeout=120, what="gunicorn to answer /healthz", details=server.output)
        yield port
    finally:
        server.stop()
