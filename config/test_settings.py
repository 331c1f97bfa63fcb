"""Settings for the test suite: PostgreSQL and Redis, production-like
security settings except TLS redirects (the test client speaks plain HTTP)."""

import os
import re

# The suite never reads a developer's .env (config/env.py load_env_file).
os.environ.setdefault("QUORUM_ENV_FILE", os.devnull)
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/quorum")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-django-checks-0123456789")
# An audit key for the tests (production requires AUDIT_HMAC_KEYS or AUDIT_HMAC_KEY_FILE).
os.environ.setdefault("AUDIT_HMAC_KEYS", "test1:test-only-audit-key-0123456789abcdefghijklmnop")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Tests change counts and look again at once; tests/console/test_work.py covers the shared counts.
os.environ.setdefault("CONSOLE_COUNTS_CACHE_SECONDS", "0")
os.environ.setdefault("TRUST_FLAGGER_FIGURES_CACHE_SECONDS", "0")
# Every test client comes from 127.0.0.1, and suites that probe authentication (schemathesis)
# send hundreds of invalid keys; tests/security/test_client_ip.py sets its own small bucket.
os.environ.setdefault("API_FAILED_AUTH_BURST", "1000000")
# Most tests decide cases without configuring the DSA mappings, so every restricting decision's statement is
# held; with the production default they would never see a decision in the feed or a webhook. The tests of the
# hold itself (tests/dsa/test_publication.py, test_reversals.py) switch it on.
os.environ.setdefault("DSA_HOLD_DECISIONS", "false")

from .settings import *  # noqa: E402,F403

# Password hashing is deliberately slow; tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Least privilege in the tests too (docs/security.md): the suite logs in as an
# owner role derived from the database name (it creates the test database and
# runs the migrations) and then acts as the application role, which may only
# read and insert on the audit tables (`SET ROLE`, Django's assume_role).
# tests/dbroles.py creates both roles with the login of DATABASE_URL (a
# superuser locally) and switches to the owner only to empty tables between
# tests and to tamper on purpose. Production connects as the application role
# directly; SET ROLE is a test convenience, not a boundary.
if DATABASES["default"]["ENGINE"] in ("django.db.backends.postgresql", "config.db"):  # noqa: F405
    _db = DATABASES["default"]  # noqa: F405
    TEST_DB_ADMIN = {key: _db[key] for key in ("USER", "PASSWORD", "HOST", "PORT")}
    # A subprocess handed the test database's URL (test_<name>) finds the same roles.
    _roles_base = re.sub(r"[^a-z0-9_]", "_", _db["NAME"].lower().removeprefix("test_"))[:40]
    DATABASE_OWNER_ROLE = f"{_roles_base}_owner"
    DATABASE_APP_ROLE = f"{_roles_base}_app"
    _db["USER"], _db["PASSWORD"] = DATABASE_OWNER_ROLE, ""
    _db.setdefault("OPTIONS", {})["assume_role"] = DATABASE_APP_ROLE
