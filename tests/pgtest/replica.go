package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
)

// StartPrimary starts a cluster of the test's own, stopped when the test
// ends, and runs setup (SQL, "" for none) in its database postgres as the
// superuser. Replica tests use it: the harness's shared cluster has no
// standby.
func StartPrimary(tb testing.TB, setup string) *localpg.Cluster {
	tb.Helper()
	ctx := tb.Context()
	p, err := localpg.Start(ctx, localpg.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Stop() })
	if setup == "" {
		return p
	}
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, setup); err != nil {
		tb.Fatalf("primary set-up: %v", err)
	}
	return p
}

// StartStandby makes a streaming standby of primary (pg_basebackup -R)
// with opts, and waits until it has replayed what the primary had
// written. It is stopped when the test ends, before the primary (cleanups
// run last first).
func StartStandby(tb testing.TB, primary *localpg.Cluster, opts localpg.Options) *localpg.Cluster {
	tb.Helper()
	s, err := primary.StartStandby(tb.Context(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Stop() })
	if err := s.WaitReplayed(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	return s
}

// HostsURL is a URL of database db as userinfo ("user" or "user:password"),
// naming each of clusters' socket and port in order, with
// target_session_attrs attrs ("" for none).
func HostsURL(userinfo, db, attrs string, clusters ...*localpg.Cluster) string {
	hosts := make([]string, len(clusters))
	ports := make([]string, len(clusters))
	for i, c := range clusters {
		hosts[i], ports[i] = c.SocketDir, fmt.Sprint(c.Port)
	}
	u := fmt.Sprintf("postgres://%s@/%s?host=%s&port=%s&sslmode=disable", userinfo, db, strings.Join(hosts, ","), strings.Join(ports, ","))
	if attrs != "" {
		u += "&target_session_attrs=" + attrs
	}
	return u
}
