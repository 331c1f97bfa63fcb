"""Settings of the minimal DRF baseline: production-like (DEBUG off), one
database (BENCH_MINIMAL_DATABASE_URL or DATABASE_URL), no sessions, no auth app."""

import os

import dj_database_url

BASE_DIR = os.path.dirname(os.path.abspath(__file__))
SECRET_KEY = os.environ.get("SECRET_KEY") or "bench-minimal-drf-only-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["rest_framework", "bench.minimal_drf"]
MIDDLEWARE = []
ROOT_URLCONF = "bench.minimal_drf.urls"
WSGI_APPLICATION = "bench.minimal_drf.wsgi.application"
# As Quorum's (config/settings.py): persistent connections with a health check.
DATABASES = {"default": dj_database_url.parse(os.environ.get("BENCH_MINIMAL_DATABASE_URL") or os.environ["DATABASE_URL"],
                                              conn_max_age=60, conn_health_checks=True)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
BENCH_KEY = os.environ.get("BENCH_MINIMAL_KEY", "")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
