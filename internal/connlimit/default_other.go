//go:build !unix

package connlimit

// DefaultMax is the cap for fallbackFileLimit where the file limit cannot
// be read.
func DefaultMax() int { return fromFileLimit(fallbackFileLimit) }
