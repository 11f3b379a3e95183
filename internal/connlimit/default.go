package connlimit

import "syscall"

// reservedFiles are the descriptors kept for what is not a client
// connection: the SQLite files, the embedded sandbox's listener and its
// side of the dashboard's API connections, connections to the API, logs.
const reservedFiles = 256

// maxDefault bounds the default when the file limit is unlimited or huge.
const maxDefault = 1 << 20

// DefaultMax is the cap sized from the process's file limit (which Go
// raises to the hard limit at start-up): reservedFiles are left for
// everything else, or half the limit where that is more.
func DefaultMax() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1024 - reservedFiles
	}
	n := int(min(rl.Cur, maxDefault))
	return max(n-reservedFiles, n/2)
}
