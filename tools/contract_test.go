package tools

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgmcp/pgmcp/sqlguard"
	"github.com/pgmcp/pgmcp/tools/engine"
)

var update = flag.Bool("update", false, "rewrite the golden files of the public contract (testdata/contract)")

// TestPublicContract compares what clients see of every tool, prompt,
// resource and resource template (names, descriptions, input and output
// schemas, annotations) with the golden files in testdata/contract, so
// that a change to the contract is a reviewed diff. After a deliberate
// change, rewrite them with
//
//	go test ./tools -run TestPublicContract -update
func TestPublicContract(t *testing.T) {
	pol := &sqlguard.Policy{Catalog: &sqlguard.Catalog{}}
	eng := newEngine(t, engine.Config{MaxRows: 1000, Databases: []*engine.Database{
		{Name: "demo", Policy: pol}, {Name: "sales", Policy: pol}}})
	srv := NewServer(eng, "contract")
	for i, method := range []string{"tools/list", "prompts/list", "resources/list", "resources/templates/list"} {
		t.Run(method, func(t *testing.T) {
			req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": i + 1, "method": method})
			raw, err := json.Marshal(srv.HandleMessage(t.Context(), req))
			if err != nil {
				t.Fatal(err)
			}
			var resp struct {
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(raw, &resp); err != nil || resp.Error != nil || resp.Result == nil {
				t.Fatalf("%s: %s (%v)", method, raw, err)
			}
			snapshot(t, strings.ReplaceAll(method, "/", "_")+".json", resp.Result)
		})
	}
}

// firstDifference shows the first line where got differs from want.
// snapshot compares v, as indented JSON, with testdata/contract/name
// (written instead with -update).
func snapshot(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, raw, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", "contract", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; create it with: go test ./tools -run %s -update", err, t.Name())
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s differs from %s: the public contract changed. If the change is meant, run\n\tgo test ./tools -run %s -update\nand review the diff.\n%s", name, path, t.Name(), firstDifference(string(want), got.String()))
	}
}

func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, strings.TrimSpace(wl), strings.TrimSpace(gl))
		}
	}
	return "(no line differs)"
}
