"""Benchmark knobs. Every one can be overridden from the environment
(BENCH_<NAME>), parsed strictly; the defaults keep `make bench` under about
three minutes on a 2-core machine."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
LUA_DIR = BENCH_DIR / "lua"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class ConfigError(Exception):
    pass


def _int(name, default, minimum=1):
    raw = os.environ.get(f"BENCH_{name}")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"BENCH_{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"BENCH_{name} must be at least {minimum}")
    return value


def _str(name, default):
    return os.environ.get(f"BENCH_{name}") or default


def _local_url(name, default):
    url = _str(name, default)
    host = urlsplit(url).hostname
    if host not in LOCAL_HOSTS:
        raise ConfigError(f"BENCH_{name} must point at 127.0.0.1 (got host {host!r}): the benchmark only loads this machine")
    return url


@dataclass(frozen=True)
class ServerProfile:
    """How gunicorn runs; a scenario asks for one and the runner (re)starts
    gunicorn only when it differs from the running one."""

    worker_class: str = "sync"
    workers: int = 2
    threads: int = 1
    env: tuple = ()  # extra (NAME, value) pairs for the app, e.g. the audit switch
    wsgi: str = "config.wsgi"  # bench.minimal_drf.wsgi for the minimal DRF baseline

    def label(self):
        if self.worker_class == "gthread":
            text = f"gthread {self.workers}×{self.threads}"
        else:
            text = f"{self.worker_class} ×{self.workers}"
        if dict(self.env).get("AUDIT_DISABLED_FOR_BENCHMARK") == "true":
            text += ", audit off"
        if self.wsgi != "config.wsgi":
            text += ", minimal DRF app"
        return text

    def with_env(self, **extra):
        merged = dict(self.env)
        merged.update(extra)
        return ServerProfile(self.worker_class, self.workers, self.threads, tuple(sorted(merged.items())), self.wsgi)

    def with_app(self, wsgi):
        return ServerProfile(self.worker_class, self.workers, self.threads, self.env, wsgi)


@dataclass(frozen=True)
class Config:
    db_name: str = field(default_factory=lambda: _str("DB_NAME", "quorum_bench"))
    pg_url: str = field(default_factory=lambda: _local_url("PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    redis_url: str = field(default_factory=lambda: _local_url("REDIS_URL", "redis://127.0.0.1:6379/12"))
    # install the default review workflows, so that intake routes each new case to its first stage
    workflows: int = field(default_factory=lambda: _int("WORKFLOWS", 1, minimum=0))
    # HTTP scenarios (wrk)
    duration: int = field(default_factory=lambda: _int("DURATION", 12))
    warmup: int = field(default_factory=lambda: _int("WARMUP", 2))
    connections: int = field(default_factory=lambda: _int("CONNECTIONS", 16))
    wrk_threads: int = field(default_factory=lambda: _int("WRK_THREADS", 2))
    hot_subjects: int = field(default_factory=lambda: _int("HOT_SUBJECTS", 10))
    batch_size: int = field(default_factory=lambda: _int("BATCH_SIZE", 500))
    batch_connections: int = field(default_factory=lambda: _int("BATCH_CONNECTIONS", 4))
    # A/B comparisons (audit on/off, worker models): pairs of alternating slices of this many seconds
    ab_pairs: int = field(default_factory=lambda: _int("AB_PAIRS", 3))
    ab_seconds: int = field(default_factory=lambda: _int("AB_SECONDS", 5))
    # raw-SQL baseline, measured in slices between the load scenarios
    sql_threads: int = field(default_factory=lambda: _int("SQL_THREADS", 8))
    sql_slice_seconds: int = field(default_factory=lambda: _int("SQL_SLICE_SECONDS", 3))
    sql_slice_reports: int = field(default_factory=lambda: _int("SQL_SLICE_REPORTS", 8000))
    # in-process statement and time breakdown
    profile_requests: int = field(default_factory=lambda: _int("PROFILE_REQUESTS", 200))
    # gunicorn: the default profile, and the alternative the worker scenario compares it with
    # sync ×2 measured best on 2 cores (BENCHMARKS.md, "Choosing the gunicorn workers")
    server: ServerProfile = field(default_factory=lambda: ServerProfile(
        _str("WORKER_CLASS", "sync"), _int("WORKERS", 2), _int("THREADS", 1)))
    alt_server: ServerProfile = field(default_factory=lambda: ServerProfile(
        _str("ALT_WORKER_CLASS", "gthread"), _int("ALT_WORKERS", 2), _int("ALT_THREADS", 4)))
    only: tuple = field(default_factory=lambda: tuple(s for s in _str("SCENARIOS", "").split(",") if s))

    def __post_init__(self):
        for profile in (self.server, self.alt_server):
            if profile.worker_class not in {"sync", "gthread"}:
                raise ConfigError(f"worker class {profile.worker_class!r}: use sync or gthread")
        if not self.db_name.replace("_", "").isalnum() or not self.db_name.startswith("quorum_bench"):
            raise ConfigError("BENCH_DB_NAME must start with quorum_bench and be a plain identifier (it is dropped)")

    @property
    def db_url(self):
        parts = urlsplit(self.pg_url)
        return parts._replace(path=f"/{self.db_name}").geturl()

    @property
    def minimal_db_name(self):
        return f"{self.db_name}_minimal"

    @property
    def minimal_db_url(self):
        parts = urlsplit(self.pg_url)
        return parts._replace(path=f"/{self.minimal_db_name}").geturl()
