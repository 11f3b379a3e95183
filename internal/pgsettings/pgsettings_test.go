package pgsettings

import (
	"maps"
	"testing"
)

func TestDefaultKeepsTheURLsOptions(t *testing.T) {
	params := map[string]string{"tcp_keepalives_idle": "60", "application_name": "mine"}
	Default(params, ServerKeepalives)
	want := map[string]string{"tcp_keepalives_idle": "60", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3", "application_name": "mine"}
	if !maps.Equal(params, want) {
		t.Fatalf("params %v, want %v", params, want)
	}
}
