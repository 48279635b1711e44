"""Settings shared by every run mode, read from the environment.

With no environment variables at all, costtrack runs embedded: a SQLite file in the
project folder, Celery tasks executed in-process and e-mail printed to the console.
"""

from decimal import Decimal
from pathlib import Path

import environ

from costtrack.beat import BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The embedded default key only ever signs sessions of a local SQLite demo; production.py
# refuses to start without SECRET_KEY in the environment.
SECRET_KEY = env.str("SECRET_KEY", default="costtrack-embedded-insecure-key-for-local-demo-only")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "mptt",
    "costtrack.core",
    "orgunits",
    "costs",
    "budgets",
    "allocation",
    "notifications",
    "recommendations",
    "costtrack",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "costtrack.core.middleware.RequestLimitsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "costtrack.core.db.ReplicaReadsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "costtrack.urls"
WSGI_APPLICATION = "costtrack.wsgi.application"

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
                "costtrack.core.context_processors.navigation",
                "notifications.context_processors.unread_notifications",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# A streaming replica of the primary (PostgreSQL's own replication) serves the reads of
# report endpoints and dashboard pages (COSTTRACK_REPLICA_PATHS) through
# costtrack.core.db.ReplicaRouter; writes, and reads inside a transaction, stay on the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"]["ATOMIC_REQUESTS"] = False
    DATABASES["replica"].setdefault("CONN_MAX_AGE", DATABASES["default"]["CONN_MAX_AGE"])
    # the test suite has one database: the replica alias reads the test database
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["costtrack.core.db.ReplicaRouter"]
COSTTRACK_REPLICA_PATHS = [
    r"^/api/v1/reports/",
    r"^/api/v1/org-units/\d+/rollup/$",
    r"^/$",
    r"^/units/\d+/$",
    r"^/resources/\d+/$",
    r"^/budgets/$",
]
for _alias in DATABASES.values():
    if _alias["ENGINE"] == "django.db.backends.postgresql" and not env.bool(
        "POSTGRES_JIT", default=False
    ):
        # JIT compiling pays off for long analytical scans; costtrack's reads are short
        # indexed queries over the spend summary, where compiling a plan costs more than
        # running it.
        _alias.setdefault("OPTIONS", {})
        _alias["OPTIONS"].setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

# --- request limits -------------------------------------------------------------------
# JSON and form bodies (and the non-file fields of a multipart body): larger ones get a 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# Billing files: a larger upload is refused with 413 by its Content-Length before it is read,
# and stopped while it streams if the header lies (costtrack.core.uploads).
COSTTRACK_IMPORT_MAX_MB = env.float("COSTTRACK_IMPORT_MAX_MB", default=512)
# Uploaded files above this many bytes stream to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)
FILE_UPLOAD_HANDLERS = [
    "costtrack.core.uploads.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# --- e-mail ---------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="costtrack <costtrack@localhost>")
# Seconds an SMTP connection may block a delivery task before it fails and is retried.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# --- Celery ---------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A message is acknowledged once its task has finished, and given back to the queue when the
# pool child running it dies (SIGKILL, OOM): a killed worker never loses its job.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Requests never talk to the broker (costtrack.core.jobs: the outbox and its dispatcher);
# the dispatcher fails fast on a slow or unreachable broker and tries again later.
# Redis gives an unacknowledged message to another worker after the visibility timeout: it
# is longer than the longest job (hard time limit 1900 s, retry countdowns up to 600 s), so
# a job still running is never started twice; the job of a worker that died comes back
# much sooner, through the reaper (COSTTRACK_JOB_LEASE_SECONDS).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2400),
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=3.0),
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=5.0),
}
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE
CELERY_TIMEZONE = TIME_ZONE
# The job outbox (costtrack.core.jobs): a claimed job whose heartbeat stopped for this long
# is taken for lost and handed over again; a handed-over job nobody claimed for the queue
# lease is sent again (duplicates of a done job do nothing).
COSTTRACK_JOB_LEASE_SECONDS = env.float("COSTTRACK_JOB_LEASE_SECONDS", default=60)
COSTTRACK_JOB_QUEUE_LEASE_SECONDS = env.float("COSTTRACK_JOB_QUEUE_LEASE_SECONDS", default=600)
COSTTRACK_JOB_RETRY_SECONDS = env.float("COSTTRACK_JOB_RETRY_SECONDS", default=5)

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF answers unauthenticated requests with the first class's challenge,
    # so anonymous callers get 401 (with WWW-Authenticate: Token), not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "costtrack.core.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "costtrack.core.api.exception_handler",
    # JSON objects only, no NUL or lone surrogates, bounded nesting; uploads size-checked.
    "DEFAULT_PARSER_CLASSES": [
        "costtrack.core.parsers.JSONParser",
        "costtrack.core.parsers.FormParser",
        "costtrack.core.parsers.MultiPartParser",
    ],
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "costtrack API",
    "DESCRIPTION": "Record costs, route them for approval, hold them against budgets, "
    "roll them up and allocate shared cost.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "costtrack.core.schema.add_error_responses",
    ],
    # Choice sets used by several serializers under the same field name get explicit names.
    "ENUM_NAME_OVERRIDES": {
        "CostStatusEnum": "costs.models.CostStatus",
        "CostKindEnum": "costs.models.Cost.Kind",
        "AllocationRunStatusEnum": "allocation.models.AllocationRun.Status",
        "RecommendationKindEnum": "recommendations.models.Kind",
        "RecommendationStatusEnum": "recommendations.models.Status",
    },
}

# --- costtrack ------------------------------------------------------------------------
REPORTING_CURRENCY = env.str("REPORTING_CURRENCY", default="USD").upper()
# Currencies beyond ISO 4217, as code -> number of minor-unit digits.
COSTTRACK_EXTRA_CURRENCIES = env.dict(
    "COSTTRACK_EXTRA_CURRENCIES", cast={"value": int}, default={"BTC": 8, "SAT": 0}
)
FISCAL_YEAR_START_MONTH = env.int("FISCAL_YEAR_START_MONTH", default=1)
ACCOUNTING_PERIOD_START_DAY = env.int("ACCOUNTING_PERIOD_START_DAY", default=1)
# The beat closes last period on this day of the new one (or the first run after it).
COSTS_PERIOD_CLOSE_DAY = env.int("COSTS_PERIOD_CLOSE_DAY", default=3)
# Close a period even with costs still pending (they are listed on it); otherwise wait.
COSTS_CLOSE_WITH_PENDING = env.bool("COSTS_CLOSE_WITH_PENDING", default=False)
# Days a cost may wait for approval before its approvers are reminded, and before it is
# escalated to the next owner up (costs.reminders).
COSTS_REMINDER_AFTER_DAYS = env.int("COSTS_REMINDER_AFTER_DAYS", default=3)
COSTS_ESCALATE_AFTER_DAYS = env.int("COSTS_ESCALATE_AFTER_DAYS", default=7)
# Billing imports (costs.imports): which FOCUS figure becomes a cost's amount, the unit
# (by code) that takes rows no rule or known resource places, and whether a cost sums a
# charge group per day or per month.
COSTTRACK_IMPORT_AMOUNT_COLUMN = env.str("COSTTRACK_IMPORT_AMOUNT_COLUMN", default="EffectiveCost")
COSTTRACK_IMPORT_DEFAULT_UNIT = env.str("COSTTRACK_IMPORT_DEFAULT_UNIT", default="")
COSTTRACK_IMPORT_GRAIN = env.str("COSTTRACK_IMPORT_GRAIN", default="day")
# Lists count at most this many matching rows (costtrack.core.pagination); past it the API
# answers ``count_capped: true`` and pages, inbox and admin say "more than".
COSTTRACK_LIST_COUNT_CAP = env.int("COSTTRACK_LIST_COUNT_CAP", default=10_000)
# One cost's spend-summary change runs as a server-side prepared statement (planned once per
# connection); turn off behind a connection pooler in transaction mode.
COSTTRACK_SUMMARY_PREPARED = env.bool("COSTTRACK_SUMMARY_PREPARED", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Recommendations (recommendations app). A spike is a day above median + K·MAD of the 28 days
# before it; MAD is at least MAD_FLOOR × median (a flat series gives none) and the excess at
# least MIN_EXCESS; a series needs MIN_DAYS days with spend among the 28. A dismissed
# recommendation reopens once its amount exceeds the dismissed amount by REOPEN_GROWTH.
# AUTO: compute after each billing import and allocation run (off in the test settings).
COSTTRACK_RECOMMENDATION_SPIKE_K = Decimal(env.str("COSTTRACK_RECOMMENDATION_SPIKE_K", "3"))
COSTTRACK_RECOMMENDATION_SPIKE_MAD_FLOOR = Decimal(
    env.str("COSTTRACK_RECOMMENDATION_SPIKE_MAD_FLOOR", "0.05")
)
COSTTRACK_RECOMMENDATION_SPIKE_MIN_EXCESS = Decimal(
    env.str("COSTTRACK_RECOMMENDATION_SPIKE_MIN_EXCESS", "10")
)
COSTTRACK_RECOMMENDATION_SPIKE_MIN_DAYS = env.int("COSTTRACK_RECOMMENDATION_SPIKE_MIN_DAYS", 7)
COSTTRACK_RECOMMENDATION_IDLE_DAYS = env.int("COSTTRACK_RECOMMENDATION_IDLE_DAYS", 30)
COSTTRACK_RECOMMENDATION_REOPEN_GROWTH = Decimal(
    env.str("COSTTRACK_RECOMMENDATION_REOPEN_GROWTH", "0.25")
)
COSTTRACK_RECOMMENDATIONS_AUTO = env.bool("COSTTRACK_RECOMMENDATIONS_AUTO", default=True)
