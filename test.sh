#!/usr/bin/env bash
# The test command: every package, race detector on, including the browser
# tests (they need Debian's chromium at /usr/bin/chromium; without it they
# skip, unless CI=true, where they fail) and the HTML validation (it needs
# java and VNU_JAR, the vnu.jar .ci/run installs; without them it skips,
# unless CI=true).
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${VNU_JAR:-}" ]; then
  cached="${XDG_CACHE_HOME:-$HOME/.cache}/mangrove-dashboard-ci/node_modules/vnu-jar/build/dist/vnu.jar"
  if [ -f "$cached" ]; then export VNU_JAR="$cached"; fi
fi
exec go test -race -count=1 -timeout 20m "$@" ./...
