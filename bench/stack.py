"""The system under test: a dedicated database and a gunicorn server, both
on 127.0.0.1. Only processes started here are stopped, by pid."""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psycopg

from .config import RESULTS_DIR, ROOT


class StackError(Exception):
    pass


def app_env(cfg, extra=()):
    """Environment of the Django processes: production settings (DEBUG off)
    on plain HTTP against the bench database and the real Redis limiter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "BENCH_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        SECRET_KEY=_secret_key(),
        # HMAC and anchoring on, as in production (the bench measures what they cost).
        AUDIT_HMAC_KEYS=os.environ.get("AUDIT_HMAC_KEYS") or "bench:bench-only-audit-key-0123456789-abcdefghijkl",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=cfg.db_url,
        REDIS_URL=cfg.redis_url,
        CELERY_BROKER_URL="filesystem://",
        QUORUM_VAR_DIR=str(RESULTS_DIR / "var"),
        LOG_LEVEL="WARNING",
        AUDIT_DISABLED_FOR_BENCHMARK="false",
        PYTHONUNBUFFERED="1",
        # Only these settings: a developer's .env (e.g. make run's DEBUG=true) must not leak in.
        QUORUM_ENV_FILE=os.devnull,
    )
    env.update(dict(extra))
    return env


_SECRET = None


def _secret_key():
    global _SECRET
    if _SECRET is None:
        _SECRET = "bench-" + secrets.token_urlsafe(48)
    return _SECRET


class Database:
    def __init__(self, cfg, python):
        self.cfg = cfg
        self.python = python

    def _admin(self):
        return psycopg.connect(self.cfg.pg_url, autocommit=True)

    def recreate(self, name=None):
        name = name or self.cfg.db_name
        with self._admin() as conn:
            # FORCE ends sessions on this database only: the bench's own, left over from an interrupted run.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    def manage(self, *args, env_extra=()):
        proc = subprocess.run(
            [self.python, "manage.py", *args], cwd=ROOT, env=app_env(self.cfg, env_extra),
            capture_output=True, text=True, timeout=300,
        )
        if proc.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout

    def migrate(self):
        self.manage("migrate", "--noinput", "-v", "0")

    def create_api_client(self, name="bench"):
        out = self.manage("create_api_client", name, "--scopes", "reports:write,cases:read",
                          "--rate", "1000000", "--burst", "1000000")
        key = out.strip().splitlines()[-1].strip()
        if not key.startswith("qrm_"):
            raise StackError(f"could not read the API key from create_api_client:\n{out}")
        with self.connect() as conn:
            row = conn.execute(
                "SELECT c.id, c.source_id FROM integrations_apiclient c WHERE c.name = %s", [name]
            ).fetchone()
        return key, row[0], row[1]

    def install_workflows(self):
        """The default review workflows and routing rules (with the few group
        members publishing requires), as a deployment has them. Returns a
        description; if the application's setup API changed, says so and the
        benchmark goes on without routing rather than failing."""
        proc = subprocess.run([self.python, "-m", "bench.setup_workflows"], cwd=ROOT, env=app_env(self.cfg),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return f"NOT installed ({tail}); new cases are not routed"
        return proc.stdout.strip().splitlines()[-1]

    def connect(self, **kwargs):
        return psycopg.connect(self.cfg.db_url, **kwargs)

    def backend_pids(self):
        with self.connect(autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
                [[self.cfg.db_name, self.cfg.minimal_db_name]]).fetchall()
        return [r[0] for r in rows]

    def prepare_minimal(self, key):
        """The minimal DRF baseline's own database, migrated; the profile env that serves it."""
        self.recreate(self.cfg.minimal_db_name)
        env = {"DJANGO_SETTINGS_MODULE": "bench.minimal_drf.settings", "BENCH_MINIMAL_DATABASE_URL":
               self.cfg.minimal_db_url, "BENCH_MINIMAL_KEY": key}
        proc = subprocess.run([self.python, "-m", "django", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                              env=app_env(self.cfg, env.items()), capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise StackError(f"migrating the minimal DRF app failed:\n{proc.stdout}\n{proc.stderr}")
        return env

    def minimal_reports(self, prefix):
        """Rows the minimal DRF app stored for subjects of `prefix`."""
        with psycopg.connect(self.cfg.minimal_db_url) as conn:
            return conn.execute("SELECT count(*) FROM minimal_drf_report WHERE subject_external_id LIKE %s",
                                [prefix.replace("_", r"\_") + "%"]).fetchone()[0]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _identity(pid):
    """(pid, start time): a pid alone may be reused by an unrelated process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    return pid, int(fields[19])


STARTED = []  # (pid, start time) of every gunicorn master started in this process


def reap_leftovers():
    """Last resort at exit: any master started here that is somehow still
    alive is killed with its workers, by pid and start time only."""
    for pid, start_time in STARTED:
        if _identity(pid) == (pid, start_time):
            victims = [i for i in map(_identity, _children(pid)) if i] + [(pid, start_time)]
            for vpid, vstart in victims:
                if _identity(vpid) == (vpid, vstart):
                    try:
                        os.kill(vpid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


class Server:
    """One gunicorn, bound to 127.0.0.1 on a free port."""

    def __init__(self, cfg, venv):
        self.cfg = cfg
        self.venv = venv
        self.profile = None
        self.proc = None
        self.url = None
        self.worker_pids = []
        self.log_path = None

    def start(self, profile):
        port = free_port()
        self.log_path = RESULTS_DIR / "gunicorn.log"
        cmd = [
            os.path.join(self.venv, "bin", "gunicorn"), profile.wsgi, "--config", os.path.join(ROOT, "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", "--workers", str(profile.workers),
            "--worker-class", profile.worker_class, "--threads", str(profile.threads),
            "--no-control-socket", "--log-level", "warning", "--error-logfile", str(self.log_path),
            "--timeout", "60", "--graceful-timeout", "10",
        ]
        log = open(self.log_path, "a")
        log.write(f"\n== {time.strftime('%H:%M:%S')} starting {profile}\n")
        log.flush()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=app_env(self.cfg, profile.env), stdout=log, stderr=log)
        log.close()
        identity = _identity(self.proc.pid)
        if identity:
            STARTED.append(identity)
        self.profile = profile
        self.url = f"http://127.0.0.1:{port}"
        try:
            return self._wait_ready(profile)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, profile, seconds=120):  # a saturated shared host can take over 30 s to import Django
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                    if resp.status == 200 and len(_children(self.proc.pid)) >= profile.workers:
                        self.worker_pids = [i for i in map(_identity, _children(self.proc.pid)) if i]
                        return self.url
            except OSError:
                pass
            time.sleep(0.2)
        raise StackError(f"gunicorn did not become ready in {seconds} s; see {self.log_path}")

    def pids(self):
        """The master and its current workers (workers may be respawned)."""
        if self.proc is None:
            return []
        return [self.proc.pid, *_children(self.proc.pid)]

    def stop(self):
        if self.proc is None:
            return
        started = set(self.worker_pids) | {i for i in map(_identity, _children(self.proc.pid)) if i}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for pid, start_time in started:  # workers the master failed to stop: ours by pid and start time
            if _identity(pid) == (pid, start_time):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc = None
        self.profile = None
        self.url = None
        self.worker_pids = []


def log(message):
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()
