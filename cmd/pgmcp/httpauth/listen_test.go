package httpauth

import (
	"strings"
	"testing"
)

func TestListenAllowed(t *testing.T) {
	cases := []struct {
		addr      string
		loopback  bool // allowed without authentication
		malformed bool
	}{
		{"127.0.0.1:8080", true, false},
		{"127.1.2.3:8080", true, false},
		{"[::1]:8080", true, false},
		{"localhost:8080", true, false},
		{"LOCALHOST:8080", true, false},
		{"localhost.:8080", true, false},
		{"[::ffff:127.0.0.1]:8080", true, false},
		{":8080", false, false},
		{"0.0.0.0:8080", false, false},
		{"[::]:8080", false, false},
		{"192.168.1.10:8080", false, false},
		{"10.0.0.1:8080", false, false},
		{"203.0.113.7:443", false, false},
		{"[2001:db8::1]:8080", false, false},
		{"pgmcp.example.com:8080", false, false},
		{"localhost.example.com:8080", false, false},
		{"127.0.0.1", false, true},
		{"", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			err := ListenAllowed(tc.addr, false, false)
			switch {
			case tc.malformed:
				if err == nil {
					t.Fatal("a malformed address was accepted")
				}
				return
			case tc.loopback && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.loopback:
				if err == nil {
					t.Fatal("allowed without authentication")
				}
				if !strings.Contains(err.Error(), "--insecure-no-auth") || !strings.Contains(err.Error(), "without authentication") {
					t.Errorf("error %q does not say why and how to proceed", err)
				}
			}
			if err := ListenAllowed(tc.addr, true, false); err != nil {
				t.Errorf("refused with authentication: %v", err)
			}
			if err := ListenAllowed(tc.addr, false, true); err != nil {
				t.Errorf("refused with --insecure-no-auth: %v", err)
			}
		})
	}
}
