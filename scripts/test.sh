#!/usr/bin/env bash
# The whole suite: lint, migrations in sync, deployment checks, tests on
# PostgreSQL (DATABASE_URL, default local) and Redis (REDIS_URL, default local).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/quorum}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/14}
# The suite and the checks below never read a .env (make run's DEBUG=true would fail check --deploy).
export QUORUM_ENV_FILE=/dev/null

echo "== ruff check"
"$VENV/bin/ruff" check .

echo "== mypy (the modules listed in mypy.ini; docs/testing.md)"
# A cache of its own, so that trying mypy on a module not yet listed (which reports and caches that
# module's errors) never leaks into this check; emptied when mypy.ini changes, because mypy keeps a
# module's cached errors when only another module's options (an ignore_missing_imports section) change.
mypy_cache=.mypy_cache/make-test
mypy_ini_sum=$(cksum < mypy.ini)
if [[ "$(cat "$mypy_cache/mypy.ini.cksum" 2>/dev/null)" != "$mypy_ini_sum" ]]; then
    rm -rf "$mypy_cache"
    mkdir -p "$mypy_cache"
    echo "$mypy_ini_sum" > "$mypy_cache/mypy.ini.cksum"
fi
"$VENV/bin/mypy" --cache-dir "$mypy_cache"

echo "== makemigrations --check"
DJANGO_SETTINGS_MODULE=config.test_settings "$PY" manage.py makemigrations --check --dry-run

echo "== check --deploy (production settings)"
env -u DEBUG SECRET_KEY="deploy-check-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    AUDIT_HMAC_KEYS="deploy:$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    ALLOWED_HOSTS=quorum.example.org SECURE_SSL_REDIRECT=true \
    DJANGO_SETTINGS_MODULE=config.settings "$PY" manage.py check --deploy --fail-level WARNING

echo "== docker-compose config"
if command -v docker-compose >/dev/null 2>&1; then
    # The services read .env (env_file); a checkout without one is checked with .env.example.
    compose_dir=$(mktemp -d)
    cp docker-compose.yml "$compose_dir/"
    cp "$(if [[ -e .env ]]; then echo .env; else echo .env.example; fi)" "$compose_dir/.env"
    docker-compose -f "$compose_dir/docker-compose.yml" config --quiet
    rm -rf "$compose_dir"
else
    echo "docker-compose not installed; skipped (CI installs it)"
fi

echo "== pytest"
"$PY" -m pytest "$@"
