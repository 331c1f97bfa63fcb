#!/usr/bin/env bash
# `make run`: the whole system on one machine. Migrates, loads the demo data,
# then runs the web server, a Celery worker and Celery beat until Ctrl-C (or
# SIGTERM/SIGHUP), which stops all three.
#
# Embedded defaults (SQLite and a file-based Celery broker under
# $QUORUM_VAR_DIR, default ./var) unless DATABASE_URL / CELERY_BROKER_URL are
# set (in the environment or in .env). DEBUG defaults to true here. PORT
# (default 8000) is the web port.
#
# Without a .env it writes one (DEBUG=true, plus whichever of DATABASE_URL,
# CELERY_BROKER_URL, REDIS_URL and QUORUM_VAR_DIR are set now): every Quorum
# process reads .env, so the README's manage.py commands work in a new shell.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
CELERY="$VENV/bin/celery"
if [[ ! -x $PY || ! -x $CELERY ]]; then
    echo "run.sh: no virtualenv with the requirements at $VENV; start with 'make run'" >&2
    exit 1
fi

# What the caller set, before anything below sets it (the banner compares them with .env).
given=()
for name in DATABASE_URL CELERY_BROKER_URL REDIS_URL QUORUM_VAR_DIR; do
    if [[ -n ${!name:-} ]]; then
        given+=("$name")
    fi
done
if [[ ! -e .env ]]; then
    {
        echo "# Written by \`make run\` for local development; every Quorum process (manage.py,"
        echo "# the web server, Celery) reads it, the process environment wins over it."
        echo "# All settings: .env.example. Never DEBUG=true in production."
        echo "DEBUG=${DEBUG:-true}"
        for name in "${given[@]}"; do
            echo "$name=${!name}"
        done
    } >.env
    echo "== wrote .env: $(grep -E '^[A-Z_]+=' .env | cut -d= -f1 | paste -sd' ' -)"
fi
export DEBUG=${DEBUG:-true}
export PYTHONUNBUFFERED=1
# Where the settings put local state (the environment, then .env, then ./var).
QUORUM_VAR_DIR=$("$PY" -c 'import config.settings as s; print(s.VAR_DIR)')
mkdir -p "$QUORUM_VAR_DIR"
QUORUM_VAR_DIR=$(cd "$QUORUM_VAR_DIR" && pwd)
export QUORUM_VAR_DIR
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

echo "== Quorum (DEBUG=$DEBUG)"
# Names the database and broker; creates a PostgreSQL database that does not
# exist yet; otherwise says in one line what is wrong.
"$PY" scripts/ensure_database.py

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
# The demo images (static/demo/) are served by this server: file a report that shows them and allow
# this origin as a media host, so the console's blurred media can be seen (unless .env chose origins).
export QUORUM_ORIGIN="http://127.0.0.1:$PORT"
if [[ -z ${CONSOLE_MEDIA_ORIGINS:-} ]] && ! grep -qs '^CONSOLE_MEDIA_ORIGINS=.' .env; then
    export CONSOLE_MEDIA_ORIGINS=$QUORUM_ORIGIN
fi
demo=$("$PY" manage.py load_demo_data --no-color --media-origin "$QUORUM_ORIGIN")
echo "$demo"

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

# Wait until the web server answers and the worker and beat have run the
# sweeps (/readyz), so that the banner comes after their start-up output.
ready=0
for _ in $(seq 1 240); do
    set +e
    "$PY" - "$PORT" <<'EOF' 2>/dev/null
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2).read()
except urllib.error.HTTPError as exc:
    sys.exit(3 if exc.code == 400 else 1)
EOF
    probe=$?
    set -e
    if ((probe == 0)); then
        ready=1
        break
    elif ((probe == 3)); then
        echo "run.sh: the web server refuses the host 127.0.0.1 (HTTP 400): ALLOWED_HOSTS (in .env or the" \
            "environment) must include 127.0.0.1, or be left unset with DEBUG=true" >&2
        exit 1
    fi
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "run.sh: ${names[$i]} (pid ${pids[$i]}) exited during start-up; stopping the others" >&2
            exit 1
        fi
    done
    sleep 0.5 &
    wait $! || true
done
if ((!ready)); then
    echo "run.sh: http://127.0.0.1:$PORT/readyz did not answer 200 within 2 minutes (see the output above)" >&2
    exit 1
fi
key_file="$QUORUM_VAR_DIR/demo-api-key.txt"
key=$(cat "$key_file" 2>/dev/null || echo "(missing: see the load_demo_data output above)")
logins=$(printf '%s\n' "$demo" | sed -n '/^Demo logins/,/^Demo API client/p' | sed '1d;$d')
cat <<EOF

========================================================================
 Quorum is running (Ctrl-C stops the web server, worker and beat)
   console    http://127.0.0.1:$PORT/
   admin      http://127.0.0.1:$PORT/admin/
   API docs   http://127.0.0.1:$PORT/api/docs/
   readiness  http://127.0.0.1:$PORT/readyz
 demo logins (user, role, password):
$logins
 demo API key (client demo-platform):
     $key
 try:
     curl -X POST http://127.0.0.1:$PORT/api/v1/reports -H "Authorization: Bearer $key" \\
       -H "Content-Type: application/json" \\
       -d '{"subject": {"kind": "content", "external_id": "post-1", "text": "buy now"}, "policy": "spam"}'
 manage.py commands work from this directory in any shell: they read .env
 ($(grep -E '^[A-Z_]+=' .env 2>/dev/null | cut -d= -f1 | paste -sd' ' -)).
EOF
for name in "${given[@]}"; do
    if ! grep -qxF "$name=${!name}" .env 2>/dev/null; then
        echo " This run's $name is not the one in .env; in another shell first:  export $name='${!name}'"
    fi
done
echo "========================================================================"
echo

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
