#!/usr/bin/env bash
# The test command: every package, race detector on; arguments go to go test.
# scripts/test-prerequisites first makes sure of what the tests need beyond Go:
# Debian's chromium at /usr/bin/chromium (browser tests), java and vnu.jar
# (HTML validation), curl and jq (sandbox cookbook), installing what is missing
# when it can (as root or with passwordless sudo). What it cannot install, it
# names with the tests that skip; under CI=true those tests would fail, so it
# stops here.
set -euo pipefail
cd "$(dirname "$0")"
prereqs=$(scripts/test-prerequisites)
case $prereqs in
VNU_JAR=*) export VNU_JAR="${prereqs#VNU_JAR=}" ;;
esac
exec go test -race -count=1 -timeout 20m "$@" ./...
