#!/usr/bin/env bash
# The test command: every package, race detector on; arguments go to go test.
# scripts/test-prerequisites first makes sure of what the tests need beyond Go:
# Debian's chromium at /usr/bin/chromium (browser tests), java and vnu.jar
# (HTML validation), curl and jq (sandbox cookbook), PostgreSQL (the tests
# using internal/pgtest), installing what is missing when it can (as root or
# with passwordless sudo). What it cannot install, it names with the tests
# that skip; under CI=true those tests would fail, so it stops here.
#
# PostgreSQL: a TEST_DATABASE_URL already set is used as it is. Otherwise,
# where PostgreSQL is installed, a throwaway cluster (scripts/pg-throwaway)
# runs for the tests on a free port, TEST_DATABASE_URL points at it, and it is
# stopped and removed when this exits. Without PostgreSQL those tests skip,
# except under CI=true, where this fails.
set -euo pipefail
cd "$(dirname "$0")"
prereqs=$(scripts/test-prerequisites)
case $prereqs in
VNU_JAR=*) export VNU_JAR="${prereqs#VNU_JAR=}" ;;
esac

say() { echo "test.sh: $*" >&2; }

if [ -n "${TEST_DATABASE_URL:-}" ]; then
  say "PostgreSQL tests use the TEST_DATABASE_URL given"
elif scripts/pg-throwaway bindir >/dev/null 2>&1; then
  pg_dir=""
  trap '[ -z "$pg_dir" ] || scripts/pg-throwaway stop "$pg_dir" || true' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  pg_out=$(scripts/pg-throwaway start) || { say "could not start a throwaway PostgreSQL (above)"; exit 1; }
  while IFS= read -r line; do
    case $line in
    TEST_DATABASE_URL=*) export TEST_DATABASE_URL="${line#TEST_DATABASE_URL=}" ;;
    PG_THROWAWAY_DIR=*) pg_dir="${line#PG_THROWAWAY_DIR=}" ;;
    esac
  done <<<"$pg_out"
  if [ -z "${TEST_DATABASE_URL:-}" ] || [ -z "$pg_dir" ]; then
    say "scripts/pg-throwaway start printed no TEST_DATABASE_URL and PG_THROWAWAY_DIR: $pg_out"
    exit 1
  fi
elif [ "${CI:-}" = true ]; then
  say "CI=true and no PostgreSQL: TEST_DATABASE_URL is not set and scripts/pg-throwaway finds no initdb and pg_ctl (apt package postgresql)"
  exit 1
else
  say "no PostgreSQL (no TEST_DATABASE_URL, no initdb and pg_ctl): the PostgreSQL tests will skip"
fi

rc=0
go test -race -count=1 -timeout 20m "$@" ./... || rc=$?
exit "$rc"
