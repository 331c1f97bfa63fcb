#!/usr/bin/env bash
# `make bench`: throughput of report intake on the running stack (PostgreSQL
# and Redis on 127.0.0.1), beside a raw-SQL baseline measured in the same run.
# See BENCHMARKS.md. Knobs: BENCH_* environment variables (bench/config.py).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk (Debian package)"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -qq wrk >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null; }
fi
if [ -s bench/requirements.txt ]; then
    "$PY" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
fi

PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if ! "$PY" -c "import psycopg, sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$PG_URL" 2>/dev/null; then
    echo "bench: PostgreSQL is not reachable at $PG_URL (start the stack first)" >&2
    exit 1
fi

status=0
"$PY" -m bench "$@" || status=$?

# The review-process benchmark (claims, votes, SLA sweeps over 1M open cases)
# takes about 5 more minutes; BENCH_REVIEW=0 skips it.
if [ "${BENCH_REVIEW:-1}" = 1 ]; then
    "$PY" -m bench.review_bench || status=$?
fi

# Webhook deliveries to a local receiver with 8 endpoints, and decision →
# receipt latency (about a minute); BENCH_WEBHOOKS=0 skips it.
if [ "${BENCH_WEBHOOKS:-1}" = 1 ]; then
    "$PY" -m bench.webhooks || status=$?
fi
# Console pages (case page, queue list) with 1M cases, server time beside the
# same SELECTs replayed on plain psycopg (a few minutes); BENCH_CONSOLE=0 skips it.
if [ "${BENCH_CONSOLE:-1}" = 1 ]; then
    "$PY" -m bench.console_bench || status=$?
fi
# DSA statements (queries to build and validate, submission throughput) and the trusted flaggers' figures, each
# beside a baseline measured in the same run, on its own database (about a minute); BENCH_DSA=0 skips it.
if [ "${BENCH_DSA:-1}" = 1 ]; then
    "$PY" -m bench.dsa_bench || status=$?
fi
exit $status
