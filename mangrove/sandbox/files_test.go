package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantMode fails the test unless path exists with exactly mode's permission bits.
func wantMode(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != mode {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, mode)
	}
}

// chmodTo sets path's mode exactly, whatever the umask made of it.
func chmodTo(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestDataFilesOwnerOnly: the data directory ends 0700 and the database and its side
// files 0600, whether they are new or were there before with wider modes.
func TestDataFilesOwnerOnly(t *testing.T) {
	t.Parallel()
	open := func(t *testing.T, dir string) string {
		t.Helper()
		if err := PrepareDataDir(dir); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "sandbox.db")
		s, err := Open(Options{DBPath: path})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return path
	}
	t.Run("Existing", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		chmodTo(t, dir, 0o755)
		for _, name := range []string{"sandbox.db", "sandbox.db-wal", "sandbox.db-shm"} {
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			chmodTo(t, filepath.Join(dir, name), 0o644)
		}
		path := open(t, dir)
		wantMode(t, dir, 0o700)
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			wantMode(t, p, 0o600)
		}
	})
	t.Run("New", func(t *testing.T) {
		t.Parallel()
		path := open(t, filepath.Join(t.TempDir(), "nested", "data"))
		wantMode(t, filepath.Dir(path), 0o700)
		for _, p := range []string{path, path + "-wal", path + "-shm"} { // SQLite made the side files
			wantMode(t, p, 0o600)
		}
	})
	t.Run("StickyDirRefused", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		chmodTo(t, dir, 0o777|fs.ModeSticky)
		if err := PrepareDataDir(dir); err == nil || !strings.Contains(err.Error(), "sticky") {
			t.Fatalf("PrepareDataDir on a sticky directory: %v", err)
		}
		wantMode(t, dir, 0o777)
	})
}
