"""Settings for the test suite: PostgreSQL and Redis, production-like
security settings except TLS redirects (the test client speaks plain HTTP)."""

import os

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

from .settings import *  # noqa: E402,F403

# Password hashing is deliberately slow; tests create many users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
