// Package pgsettings holds the PostgreSQL session settings the dashboard's
// connections ask for when they open (the store's pool and the fleet's own
// connections), so both ask for the same.
package pgsettings

// ServerKeepalives ask the server to probe the connection over TCP (they
// are ignored over Unix sockets): 10 s quiet, then 3 probes 5 s apart. A
// vanished host's session, with its locks, then ends within about 25 s,
// not the system's default two hours.
var ServerKeepalives = map[string]string{
	"tcp_keepalives_idle":     "10",
	"tcp_keepalives_interval": "5",
	"tcp_keepalives_count":    "3",
}

// Default sets each of settings in params (a connection's start-up
// parameters) that params does not set already: the URL's own options win.
func Default(params, settings map[string]string) {
	for name, value := range settings {
		if _, set := params[name]; !set {
			params[name] = value
		}
	}
}
