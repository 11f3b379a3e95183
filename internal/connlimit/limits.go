package connlimit

// reservedFiles are the descriptors kept for what is not a client
// connection: the SQLite files, the embedded sandbox's listener and its
// side of the dashboard's API connections, connections to the API, logs.
const reservedFiles = 256

// fallbackFileLimit is assumed where the file limit cannot be read.
const fallbackFileLimit = 1024

// maxDefault bounds the default cap: beyond it the eviction's scan of idle
// connections would cost more than the connections are worth; set
// MAX_CONNECTIONS to go higher.
const maxDefault = 1 << 16

// maxFileLimit bounds the file limit read (it may be "unlimited").
const maxFileLimit = 1 << 24

// fromFileLimit is the default cap for a file limit of n: reservedFiles
// are left for everything else, or half the limit where that is more, and
// the cap is at most maxDefault.
func fromFileLimit(n int) int {
	return min(max(n-reservedFiles, n/2), maxDefault)
}
