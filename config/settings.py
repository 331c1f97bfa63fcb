"""Quorum settings, read from the environment (see .env.example).

Every value is parsed strictly: a malformed value stops start-up with a
message naming the variable. With nothing set except DEBUG=true the project
runs on embedded defaults: SQLite and a file-based Celery broker.
"""

import hashlib
import hmac
import re
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url

from audit.keys import KeyringError, build_keyring

from .client_ip import parse_networks
from .env import (
    ImproperlyConfiguredEnv,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
    load_env_file,
)

BASE_DIR = Path(__file__).resolve().parent.parent

try:
    # The project's .env (or QUORUM_ENV_FILE), under whatever the process environment sets.
    ENV_FILE = load_env_file(BASE_DIR / ".env")
    VAR_DIR = Path(env_str("QUORUM_VAR_DIR", str(BASE_DIR / "var")))
    DEBUG = env_bool("DEBUG", False)
    SECRET_KEY = env_str("SECRET_KEY", required=not DEBUG) or "insecure-debug-only-key-" + "x" * 40
    if not DEBUG and len(SECRET_KEY) < 50:
        raise ImproperlyConfiguredEnv(
            f"SECRET_KEY is {len(SECRET_KEY)} characters long; production needs at least 50 random characters "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

    DATABASE_URL = env_url(
        "DATABASE_URL",
        f"sqlite:///{VAR_DIR / 'quorum.sqlite3'}",
        schemes={"sqlite", "postgres", "postgresql", "pgsql"},
    )
    # A streaming replica of DATABASE_URL for the console's heavy reads (config/dbrouter.py).
    DATABASE_REPLICA_URL = env_url("DATABASE_REPLICA_URL", None, schemes={"postgres", "postgresql", "pgsql"})
    if DATABASE_REPLICA_URL and DATABASE_URL.startswith("sqlite"):
        raise ImproperlyConfiguredEnv("DATABASE_REPLICA_URL is a replica of a PostgreSQL DATABASE_URL, not of SQLite")
    REDIS_URL = env_url("REDIS_URL", None, schemes={"redis", "rediss", "unix"})
    CELERY_BROKER_URL = env_url(
        "CELERY_BROKER_URL", "filesystem://", schemes={"filesystem", "redis", "rediss", "amqp", "pyamqp"}
    )

    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
    BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
    # Preload and includeSubDomains commit every subdomain to HTTPS for a long time
    # (preload lists are hard to leave): the operator opts in.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # Reverse proxies whose X-Forwarded-For is believed (config/client_ip.py).
    TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
    try:
        TRUSTED_PROXY_NETWORKS = parse_networks(TRUSTED_PROXIES)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"TRUSTED_PROXIES: {exc}") from None

    # Intake limits, documented in the README.
    INTAKE_MAX_BODY_BYTES = env_int("INTAKE_MAX_BODY_BYTES", 1_048_576, minimum=1024)
    INTAKE_BATCH_MAX_BODY_BYTES = env_int("INTAKE_BATCH_MAX_BODY_BYTES", 16_777_216, minimum=1024)
    INTAKE_BATCH_MAX_ITEMS = env_int("INTAKE_BATCH_MAX_ITEMS", 500, minimum=1, maximum=5000)
    API_DEFAULT_RATE_PER_SECOND = env_int("API_DEFAULT_RATE_PER_SECOND", 2000, minimum=1)
    API_DEFAULT_BURST = env_int("API_DEFAULT_BURST", 4000, minimum=1)
    # Requests with an invalid API key, per client address (valid keys are not counted).
    API_FAILED_AUTH_RATE_PER_SECOND = env_int("API_FAILED_AUTH_RATE_PER_SECOND", 10, minimum=1)
    API_FAILED_AUTH_BURST = env_int("API_FAILED_AUTH_BURST", 100, minimum=1)
    # Benchmark-only switch: measures what the audit trail costs. Never set it in production.
    AUDIT_DISABLED_FOR_BENCHMARK = env_bool("AUDIT_DISABLED_FOR_BENCHMARK", False)
    AUDIT_CHECKPOINT_SECONDS = env_int("AUDIT_CHECKPOINT_SECONDS", 60, minimum=1)
    # Rules (docs/rules.md): the seed of the draw that samples automated rule actions into human review.
    RULES_SAMPLING_SEED = env_str("RULES_SAMPLING_SEED", "quorum-rules")
    # Audit keys (docs/security.md): HMAC keys outside the database, with ids for rotation.
    AUDIT_KEYRING = build_keyring(
        env_keys=env_str("AUDIT_HMAC_KEYS", ""), key_file=env_str("AUDIT_HMAC_KEY_FILE", ""),
        current_id=env_str("AUDIT_HMAC_KEY_ID", ""), fallback_secret=SECRET_KEY if DEBUG else None,
    )
    # A checkpoint is also taken once this many events were written since the last one
    # (the checkpoint task looks every AUDIT_CHECKPOINT_POLL_SECONDS).
    AUDIT_CHECKPOINT_EVERY_EVENTS = env_int("AUDIT_CHECKPOINT_EVERY_EVENTS", 10_000, minimum=1)
    AUDIT_CHECKPOINT_POLL_SECONDS = env_float("AUDIT_CHECKPOINT_POLL_SECONDS", 5.0, minimum=0.2, maximum=3600)
    # Anchor sinks outside the database: an append-only file, an S3 Object Lock bucket, and a witness that
    # gets a signed POST.
    AUDIT_ANCHOR_FILE = env_str("AUDIT_ANCHOR_FILE", "")
    if AUDIT_ANCHOR_FILE and not Path(AUDIT_ANCHOR_FILE).is_absolute():
        raise ImproperlyConfiguredEnv(f"AUDIT_ANCHOR_FILE={AUDIT_ANCHOR_FILE!r} must be an absolute path")
    # S3 with Object Lock (WORM): each checkpoint one object in COMPLIANCE mode for AUDIT_ANCHOR_S3_RETENTION_DAYS.
    # Off unless a bucket is named; credentials come from boto3's usual chain (AWS_* variables, instance role).
    AUDIT_ANCHOR_S3_BUCKET = env_str("AUDIT_ANCHOR_S3_BUCKET", "")
    AUDIT_ANCHOR_S3_PREFIX = env_str("AUDIT_ANCHOR_S3_PREFIX", "quorum/audit-checkpoints/")
    AUDIT_ANCHOR_S3_ENDPOINT_URL = env_url("AUDIT_ANCHOR_S3_ENDPOINT_URL", None, schemes={"http", "https"}) or ""
    AUDIT_ANCHOR_S3_REGION = env_str("AUDIT_ANCHOR_S3_REGION", "")
    AUDIT_ANCHOR_S3_RETENTION_DAYS = env_int("AUDIT_ANCHOR_S3_RETENTION_DAYS", 3650, minimum=1, maximum=36500)
    AUDIT_WITNESS_URL = env_url("AUDIT_WITNESS_URL", None, schemes={"http", "https"}) or ""
    AUDIT_WITNESS_SECRET = env_str("AUDIT_WITNESS_SECRET", "")
    if AUDIT_WITNESS_URL and len(AUDIT_WITNESS_SECRET) < 32:
        raise ImproperlyConfiguredEnv("AUDIT_WITNESS_SECRET must be set (at least 32 characters) when AUDIT_WITNESS_URL is")
    # PostgreSQL role that the application connects as; `migrate` (run as the owner role)
    # grants it exactly what it needs (config/dbroles.py). Empty: no grants.
    DATABASE_APP_ROLE = env_str("DATABASE_APP_ROLE", "")
    if DATABASE_APP_ROLE and not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", DATABASE_APP_ROLE):
        raise ImproperlyConfiguredEnv(f"DATABASE_APP_ROLE={DATABASE_APP_ROLE!r} is not a plain lower-case role name")
    REVIEW_LEASE_SECONDS = env_int("REVIEW_LEASE_SECONDS", 900, minimum=30)
    ESCALATION_PRIORITY_BONUS = env_int("ESCALATION_PRIORITY_BONUS", 100, minimum=0)
    APPEAL_WINDOW_DAYS = env_int("APPEAL_WINDOW_DAYS", 183, minimum=1)
    # G4 signals (docs/rules.md). Identifier hashes are HMAC-SHA256 under a per-source key derived from this
    # secret (default: derived from SECRET_KEY); changing it unlinks every stored identifier.
    SIGNALS_HMAC_KEY = env_str("SIGNALS_HMAC_KEY", "") or hmac.new(
        SECRET_KEY.encode("utf-8"), b"quorum-signals-hmac", hashlib.sha256).hexdigest()
    SIGNALS_RETENTION_DAYS = env_int("SIGNALS_RETENTION_DAYS", 180, minimum=1)
    # Beta prior (alpha, beta) of reporter accuracy: its mean is what a reporter without record is worth.
    SIGNALS_REPUTATION_PRIOR = (env_float("SIGNALS_PRIOR_ALPHA", 2.0, minimum=0.1, maximum=1000),
                                env_float("SIGNALS_PRIOR_BETA", 2.0, minimum=0.1, maximum=1000))
    # Outcomes that sanction an account: a new account linked to one is flagged as possible ban evasion.
    SIGNALS_SANCTION_OUTCOMES = env_list("SIGNALS_SANCTION_OUTCOMES", ["ban_account", "suspend_account"])
    SIGNALS_EVASION_BONUS = env_int("SIGNALS_EVASION_BONUS", 100, minimum=0, maximum=750)
    SIGNALS_SWEEP_SECONDS = env_int("SIGNALS_SWEEP_SECONDS", 3600, minimum=10)
    APPEAL_WORKFLOW_SLUG = env_str("APPEAL_WORKFLOW_SLUG", "appeal")
    # How many appeals one appellant may file against one decision (DSA Art. 20 asks for one).
    APPEALS_PER_APPELLANT = env_int("APPEALS_PER_APPELLANT", 1, minimum=1, maximum=10)
    # DSA Art. 23 (trust/, docs/dsa-trust.md): strikes count for this many days after the decision.
    TRUST_STRIKE_EXPIRY_DAYS = env_int("TRUST_STRIKE_EXPIRY_DAYS", 365, minimum=1, maximum=3650)
    # Reporters' manifestly unfounded notices: the window, the minimum of decided notices, the share that counts as
    # abuse, and how long the processing of their notices is suspended after a warning.
    TRUST_ABUSE_WINDOW_DAYS = env_int("TRUST_ABUSE_WINDOW_DAYS", 90, minimum=1, maximum=3650)
    TRUST_ABUSE_MIN_NOTICES = env_int("TRUST_ABUSE_MIN_NOTICES", 10, minimum=1, maximum=100_000)
    TRUST_ABUSE_UNFOUNDED_SHARE = env_float("TRUST_ABUSE_UNFOUNDED_SHARE", 0.8, minimum=0.01, maximum=1.0)
    TRUST_ABUSE_SUSPENSION_DAYS = env_int("TRUST_ABUSE_SUSPENSION_DAYS", 30, minimum=1, maximum=3650)
    # Trusted flaggers' accuracy and handling time on Console › DSA: over this many days, computed at most once per
    # TRUST_FLAGGER_FIGURES_CACHE_SECONDS (0: on every page load).
    TRUST_FLAGGER_WINDOW_DAYS = env_int("TRUST_FLAGGER_WINDOW_DAYS", 90, minimum=1, maximum=3650)
    TRUST_FLAGGER_FIGURES_CACHE_SECONDS = env_int("TRUST_FLAGGER_FIGURES_CACHE_SECONDS", 300, minimum=0,
                                                  maximum=86400)
    REVIEW_LEAD_GROUPS = env_list("REVIEW_LEAD_GROUPS", ["senior_moderator", "admin"])
    SLA_WARN_FRACTION = env_float("SLA_WARN_FRACTION", 0.75, minimum=0.01, maximum=1.0)
    SLA_SWEEP_SECONDS = env_float("SLA_SWEEP_SECONDS", 5.0, minimum=0.2, maximum=3600)
    SLA_SWEEP_BATCH = env_int("SLA_SWEEP_BATCH", 500, minimum=1, maximum=100_000)
    # How often decided cases are checked for closing (reviews/closing.py). Default: 300; 1 to 86400.
    CASE_CLOSE_SWEEP_SECONDS = env_int("CASE_CLOSE_SWEEP_SECONDS", 300, minimum=1, maximum=86400)
    SWEEP_STALE_SECONDS = env_int("SWEEP_STALE_SECONDS", 60, minimum=1)
    # EU DSA transparency database submission (dsa/submission.py; docs/dsa.md). Empty URL: off.
    DSA_TDB_URL = (env_url("DSA_TDB_URL", None, schemes={"http", "https"}) or "").rstrip("/")
    DSA_TDB_TOKEN = env_str("DSA_TDB_TOKEN", "")
    if DSA_TDB_URL and not DSA_TDB_TOKEN:
        raise ImproperlyConfiguredEnv("DSA_TDB_TOKEN must be set when DSA_TDB_URL is")
    DSA_TDB_BATCH = env_int("DSA_TDB_BATCH", 100, minimum=1, maximum=100)
    DSA_TDB_TIMEOUT = env_float("DSA_TDB_TIMEOUT", 10.0, minimum=0.05, maximum=120)
    DSA_TDB_RETRY_BASE_SECONDS = env_float("DSA_TDB_RETRY_BASE_SECONDS", 5.0, minimum=0.001, maximum=3600)
    DSA_TDB_MAX_ATTEMPTS = env_int("DSA_TDB_MAX_ATTEMPTS", 20, minimum=1, maximum=1000)
    DSA_TDB_SECONDS = env_float("DSA_TDB_SECONDS", 5.0, minimum=0.2, maximum=3600)
    # A decision whose DSA statement of reasons does not validate is not published (decision feed, webhooks,
    # reporters' outcome notices) until a lead corrects the statement (docs/dsa.md). false: decisions go out at
    # once and only the statement waits (for a platform outside the DSA's scope).
    DSA_HOLD_DECISIONS = env_bool("DSA_HOLD_DECISIONS", True)
    # Out-of-court dispute settlement bodies the affected user is told about (Art. 17(3)(f), Art. 21).
    DSA_DISPUTE_SETTLEMENT_URL = env_str("DSA_DISPUTE_SETTLEMENT_URL",
                                         "https://digital-strategy.ec.europa.eu/en/policies/dsa-out-court-dispute-settlement")
    # Outbound webhooks (integrations/webhooks; docs/webhooks.md).
    WEBHOOK_ALLOWED_HOSTS = [h.lower() for h in env_list("WEBHOOK_ALLOWED_HOSTS", [])]
    WEBHOOK_PUBLIC_URL = env_str("WEBHOOK_PUBLIC_URL", "").rstrip("/")
    WEBHOOK_DISPATCH_SECONDS = env_float("WEBHOOK_DISPATCH_SECONDS", 1.0, minimum=0.1, maximum=60)
    WEBHOOK_DISPATCH_BATCH = env_int("WEBHOOK_DISPATCH_BATCH", 1000, minimum=1, maximum=100_000)
    WEBHOOK_CONNECT_TIMEOUT = env_float("WEBHOOK_CONNECT_TIMEOUT", 5.0, minimum=0.05, maximum=60)
    WEBHOOK_READ_TIMEOUT = env_float("WEBHOOK_READ_TIMEOUT", 10.0, minimum=0.05, maximum=120)
    WEBHOOK_RESPONSE_MAX_BYTES = env_int("WEBHOOK_RESPONSE_MAX_BYTES", 4096, minimum=0, maximum=1_048_576)
    WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 10.0, minimum=0.001, maximum=3600)
    WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 3600.0, minimum=0.001, maximum=86400)
    WEBHOOK_MAX_RETRY_SECONDS = env_float("WEBHOOK_MAX_RETRY_SECONDS", 86400.0, minimum=0, maximum=30 * 86400)
    WEBHOOK_PAUSE_AFTER_FAILURES = env_int("WEBHOOK_PAUSE_AFTER_FAILURES", 100, minimum=1)
    WEBHOOK_PAUSE_AFTER_SECONDS = env_float("WEBHOOK_PAUSE_AFTER_SECONDS", 3600.0, minimum=0, maximum=30 * 86400)
    WEBHOOK_LEASE_SECONDS = env_float("WEBHOOK_LEASE_SECONDS", 60.0, minimum=0.5, maximum=3600)
    if WEBHOOK_LEASE_SECONDS <= WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT:
        raise ImproperlyConfiguredEnv(
            f"WEBHOOK_LEASE_SECONDS={WEBHOOK_LEASE_SECONDS} must exceed WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT "
            f"({WEBHOOK_CONNECT_TIMEOUT + WEBHOOK_READ_TIMEOUT}): an attempt must end before its lease does")
    WEBHOOK_SEND_BATCH = env_int("WEBHOOK_SEND_BATCH", 50, minimum=1, maximum=1000)
    WEBHOOK_ENDPOINT_CONCURRENCY = env_int("WEBHOOK_ENDPOINT_CONCURRENCY", 4, minimum=1, maximum=64)
    WEBHOOK_SENDER_SECONDS = env_float("WEBHOOK_SENDER_SECONDS", 30.0, minimum=1, maximum=600)
    WEBHOOK_SECRET_OVERLAP_SECONDS = env_int("WEBHOOK_SECRET_OVERLAP_SECONDS", 86400, minimum=0, maximum=30 * 86400)
    WEBHOOK_MAX_ENDPOINTS_PER_SOURCE = env_int("WEBHOOK_MAX_ENDPOINTS_PER_SOURCE", 20, minimum=1)
    WEBHOOK_LOG_RETENTION_DAYS = env_int("WEBHOOK_LOG_RETENTION_DAYS", 30, minimum=1)
    # Console (F4): hosts whose media the browser may load as blurred thumbnails
    # (Content-Security-Policy img-src); media elsewhere is shown as a link only.
    CONSOLE_MEDIA_ORIGINS = env_list("CONSOLE_MEDIA_ORIGINS", [])
    for _origin in CONSOLE_MEDIA_ORIGINS:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", _origin):
            raise ImproperlyConfiguredEnv(
                f"CONSOLE_MEDIA_ORIGINS: {_origin!r} is not an origin like https://media.example.org")
    # My work's queue counts touch every open review; they are shared this long (0: always fresh).
    CONSOLE_COUNTS_CACHE_SECONDS = env_int("CONSOLE_COUNTS_CACHE_SECONDS", 10, minimum=0, maximum=3600)
    # Per-team visibility: whether auditors see the cases of queues restricted to groups they are not in.
    VISIBILITY_AUDITORS_SEE_ALL = env_bool("VISIBILITY_AUDITORS_SEE_ALL", True)
    # Sign-in limiter (django-axes, console and admin): this many failures for one
    # (normalised user name, client address) pair lock that pair for the window.
    LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
    LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)
    SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)
    METRICS_TOKEN = env_str("METRICS_TOKEN", "")
    METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
    LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
    if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ImproperlyConfiguredEnv(f"LOG_LEVEL={LOG_LEVEL!r} is not a logging level")
except (ImproperlyConfiguredEnv, KeyringError) as exc:
    sys.stderr.write(f"Quorum configuration error: {exc}\n")
    raise SystemExit(2) from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "audit",
    "cases",
    "reviews",
    "rules",
    "integrations",
    "integrations.adapters",
    "signals",
    "trust",
    "django_htmx",
    "axes",
    "access",
    "dsa",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files (admin, API docs) from gunicorn in production.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RequestIdMiddleware",
    # Before anything reads the body: a chunked body is read (up to the largest limit) or refused.
    "config.middleware.ChunkedBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "console.middleware.ConsoleLocaleMiddleware",
    "console.middleware.ConsoleTimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in user is the actor of privilege changes made during the request (access/signals.py).
    "access.context.ActingUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.middleware.ContentSecurityPolicyMiddleware",
    # After an API write, dispatch webhooks now rather than at the next beat tick.
    "integrations.webhooks.kick.WebhookKickMiddleware",
    # Turns a locked-out sign-in (console or admin) into a 429 page.
    "axes.middleware.AxesMiddleware",
]

# The first backend refuses a locked (user name, address) pair before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_FAILURE_WINDOW_SECONDS)
# Pairs, not names alone (anyone could lock a colleague out) nor addresses alone
# (a whole team behind one proxy or NAT would be locked out by one guesser).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "access.signin.limiter_username"
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "access.signin.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Failed attempts live in PostgreSQL (axes' database handler), not Redis: the
# limiter keeps working, closed, when Redis is down. Successful sign-ins are in the audit trail.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "console.context_processors.console",
            ],
        },
    },
]

# No per-request `SELECT 1`: config/db notices a dropped connection at request boundaries without a round
# trip, and intake retries a transaction whose connection died (reviews.intake).
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=False)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "config.db"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL, conn_max_age=60, conn_health_checks=True)
    # A replica that is really a primary (a wrong URL) still refuses a misrouted write.
    DATABASES["replica"]["OPTIONS"] = {"options": "-c default_transaction_read_only=on"}
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["config.dbrouter.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    # Fails open (a miss, a no-op write), logged and counted: see config/cache.py.
    CACHES = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves the static files (console CSS and JS, admin, API docs)
# from gunicorn straight from where they live, so no collectstatic step is
# needed outside Docker; the Dockerfile's collectstatic adds compressed copies.
WHITENOISE_USE_FINDERS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Security headers. Values that depend on TLS come from the environment so
# that a plain-HTTP local run (DEBUG) works and production is strict.
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin, not no-referrer: with no-referrer browsers send `Origin: null`
# on form posts, which Django's CSRF check (rightly) refuses. same-origin
# still sends nothing to any other site.
SECURE_REFERRER_POLICY = "same-origin"
CSRF_FAILURE_VIEW = "console.views.auth.csrf_failure"
# includeSubDomains and preload are the operator's decision (SECURE_HSTS_INCLUDE_SUBDOMAINS,
# SECURE_HSTS_PRELOAD, default off): Django's deploy check would otherwise demand both.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:my-work"
LOGOUT_REDIRECT_URL = "console:login"
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# The intake parsers enforce their own documented limits and answer 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = INTAKE_BATCH_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["integrations.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["integrations.auth.HasScope"],
    "DEFAULT_PARSER_CLASSES": ["integrations.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "integrations.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum API",
    "DESCRIPTION": (
        "Report intake, case lookup, decisions feed and appeals for external platforms. Authenticate with "
        "`Authorization: Bearer <key>`. Errors are JSON: "
        '`{"detail": str, "code": str, "errors": [{"field": "a.b", "code": str, "message": str}]}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI is served from the drf-spectacular-sidecar package, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery-broker"
    for _sub in ("out", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "data_folder_processed": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis", "rediss")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The single place where periodic work is scheduled.
CELERY_BEAT_SCHEDULE = {
    # Looks often; checkpoints when AUDIT_CHECKPOINT_SECONDS passed with changes, or
    # AUDIT_CHECKPOINT_EVERY_EVENTS were written, and appends new checkpoints to the anchor file.
    "audit-checkpoint": {
        "task": "audit.tasks.audit_checkpoint_task",
        "schedule": timedelta(seconds=AUDIT_CHECKPOINT_POLL_SECONDS),
        "options": {"expires": AUDIT_CHECKPOINT_POLL_SECONDS},
    },
    # Turns new checkpoints into deliveries to the witness (the webhook outbox: signed POST, retried with
    # back-off by the webhook tick's senders, never dead-lettered).
    # Monthly audit event partitions, made two months ahead (audit/partitions.py).
    "audit-partitions": {"task": "audit.tasks.audit_partitions_task", "schedule": timedelta(hours=6),
                         "options": {"expires": 3600}},
    "audit-witness": {"task": "integrations.tasks.audit_witness_task",
                      "schedule": timedelta(seconds=AUDIT_CHECKPOINT_POLL_SECONDS),
                      "options": {"expires": AUDIT_CHECKPOINT_POLL_SECONDS}},
    # A sweep not started within one interval is dropped: the next tick does the same work,
    # so a worker outage does not leave a pile of stale sweeps behind.
    "sla-warnings": {"task": "reviews.tasks.sweep_warnings_task", "schedule": timedelta(seconds=SLA_SWEEP_SECONDS),
                     "options": {"expires": SLA_SWEEP_SECONDS}},
    "sla-breaches": {"task": "reviews.tasks.sweep_breaches_task", "schedule": timedelta(seconds=SLA_SWEEP_SECONDS),
                     "options": {"expires": SLA_SWEEP_SECONDS}},
    "claim-leases": {"task": "reviews.tasks.sweep_leases_task", "schedule": timedelta(seconds=SLA_SWEEP_SECONDS),
                     "options": {"expires": SLA_SWEEP_SECONDS}},
    # Closes decided cases whose decision was delivered and whose appeal window passed (reviews/closing.py).
    "case-auto-close": {"task": "reviews.tasks.sweep_closures_task",
                        "schedule": timedelta(seconds=CASE_CLOSE_SWEEP_SECONDS),
                        "options": {"expires": CASE_CLOSE_SWEEP_SECONDS}},
    # Tails the audit log into webhook deliveries and starts a sender for every endpoint with work due.
    "webhook-tick": {"task": "integrations.tasks.webhook_tick_task", "schedule": timedelta(seconds=WEBHOOK_DISPATCH_SECONDS),
                     "options": {"expires": WEBHOOK_DISPATCH_SECONDS}},
    # Deletes identifier links past SIGNALS_RETENTION_DAYS (signals/services.py).
    "signals-retention": {"task": "signals.tasks.signals_retention_task",
                          "schedule": timedelta(seconds=SIGNALS_SWEEP_SECONDS),
                          "options": {"expires": SIGNALS_SWEEP_SECONDS}},
    # Files repeat-offender proposals (DSA Art. 23) whose after-commit filing did not happen (trust/strikes.py).
    "trust-proposals": {"task": "trust.tasks.file_pending_proposals_task", "schedule": timedelta(seconds=60),
                        "options": {"expires": 60}},
    # Makes the notices to reporters and affected users from the audit log (dsa/notices.py).
    "dsa-notices": {"task": "dsa.tasks.dsa_notices_task", "schedule": timedelta(seconds=WEBHOOK_DISPATCH_SECONDS),
                    "options": {"expires": WEBHOOK_DISPATCH_SECONDS}},
    # Submits published DSA statements of reasons when DSA_TDB_URL is set (dsa/submission.py).
    "dsa-submission": {"task": "dsa.tasks.dsa_submission_task", "schedule": timedelta(seconds=DSA_TDB_SECONDS),
                       "options": {"expires": DSA_TDB_SECONDS}},
    "webhook-log-cleanup": {"task": "integrations.tasks.webhook_cleanup_task", "schedule": timedelta(hours=1),
                            "options": {"expires": 3600}},
    # Measures active rules against the sampled human reviews (rules/drift.py).
    "rules-drift": {"task": "rules.tasks.rules_drift_task", "schedule": timedelta(minutes=10),
                    "options": {"expires": 600}},
    # Re-queues (or fails) backtest runs whose worker was lost mid-run (rules/backtest_runs.py).
    "rules-backtest-sweep": {"task": "rules.tasks.backtest_runs_sweep_task", "schedule": timedelta(seconds=60),
                             "options": {"expires": 60}},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
