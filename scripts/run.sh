#!/usr/bin/env bash
# `make run`: the whole system on one machine. Migrates, loads the demo data,
# then runs the web server, a Celery worker and Celery beat until Ctrl-C (or
# SIGTERM/SIGHUP), which stops all three.
#
# Embedded defaults (SQLite and a file-based Celery broker under
# $QUORUM_VAR_DIR, default ./var) unless DATABASE_URL / CELERY_BROKER_URL are
# set. DEBUG defaults to true here. PORT (default 8000) is the web port.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
CELERY="$VENV/bin/celery"
if [[ ! -x $PY || ! -x $CELERY ]]; then
    echo "run.sh: no virtualenv with the requirements at $VENV; start with 'make run'" >&2
    exit 1
fi

export DEBUG=${DEBUG:-true}
export PYTHONUNBUFFERED=1
export QUORUM_VAR_DIR=${QUORUM_VAR_DIR:-$PWD/var}
mkdir -p "$QUORUM_VAR_DIR"
QUORUM_VAR_DIR=$(cd "$QUORUM_VAR_DIR" && pwd)
PORT=${PORT:-8000}
if [[ ! $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    echo "run.sh: PORT=$PORT is not a TCP port number" >&2
    exit 2
fi
if ! "$PY" - "$PORT" <<'EOF'; then
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
EOF
    echo "run.sh: port $PORT on 127.0.0.1 is in use; choose another one, e.g. 'PORT=8001 make run'" >&2
    exit 1
fi

mask() { sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#'; }
echo "== Quorum (DEBUG=$DEBUG)"
echo "   database: $(if [[ -n ${DATABASE_URL:-} ]]; then echo "$DATABASE_URL" | mask; else echo "SQLite $QUORUM_VAR_DIR/quorum.sqlite3"; fi)"
echo "   broker:   $(if [[ -n ${CELERY_BROKER_URL:-} ]]; then echo "$CELERY_BROKER_URL" | mask; else echo "files under $QUORUM_VAR_DIR/celery-broker"; fi)"

echo "== migrate"
# On PostgreSQL with least privilege (docs/security.md): DATABASE_URL is the
# application role, DATABASE_OWNER_URL the owner that migrations run as (and
# DATABASE_APP_ROLE the role they grant to). Without DATABASE_OWNER_URL one
# URL does both, as on SQLite.
if [[ -n ${DATABASE_OWNER_URL:-} ]]; then
    DATABASE_URL=$DATABASE_OWNER_URL "$PY" manage.py migrate --noinput
else
    "$PY" manage.py migrate --noinput
fi
if [[ ${DATABASE_URL:-} == postgres* ]]; then
    # Warns (quorum.W001) when the application connects as an owner or superuser.
    "$PY" manage.py check --database default
fi
echo "== demo data"
"$PY" manage.py load_demo_data

# Each process runs in its own session (so its own process group): stopping
# a group also stops what the process started (runserver's autoreloader
# child, Celery's pool), and Ctrl-C reaches only this script, which then
# stops everything in order instead of the terminal signalling all at once.
pids=()
names=()
start() {
    local name=$1
    shift
    "$PY" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' "$@" &
    pids+=("$!")
    names+=("$name")
    echo "== started $name (pid $!)"
}

alive() {
    local pid
    for pid in "${pids[@]}"; do
        if kill -0 -- "-$pid" 2>/dev/null; then
            return 0
        fi
    done
    return 1
}

stopped=0
stop() {
    ((stopped)) && return 0
    stopped=1
    trap 'force=1' INT TERM HUP
    force=0
    local pid deadline=$((SECONDS + 20))
    if ((${#pids[@]})); then
        echo "== stopping ${names[*]} (Ctrl-C again to kill at once)"
        for pid in "${pids[@]}"; do
            kill -TERM -- "-$pid" 2>/dev/null || true
        done
        while alive && ((SECONDS < deadline && !force)); do
            sleep 0.2 &
            wait $! 2>/dev/null || true
        done
        for pid in "${pids[@]}"; do
            kill -KILL -- "-$pid" 2>/dev/null || true
        done
        wait 2>/dev/null || true
        echo "== stopped"
    fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop; exit 129' HUP
trap 'stop' EXIT

start web "$PY" manage.py runserver "127.0.0.1:$PORT"
# Solo pool: one task at a time is plenty locally and works with SQLite. The
# file broker has no fanout, hence no gossip/mingle/heartbeat.
start worker "$CELERY" -A config worker --pool solo --concurrency 1 --loglevel INFO -n "quorum-worker@%h" \
    --without-gossip --without-mingle --without-heartbeat
start beat "$CELERY" -A config beat --loglevel INFO -s "$QUORUM_VAR_DIR/celerybeat-schedule"

# Wait for the web server, then say where everything is.
ready=0
for _ in $(seq 1 120); do
    if "$PY" - "$PORT" <<'EOF' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=1).read()
EOF
        ready=1
        break
    fi
    kill -0 "${pids[0]}" 2>/dev/null || break
    sleep 0.5 &
    wait $! || true
done
if ((!ready)); then
    echo "run.sh: the web server did not come up on 127.0.0.1:$PORT" >&2
    exit 1
fi
key_file="$QUORUM_VAR_DIR/demo-api-key.txt"
key=$(cat "$key_file" 2>/dev/null || echo "(missing: see the load_demo_data output above)")
cat <<EOF

========================================================================
 Quorum is running (Ctrl-C stops the web server, worker and beat)
   console    http://127.0.0.1:$PORT/   (moderators, seniors, auditors: logins listed above)
   admin      http://127.0.0.1:$PORT/admin/
   API docs   http://127.0.0.1:$PORT/api/docs/
   health     http://127.0.0.1:$PORT/healthz
   demo API key (client demo-platform):
     $key
   try:
     curl -X POST http://127.0.0.1:$PORT/api/v1/reports -H "Authorization: Bearer $key" \\
       -H "Content-Type: application/json" \\
       -d '{"subject": {"kind": "content", "external_id": "post-1", "text": "buy now"}, "policy": "spam"}'
========================================================================

EOF

# Run until a signal arrives (the traps stop everything) or a process dies.
while :; do
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "run.sh: ${names[$i]} (pid ${pids[$i]}) exited; stopping the others" >&2
            stop
            exit 1
        fi
    done
    sleep 1 &
    wait $! || true
done
