#!/usr/bin/env bash
# The test command: every package, race detector on, including the browser
# tests (they need Debian's chromium at /usr/bin/chromium; without it they
# skip, unless CI=true, where they fail).
set -euo pipefail
cd "$(dirname "$0")"
exec go test -race -count=1 -timeout 20m "$@" ./...
