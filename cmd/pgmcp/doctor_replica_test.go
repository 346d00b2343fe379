package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/cmd/pgmcp/localpg"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestDoctorReplication runs doctor on a two-host URL (primary, standby):
// with standby, it names the standby and its lag; with prefer-standby
// while the standby is stopped, it warns that the primary serves; with
// read-only, it warns that the attribute cannot tell them apart.
func TestDoctorReplication(t *testing.T) {
	p := pgtest.StartPrimary(t, `CREATE TABLE public.notes (id int PRIMARY KEY, body text);
		CREATE ROLE doc_reader LOGIN PASSWORD 'pw';
		GRANT SELECT ON public.notes TO doc_reader;`)
	s := pgtest.StartStandby(t, p, localpg.Options{})
	url := func(attrs string) string {
		return pgtest.HostsURL("doc_reader:pw", "postgres", attrs, p, s)
	}
	doctor := func(attrs string) string {
		_, out := doctorRun(t, "PGMCP_DATABASE_URL="+url(attrs), "PGMCP_ALLOWED_SCHEMAS=public")
		return out
	}
	standby := fmt.Sprintf("%s:%d", s.SocketDir, s.Port)
	primary := fmt.Sprintf("%s:%d", p.SocketDir, p.Port)

	out := doctor("standby")
	if l := line(out, "[ok]", "is a standby"); !strings.Contains(l, standby) || !strings.Contains(l, "bytes of WAL received and not yet replayed") {
		t.Errorf("standby: no line naming the standby and its lag:\n%s", out)
	}
	out = doctor("read-only")
	if l := line(out, "[warn]", "target_session_attrs=read-only accepts any server"); !strings.Contains(l, "prefer-standby") {
		t.Errorf("read-only: no warning:\n%s", out)
	}
	if line(out, "[ok]", "is a primary") == "" {
		t.Errorf("read-only: the first host, the primary, should serve:\n%s", out)
	}
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	out = doctor("prefer-standby")
	if l := line(out, "[warn]", "no standby answered"); !strings.Contains(l, primary) {
		t.Errorf("prefer-standby, standby stopped: no warning naming the primary:\n%s", out)
	}
}
