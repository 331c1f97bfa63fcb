"""Real processes for integration tests: Celery workers and beats, a private
redis-server and a private PostgreSQL instance.

Every process is started in a session of its own, so its process group is
its pid; stopping or killing signals that group and nothing else (never by
name), so tests running next to other people's processes touch only theirs.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout, what, interval=0.1, details=None):
    """Polls `predicate` until it returns something truthy (and returns it);
    fails with `what` and `details()` (e.g. process logs) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{details()}" if details else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


class Process:
    """One child process in its own process group, output to a log file."""

    def __init__(self, args, *, name, env=None, log_path, cwd=ROOT):
        self.name = name
        self.args = [str(a) for a in args]
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.args, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def _signal_group(self, sig):
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, timeout=10):
        """SIGKILL to the whole group (a worker and its pool children)."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=timeout)
        self._close_log()

    def stop(self, timeout=15):
        """SIGTERM to the group; SIGKILL to it if it has not exited in time."""
        if self.alive():
            self._signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group (pool children of a leader that died).
        self._signal_group(signal.SIGKILL)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._close_log()

    def _close_log(self):
        if not self._log.closed:
            self._log.close()

    def connected_to(self, broker_url):
        """True when this Celery process's log says it connected to the broker
        of `broker_url` (scheme and, for RabbitMQ, the virtual host)."""
        scheme, _, rest = broker_url.partition("://")
        vhost = rest.rpartition("/")[2]
        text = self.log_path.read_text(errors="replace")
        return any(line for line in text.splitlines() if f"Connected to {scheme}://" in line and line.endswith(vhost))

    def output(self, tail=6000):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-tail:]


class Processes:
    """The processes one test started; `stop_all` stops them, newest first."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.started = []

    def start(self, args, *, name, env=None):
        log = self.dir / f"{name}-{len(self.started)}.log"
        process = Process(args, name=name, env=env, log_path=log)
        self.started.append(process)
        return process

    def celery_env(self, *, database_url, broker_url, redis_url=None, **extra):
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=database_url, CELERY_BROKER_URL=broker_url,
            REDIS_URL=redis_url or broker_url, QUORUM_VAR_DIR=str(self.dir / "var"), LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update({key: str(value) for key, value in extra.items()})
        return env

    def worker(self, env, *, name="worker", pool="solo", concurrency=1):
        return self.start(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", pool, "--concurrency", concurrency,
             "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "-n", f"{name}-{len(self.started)}-{os.getpid()}@localhost"],
            name=name, env=env)

    def beat(self, env, *, name="beat"):
        return self.start(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "INFO",
             "-s", self.dir / f"{name}-schedule", "--pidfile", self.dir / f"{name}.pid"],
            name=name, env=env)

    def stop_all(self):
        for process in reversed(self.started):
            process.stop()

    def logs(self):
        return "\n".join(f"----- {p.name} (pid {p.pid}, {p.log_path.name}) -----\n{p.output()}" for p in self.started)


class RedisServer:
    """A throwaway redis-server without persistence, on a fixed free port so
    that it can be stopped and started again at the same address."""

    def __init__(self, directory, port=None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process = None
        self.runs = 0

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout=60):
        self.runs += 1
        self.process = Process(
            ["redis-server", "--port", self.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--protected-mode", "no"],
            name="redis", log_path=self.dir / f"redis-{self.runs}.log")
        wait_for(self.ping, timeout=timeout, what=f"redis-server on port {self.port}", details=self.process.output)
        return self

    def client(self, db=0):
        import redis

        return redis.Redis.from_url(self.url(db), socket_timeout=2, socket_connect_timeout=2)

    def ping(self):
        import redis

        try:
            return self.client().ping()
        except redis.RedisError:
            return False

    def stop(self):
        if self.process is not None:
            self.process.stop(timeout=10)
            self.process = None


class RabbitVhost:
    """A private virtual host on the RabbitMQ server at 127.0.0.1:5672 (user
    guest), created with rabbitmqctl and deleted at the end, so that no other
    worker on that server takes this test's tasks, nor its worker theirs."""

    def __init__(self):
        self.name = f"quorum-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    @staticmethod
    def _ctl(*args):
        result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}")

    def create(self):
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        return self

    def url(self):
        return f"amqp://guest:guest@127.0.0.1:5672/{self.name}"

    def delete(self):
        self._ctl("delete_vhost", self.name)


class PostgresInstance:
    """A throwaway PostgreSQL 15 cluster in a temporary directory, run as the
    `postgres` OS user (the server refuses to run as root)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="quorum-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.dir, user="postgres", group="postgres")

    def _run(self, *args, timeout=60):
        command = [str(a) for a in args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.dir,
                                stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n"
                               f"{self.server_log()}")
        return result.stdout

    def init(self):
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        return self

    def base_backup_of(self, primary):
        """Makes this instance a streaming replica of `primary` (pg_basebackup -R:
        standby.signal and primary_conninfo written for it); start() it afterwards."""
        self._run(PG_BIN / "pg_basebackup", "-h", "127.0.0.1", "-p", primary.port, "-U", "postgres", "-D", self.data,
                  "-R", "-X", "stream", "-c", "fast", timeout=120)
        return self

    def start(self):
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", options, "start")
        return self

    def restart(self):
        """A fast restart: every open connection is terminated."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-m", "fast", "restart")

    def postmaster_pid(self):
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        """Immediate stop, then removes the directory."""
        if self.data.exists() and self.postmaster_pid():
            try:
                self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "30", "stop", timeout=40)
            except (RuntimeError, subprocess.TimeoutExpired):
                pid = self.postmaster_pid()
                if pid:
                    try:
                        os.kill(pid, signal.SIGQUIT)  # the postmaster we started: immediate shutdown
                    except ProcessLookupError:
                        pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, dbname="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname="postgres", **kwargs):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, connect_timeout=5,
                               **kwargs)

    def create_database(self, name):
        with self.connect(autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def server_log(self, tail=4000):
        try:
            return self.log.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


def manage(*args, env, timeout=120):
    """Runs `manage.py <args>` to completion; returns its stdout."""
    result = subprocess.run([sys.executable, "manage.py", *[str(a) for a in args]], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(map(str, args))} failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result.stdout


# ---- fixtures for tests that run Celery processes (import them into the test module) -----------------------

def database_url():
    """The URL of the test database, for a subprocess (the owner login the suite uses)."""
    from django.db import connection

    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def redis_server(tmp_path):
    """A private redis-server (broker of the test's workers)."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def procs(transactional_db, tmp_path, redis_server):
    """The test's processes, stopped before the database is flushed."""
    processes = Processes(tmp_path / "procs")
    yield processes
    processes.stop_all()
