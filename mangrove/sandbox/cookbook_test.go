package sandbox

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCookbookScript runs cookbook.sh, the public cookbook's curl steps,
// against a fresh sandbox: the sandbox is used exactly like the real API.
func TestCookbookScript(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed for the cookbook test", tool)
			}
			t.Skipf("%s not installed; skipping the cookbook script", tool)
		}
	}
	s, err := Open(Options{DBPath: filepath.Join(t.TempDir(), "s.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	cmd := exec.Command("bash", "cookbook.sh")
	cmd.Env = append(os.Environ(), "BASE="+srv.URL+"/api/v1", "TOKEN="+s.Tokens().ReadWrite, "POLL=0.05")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("cookbook.sh: %v", err)
	}
}
