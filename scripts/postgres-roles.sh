#!/usr/bin/env bash
# Creates Quorum's two PostgreSQL roles (docs/security.md):
#   quorum_owner  owns the database and every table; `migrate` runs as it
#   quorum_app    what the application connects as; owns nothing; migrate
#                 grants it plain data access, and only SELECT and INSERT on
#                 the audit events and checkpoints
# docker-compose.yml mounts it into /docker-entrypoint-initdb.d, so the
# postgres image runs it once, as the superuser, when it creates the data
# directory. On an existing server run it yourself as a superuser:
#   PGHOST=… PGUSER=postgres POSTGRES_DB=quorum QUORUM_OWNER_PASSWORD=… QUORUM_APP_PASSWORD=… \
#     bash scripts/postgres-roles.sh
# It is idempotent (re-running sets the passwords again).
set -euo pipefail
: "${QUORUM_OWNER_PASSWORD:?set QUORUM_OWNER_PASSWORD}"
: "${QUORUM_APP_PASSWORD:?set QUORUM_APP_PASSWORD}"
DB=${POSTGRES_DB:-quorum}
OWNER=${QUORUM_OWNER_ROLE:-quorum_owner}
APP=${QUORUM_APP_ROLE:-quorum_app}

psql -v ON_ERROR_STOP=1 --dbname "$DB" \
    -v owner="$OWNER" -v app="$APP" -v db="$DB" \
    -v owner_password="$QUORUM_OWNER_PASSWORD" -v app_password="$QUORUM_APP_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', :'owner')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', :'app')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" PASSWORD :'owner_password';
ALTER ROLE :"app" PASSWORD :'app_password';
ALTER DATABASE :"db" OWNER TO :"owner";
-- PostgreSQL 15 makes the database owner the owner of schema public; older
-- versions let everyone create there.
ALTER SCHEMA public OWNER TO :"owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
GRANT USAGE ON SCHEMA public TO :"app";
SQL
echo "postgres-roles.sh: roles $OWNER (owner) and $APP (application) ready in database $DB"
