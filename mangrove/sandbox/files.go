package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Modes of the sandbox's data: its database holds the API tokens, so only the owner
// may read the files or list the directory, whatever mode they had before.
const (
	dataDirMode  fs.FileMode = 0o700
	dataFileMode fs.FileMode = 0o600
)

// dbSideFiles are the suffixes of the files SQLite keeps beside the database.
var dbSideFiles = []string{"-wal", "-shm", "-journal"}

// PrepareDataDir creates dir (with its parents) for the sandbox's database, owner-only
// (0700), and narrows an existing dir to 0700 too. It refuses a sticky directory such
// as /tmp: that is everyone's directory, not one to narrow or to keep tokens in.
func PrepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, dataDirMode); err != nil {
		return fmt.Errorf("sandbox: data directory: %w", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sandbox: data directory: %w", err)
	}
	if info.Mode()&fs.ModeSticky != 0 {
		return fmt.Errorf("sandbox: data directory %s is a shared (sticky) directory; give the sandbox a directory of its own", dir)
	}
	if err := os.Chmod(dir, dataDirMode); err != nil && !errors.Is(err, fs.ErrPermission) { // not ours: left as its owner set it
		return fmt.Errorf("sandbox: data directory: %w", err)
	}
	return nil
}

// secureDBFiles creates the database file owner-only (0600) before SQLite opens it, and
// narrows an existing one and its side files to 0600. SQLite creates new -wal, -shm and
// -journal files with the database file's mode, so later ones follow.
func secureDBFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, dataFileMode)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, suffix := range append([]string{""}, dbSideFiles...) { // the database, then its side files
		err := os.Chmod(path+suffix, dataFileMode)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) { // not ours: left as its owner set it
			return err
		}
	}
	return nil
}
