# Quorum application image: the web server (gunicorn), the Celery worker and
# Celery beat all run from it (see docker-compose.yml). Configuration comes
# from the environment at run time (.env.example); nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    QUORUM_VAR_DIR=/app/var

RUN groupadd --system --gid 10001 quorum \
    && useradd --system --uid 10001 --gid quorum --home-dir /app --no-create-home --shell /usr/sbin/nologin quorum

WORKDIR /app
# Dependencies first, so that a code change does not reinstall them.
# psycopg-binary bundles libpq: no system packages are needed.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY --chown=quorum:quorum . .
USER quorum

# Static files (admin, Swagger UI from drf-spectacular-sidecar) into
# $QUORUM_VAR_DIR/static. The settings need a SECRET_KEY to load; this one
# exists only for this build step and is never used at run time.
RUN SECRET_KEY=collectstatic-only-build-time-placeholder-0000000000000000 \
    DATABASE_URL=sqlite:////tmp/collectstatic.sqlite3 CELERY_BROKER_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -f /tmp/collectstatic.sqlite3

EXPOSE 8000
# gunicorn.conf.py: no control socket, prometheus_client multiprocess mode (see the file).
CMD ["gunicorn", "config.wsgi:application", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", \
     "--access-logfile", "-", "--no-control-socket", "--worker-tmp-dir", "/dev/shm"]
