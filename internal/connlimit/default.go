//go:build unix

package connlimit

import "syscall"

// DefaultMax is the cap sized from the process's file limit, which Go
// raises to the hard limit at start-up (see fromFileLimit).
func DefaultMax() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return fromFileLimit(fallbackFileLimit)
	}
	return fromFileLimit(int(min(rl.Cur, maxFileLimit)))
}
