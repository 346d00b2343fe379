package tests

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// plainBinary builds pgmcp once without the race detector (which
// multiplies memory), for the tests that measure memory.
var plainBinary = sync.OnceValues(func() (string, error) {
	dir, err := tempDirForBinaries()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "pgmcp-norace")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/pgmcp").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	return bin, nil
})

// tempDirForBinaries is the directory of the race-built binary.
func tempDirForBinaries() (string, error) { return filepath.Dir(binary), nil }

// TestHugeCellsBoundedMemory measures the high-water RSS (VmHWM) of
// `pgmcp serve --http` (built without the race detector) while 4 queries at
// once each read a row holding a 300 MB value. pgmcp refuses a protocol
// message above PGMCP_MAX_ROW_BYTES (8 MiB) before reading it, so each call
// ends with result_too_large and the growth stays far below the 1.2 GB the
// values weigh (asserted under 256 MB).
//
//	go test -count=1 -run TestHugeCellsBoundedMemory -v ./tests/
func TestHugeCellsBoundedMemory(t *testing.T) {
	bin, err := plainBinary()
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.NewDB(t, pgtest.Demo)
	const cells, cellMB = 4, 300
	db.Exec(t, fmt.Sprintf(`CREATE TABLE public.big_cells (id int PRIMARY KEY, v text);
		INSERT INTO public.big_cells SELECT g, repeat(chr(64 + g), %d << 20) FROM generate_series(1, %d) AS g;
		GRANT SELECT ON public.big_cells TO %s`, cellMB, cells, pgtest.Reader))
	srv := startBinary(t, bin, []string{"serve", "--http", "127.0.0.1:0"}, baseEnv(
		"PGMCP_DATABASE_URL="+db.ReaderURL, "PGMCP_ALLOWED_SCHEMAS=public", "PGMCP_MAX_CONNS=8",
		"PGMCP_STATEMENT_TIMEOUT=60s"))
	pid := srv.cmd.Process.Pid
	c := httpClient(t, srv.base+"/mcp")
	initialize(t, c)
	callQuery(t, c, map[string]any{"sql": "SELECT id, length(v) AS n FROM big_cells ORDER BY id"})
	before := vmHWM(t, pid)

	var wg sync.WaitGroup
	results := make([]string, cells)
	start := time.Now()
	for i := range cells {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := httpClient(t, srv.base+"/mcp")
			initialize(t, c)
			req := mcp.CallToolRequest{}
			req.Params.Name = "query"
			req.Params.Arguments = map[string]any{"sql": fmt.Sprintf("SELECT v FROM big_cells WHERE id = %d", i+1)}
			res, err := c.CallTool(t.Context(), req)
			switch {
			case err != nil:
				results[i] = "error: " + err.Error()
			case !res.IsError:
				results[i] = "served"
			default:
				var body struct{ Code string }
				_ = json.Unmarshal([]byte(res.Content[0].(mcp.TextContent).Text), &body)
				results[i] = body.Code
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	after := vmHWM(t, pid)
	extra := after - before
	t.Logf("VmHWM before %d MB, after %d concurrent queries of a %d MB cell (%s): %d MB: +%d MB; outcomes %v",
		before>>10, cells, cellMB, took.Round(time.Millisecond), after>>10, extra>>10, results)
	for i, r := range results {
		if r != "result_too_large" {
			t.Errorf("query %d: %s, want result_too_large", i+1, r)
		}
	}
	if extra > 256<<10 {
		t.Errorf("VmHWM grew by %d MB, over the 256 MB bound", extra>>10)
	}
	// The server goes on: a normal query after the refusals.
	if out := callQuery(t, c, map[string]any{"sql": "SELECT count(*) AS n FROM big_cells"}); !strings.Contains(fmt.Sprint(out["rows"]), "4") {
		t.Errorf("count after the refusals: %v", out["rows"])
	}
	srv.stop(t)
}
