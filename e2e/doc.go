// Package e2e holds the browser tests of the dashboard: headless Chromium
// (Debian's /usr/bin/chromium) drives the real server that
// internal/testapp starts on a fresh embedded sandbox.
//
// Without Chromium the tests skip, except under CI=true, where they fail.
// With E2E_SCREENSHOTS=DIR they also save PNG screenshots of the main
// pages into DIR.
package e2e
