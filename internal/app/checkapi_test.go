package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestCheckAPI runs -check-api's wiring: with no URL on a fresh embedded
// sandbox (which passes, and leaves nothing in DATA_DIR), with a URL and
// no token (refused), and against a server whose ledger has no
// latest_model (ErrCheckFailed, the last line naming it).
func TestCheckAPI(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	t.Run("EmbeddedSandbox", func(t *testing.T) {
		dir := t.TempDir()
		var out strings.Builder
		if err := CheckAPI(context.Background(), Config{DataDir: dir, Logger: quiet}, &out); err != nil {
			t.Fatalf("CheckAPI: %v\n%s", err, out.String())
		}
		if !strings.HasSuffix(out.String(), "OK: nothing the dashboard needs is broken.\n") ||
			!strings.Contains(out.String(), "GET /async_tasks/{id}") {
			t.Errorf("output:\n%s", out.String())
		}
		if left, _ := os.ReadDir(dir); len(left) != 0 {
			t.Errorf("DATA_DIR keeps %v after the check", left)
		}
	})
	t.Run("URLWithoutToken", func(t *testing.T) {
		err := CheckAPI(context.Background(), Config{APIURL: "https://api.example.test/api/v1", DataDir: t.TempDir()}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "MANGROVE_API_TOKEN") {
			t.Errorf("err %v, want one asking for MANGROVE_API_TOKEN", err)
		}
	})
	t.Run("LedgerWithoutLatestModel", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/v1/ledgers" {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, `{"message":"Record not found."}`)
				return
			}
			io.WriteString(w, `{"data":[{"id":"lgr_abc123def456","name":"Net Carbon Removal","unit":"t","cadence":"monthly"}]}`)
		}))
		defer srv.Close()
		var out strings.Builder
		err := CheckAPI(context.Background(), Config{APIURL: srv.URL + "/api/v1", APIToken: "tok", DataDir: t.TempDir()}, &out)
		if !errors.Is(err, ErrCheckFailed) {
			t.Fatalf("err %v, want ErrCheckFailed\n%s", err, out.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "FAIL: ") || !strings.Contains(last, "GET /ledgers data[].latest_model (missing)") {
			t.Errorf("last line %q, want a FAIL naming latest_model", last)
		}
	})
}
