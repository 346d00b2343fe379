package httpauth

import (
	"fmt"
	"net"
)

// ListenAllowed refuses to serve HTTP without authentication on an address
// other machines can reach: anything but localhost and loopback IPs
// (127.0.0.0/8, ::1). An empty host (":8080"), 0.0.0.0 and :: listen on
// every interface; a host name other than localhost is refused too, since
// what it resolves to can change. insecureNoAuth (the --insecure-no-auth
// flag) lifts the refusal.
func ListenAllowed(addr string, authEnabled, insecureNoAuth bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %v (want host:port, e.g. 127.0.0.1:8080)", addr, err)
	}
	if authEnabled || insecureNoAuth || loopbackHost(host) {
		return nil
	}
	where := host
	if host == "" || host == "0.0.0.0" || host == "::" {
		where = "every network interface"
	}
	return fmt.Errorf("refusing to serve HTTP on %s (%s) without authentication: anyone who can reach it could query the database. "+
		"Set PGMCP_AUTH_TOKENS_FILE (see `pgmcp token new`) or PGMCP_AUTH_JWKS_URL, listen on 127.0.0.1, "+
		"or pass --insecure-no-auth to accept the risk", addr, where)
}
