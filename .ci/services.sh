#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer where DATABASE_URL and REDIS_URL point (by default
# 127.0.0.1:5432 and 127.0.0.1:6379), starting the local servers if they are local and down.
set -euo pipefail

# host and port of a URL, with defaults: `url_part URL DEFAULT_PORT host|port`
url_part() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
from urllib.parse import urlsplit
url, default_port, part = sys.argv[1], sys.argv[2], sys.argv[3]
parsed = urlsplit(url)
print((parsed.hostname or "127.0.0.1") if part == "host" else (parsed.port or default_port))
PY
}

PG_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/costtrack}"
REDIS="${REDIS_URL:-redis://127.0.0.1:6379/0}"
PG_HOST=$(url_part "$PG_URL" 5432 host); PG_PORT=$(url_part "$PG_URL" 5432 port)
REDIS_HOST=$(url_part "$REDIS" 6379 host); REDIS_PORT=$(url_part "$REDIS" 6379 port)

is_local() { case "$1" in 127.0.0.1|localhost|::1) return 0 ;; *) return 1 ;; esac; }
pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

if ! pg_up && is_local "$PG_HOST"; then
  echo "PostgreSQL is down: starting it"
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up && is_local "$REDIS_HOST"; then
  echo "Redis is down: starting it"
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi

pg_up || { echo "ERROR: PostgreSQL is not reachable at $PG_HOST:$PG_PORT (DATABASE_URL)" >&2; exit 1; }
redis_up || { echo "ERROR: Redis is not reachable at $REDIS_HOST:$REDIS_PORT (REDIS_URL)" >&2; exit 1; }
echo "PostgreSQL ($PG_HOST:$PG_PORT) and Redis ($REDIS_HOST:$REDIS_PORT) are up"
