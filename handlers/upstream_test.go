package handlers_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/carbon-dash/mangrove-dashboard/internal/testapp"
)

// failing answers every matching request with a status and the API's error
// shape while on is set.
func failing(status int, match string, on *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if on.Load() && strings.Contains(r.URL.Path, match) {
				w.Header().Set("Content-Type", "application/json")
				if status == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", "0")
				}
				w.WriteHeader(status)
				_, _ = w.Write([]byte(`{"message":"injected failure"}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func TestUpstreamFailuresBecomePages(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		wantCode int
		wantText string
	}{
		{"Unavailable", http.StatusServiceUnavailable, http.StatusServiceUnavailable, "Mangrove is unavailable"},
		{"ServerError", http.StatusInternalServerError, http.StatusServiceUnavailable, "Mangrove is unavailable"},
		{"RateLimited", http.StatusTooManyRequests, http.StatusServiceUnavailable, "Mangrove is unavailable"},
		{"Forbidden", http.StatusForbidden, http.StatusForbidden, "lacks Production Accounting write permission"},
		{"Revoked", http.StatusUnauthorized, http.StatusUnauthorized, "Sign in again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var on atomic.Bool
			app := testapp.Start(t, testapp.Options{WrapSandbox: failing(tt.status, "/ledgers", &on)})
			b := app.SignedIn(t)
			on.Store(true)
			r := b.Get("/ledgers")
			if r.Status != tt.wantCode || !strings.Contains(r.Body, tt.wantText) {
				t.Fatalf("status %d, want %d with %q; body %.400s", r.Status, tt.wantCode, tt.wantText, r.Body)
			}
			if strings.Contains(r.Body, "injected failure") && tt.status >= 500 {
				t.Error("an upstream 5xx body leaked into the page")
			}
			if !strings.Contains(r.Body, "request id") {
				t.Error("the error page lacks the request id")
			}
			if tt.status == http.StatusUnauthorized {
				on.Store(false)
				if r := b.Get("/ledgers"); r.Status != http.StatusSeeOther {
					t.Errorf("after a 401 the session should be signed out; got %d", r.Status)
				}
			}
		})
	}
}
