#!/usr/bin/env bash
# The whole suite: quality gates, the hermetic suite on SQLite, then the integration part on
# PostgreSQL + Redis (started here when they are installed but not running).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff"; $BIN/ruff check . ; $BIN/ruff format --check .
echo "== mypy"; $BIN/mypy src
echo "== django checks"
DJANGO_SETTINGS_MODULE=teamline.settings.test $BIN/python manage.py check
DJANGO_SETTINGS_MODULE=teamline.settings.test TEAMLINE_PUBLIC_URL=https://teamline.example \
  TEAMLINE_SSL_REDIRECT=1 TEAMLINE_HSTS_SECONDS=31536000 TEAMLINE_HSTS_INCLUDE_SUBDOMAINS=1 \
  TEAMLINE_HSTS_PRELOAD=1 TEAMLINE_ALLOWED_HOSTS=teamline.example \
  $BIN/python manage.py check --deploy --fail-level WARNING
DJANGO_SETTINGS_MODULE=teamline.settings.test $BIN/python manage.py makemigrations --check --dry-run

# Both suites run on every core (pytest-xdist); each worker has its own database.
WORKERS="${TEAMLINE_TEST_WORKERS:-auto}"

echo "== tests on SQLite (in-memory channel layer)"
$BIN/pytest -q -p no:cacheprovider -n "$WORKERS" "$@"

echo "== integration tests on PostgreSQL + Redis"
bash scripts/services.sh
export TEAMLINE_DATABASE_URL="${TEAMLINE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TEAMLINE_REDIS_URL="${TEAMLINE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
$BIN/pytest -q -p no:cacheprovider -n "$WORKERS" -m integration "$@"
