"""Run modes: production settings pass Django's deployment checks; embedded mode needs nothing."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(args, env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_production_settings_pass_check_deploy():
    result = _manage(
        ["check", "--deploy", "--fail-level", "WARNING"],
        {
            "DJANGO_SETTINGS_MODULE": "costtrack.settings.production",
            "SECRET_KEY": "x7#kq2!vLm9@pZ4$wR8^tY6&nB3*hJ5(dF1)gS0-aQ+eC_uI=oP~zX%cV",
            "ALLOWED_HOSTS": "costtrack.example.com",
            "DATABASE_URL": "postgres://costtrack@db.example.com:5432/costtrack",
            "REDIS_URL": "redis://cache.example.com:6379/0",
            "EMAIL_URL": "smtp://mail.example.com:587",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_secret_key():
    result = _manage(
        ["check"],
        {"DJANGO_SETTINGS_MODULE": "costtrack.settings.production", "ALLOWED_HOSTS": "x"},
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_embedded_default_uses_sqlite_and_eager_tasks():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_TASK_ALWAYS_EAGER, s.EMAIL_BACKEND)"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "costtrack.settings.base"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [
        "django.db.backends.sqlite3",
        "True",
        "django.core.mail.backends.console.EmailBackend",
    ]


def test_billing_import_settings_come_from_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.COSTTRACK_IMPORT_AMOUNT_COLUMN, s.COSTTRACK_IMPORT_DEFAULT_UNIT or '-', "
        "s.COSTTRACK_IMPORT_GRAIN)"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("COSTTRACK_IMPORT_")}
    base["DJANGO_SETTINGS_MODULE"] = "costtrack.settings.base"

    def read(**extra):
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**base, **extra},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()

    assert read() == ["EffectiveCost", "-", "day"]
    assert read(
        COSTTRACK_IMPORT_AMOUNT_COLUMN="BilledCost",
        COSTTRACK_IMPORT_DEFAULT_UNIT="cloud",
        COSTTRACK_IMPORT_GRAIN="month",
    ) == ["BilledCost", "cloud", "month"]


def _collect_tests(**env) -> subprocess.CompletedProcess:
    """Start the suite (collection only) in a subprocess with ``env`` added."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_suite_refuses_to_run_without_postgresql_in_ci():
    result = _collect_tests(CI="true", DATABASE_URL="postgres://postgres@127.0.0.1:1/costtrack")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in output
    assert "CI=true: a missing server is a failure, not a skip" in output


def test_the_suite_refuses_sqlite():
    result = _collect_tests(DATABASE_URL="sqlite:///ignored.sqlite3")
    assert result.returncode != 0
    assert "costtrack's tests run on PostgreSQL" in result.stdout + result.stderr
    assert not (ROOT / "ignored.sqlite3").exists()


def test_production_settings_keep_the_session_options_and_the_replica():
    """Production reads the same database set-up as the base settings: JIT off for every
    PostgreSQL connection, the read replica and its router, persistent connections."""
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES; print(sorted(d), d['default']['OPTIONS']['options'], "
        "d['replica']['CONN_MAX_AGE'], s.DATABASE_ROUTERS)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "costtrack.settings.production",
            "SECRET_KEY": "x7#kq2!vLm9@pZ4$wR8^tY6&nB3*hJ5(dF1)gS0-aQ+eC_uI=oP~zX%cV",
            "ALLOWED_HOSTS": "costtrack.example.com",
            "DATABASE_URL": "postgres://costtrack@db.example.com:5432/costtrack",
            "DATABASE_REPLICA_URL": "postgres://costtrack@replica.example.com:5432/costtrack",
            "REDIS_URL": "redis://cache.example.com:6379/0",
            "EMAIL_URL": "smtp://mail.example.com:587",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["['default',", "'replica']"]
    assert "-c jit=off 60 ['costtrack.core.db.ReplicaRouter']" in result.stdout
