package app

import "testing"

func TestParseTrustedProxies(t *testing.T) {
	nets, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128"}
	if len(nets) != len(want) {
		t.Fatalf("%v", nets)
	}
	for i, n := range nets {
		if n.String() != want[i] {
			t.Errorf("net %d = %s, want %s", i, n, want[i])
		}
	}
	if nets, err := ParseTrustedProxies(""); err != nil || len(nets) != 0 {
		t.Errorf("empty: %v %v", nets, err)
	}
	for _, bad := range []string{"nope", "10.0.0.0/33", "10.0.0.0/8,,x"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
