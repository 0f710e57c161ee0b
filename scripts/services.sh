#!/usr/bin/env bash
# Make sure the servers the test suite talks to are installed and running on localhost.
# Idempotent and quick when they already run. Writes the PostgreSQL URL the tests use to
# var/test-services.env (sourced by scripts/test.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
env_file=var/test-services.env
: > "$env_file"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

pg_ok() { psql "$1" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "services: installing PostgreSQL (Debian package)"
    as_root apt-get -o DPkg::Lock::Timeout=300 update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq postgresql >/dev/null \
      || { echo "services: could not install PostgreSQL" >&2; return 1; }
  fi
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then echo "services: no PostgreSQL cluster found" >&2; return 1; fi
  if ! pg_ok "postgresql://postgres@127.0.0.1:5432/postgres" && ! pg_ok "postgresql://postgres:dronecoop@127.0.0.1:5432/postgres"; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    for _ in $(seq 1 30); do
      pg_isready -h 127.0.0.1 -p 5432 -q && break
      sleep 1
    done
  fi
  if pg_ok "postgresql://postgres@127.0.0.1:5432/postgres"; then
    echo "DRONECOOP_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres" >> "$env_file"
  else
    # A fresh Debian install asks for a password over TCP: give the superuser a local test one.
    as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'dronecoop'\"" >/dev/null 2>&1 || true
    if pg_ok "postgresql://postgres:dronecoop@127.0.0.1:5432/postgres"; then
      echo "DRONECOOP_TEST_PG_URL=postgresql+psycopg://postgres:dronecoop@127.0.0.1:5432/postgres" >> "$env_file"
    else
      echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2
      return 1
    fi
  fi
  echo "services: PostgreSQL $version ready"
}

ensure_chromium() {
  # The page tests open the web UI in headless Chromium.
  local browser
  browser=$(command -v chromium || command -v chromium-browser || true)
  if [ -z "$browser" ]; then
    echo "services: installing Chromium (Debian package, for the page tests)"
    as_root apt-get -o DPkg::Lock::Timeout=300 update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null \
      || { echo "services: could not install Chromium" >&2; return 1; }
    browser=$(command -v chromium || command -v chromium-browser || true)
  fi
  [ -n "$browser" ] || return 1
  echo "DRONECOOP_TEST_CHROMIUM=$browser" >> "$env_file"
  echo "services: Chromium at $browser"
}

status=0
ensure_postgres || status=1
ensure_chromium || status=1
exit $status
