package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pgmcp/pgmcp/tests/nodetest"
	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestMain stops the throwaway PostgreSQL cluster the bundle test starts.
func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// The MCP Registry's JSON schema of server.json, from the Registry's own Go
// module (fetched through the Go module proxy): the schema its validators
// embed, for the $schema our server.json names.
const (
	registryModule = "github.com/modelcontextprotocol/registry@v1.8.9"
	registrySchema = "internal/validators/schemas/2025-12-11.json"
)

// built is one dist run for the host's target, shared by the tests.
var built struct {
	once sync.Once
	dir  string
	out  string
	err  error
}

const testVersion = "0.0.0-test.1"

// distForHost runs dist (in this process) for the host's linux target,
// with bundles, into a temporary directory kept for the test binary's
// life; the npm packages are installed first (a failure in CI when Node
// is missing).
func distForHost(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the release tests build Linux files")
	}
	node, npm := nodetest.FindNode(t)
	nodetest.Install(t, node, npm, ".")
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "pgmcp-dist-")
		if built.err != nil {
			return
		}
		var stdout, stderr bytes.Buffer
		built.err = run(t.Context(), []string{"--out", built.dir, "--version", testVersion, "--targets", "linux/" + runtime.GOARCH, "--npm", npm},
			&stdout, &stderr)
		built.out = stdout.String() + stderr.String()
	})
	if built.err != nil {
		t.Fatalf("dist: %v\n%s", built.err, built.out)
	}
	t.Logf("dist:\n%s", built.out)
	return built.dir
}

func mcpb(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join("node_modules", ".bin", "mcpb"), args...)
	out, err := cmd.CombinedOutput()
	t.Logf("$ mcpb %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("mcpb %s: %v", args[0], err)
	}
	return string(out)
}

// hostEnv is what a host (Claude Desktop) puts in the server's
// environment for the manifest's mcp_config.env: each
// ${user_config.KEY} replaced by the user's value, or the key's default.
func hostEnv(t *testing.T, manifest map[string]any, values map[string]string) []string {
	t.Helper()
	userConfig := manifest["user_config"].(map[string]any)
	ref := regexp.MustCompile(`\$\{user_config\.([a-z_]+)\}`)
	var env []string
	for k, v := range manifest["server"].(map[string]any)["mcp_config"].(map[string]any)["env"].(map[string]any) {
		val := ref.ReplaceAllStringFunc(v.(string), func(m string) string {
			key := ref.FindStringSubmatch(m)[1]
			if got, ok := values[key]; ok {
				return got
			}
			def, ok := userConfig[key].(map[string]any)["default"]
			if !ok {
				t.Fatalf("user_config.%s has no default: a host leaves ${user_config.%s} in the environment when the user sets nothing", key, key)
			}
			return fmt.Sprint(def)
		})
		env = append(env, k+"="+val)
	}
	slices.Sort(env)
	return env
}

// inspector runs the MCP Inspector's CLI on the binary over stdio with env
// added to the environment and returns its JSON answer.
func inspector(t *testing.T, bin string, env []string, method ...string) map[string]any {
	t.Helper()
	// The server is started through env(1) with exactly the host's
	// variables, empty ones included (the inspector's -e refuses those).
	// Demo mode starts and loads a PostgreSQL first: on a loaded CI
	// machine that takes longer than the inspector's default 15 s.
	args := append([]string{"--cli", "--format", "json", "--connect-timeout", "180000"}, method...)
	args = append(append(append(args, "--", "env"), env...), bin, "serve")
	cmd := exec.CommandContext(t.Context(), filepath.Join("node_modules", ".bin", "mcp-inspector"), args...)
	// The inspector writes ~/.mcp-inspector; the server gets only what -e
	// gives it and the inspector's own environment.
	cmd.Env = append(nodetest.CleanEnv(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("$ mcp-inspector %s\n%.3000s", strings.Join(args, " "), stdout.String())
	if err != nil {
		t.Fatalf("inspector: %v\n%s", err, stderr.String())
	}
	var out struct {
		Result map[string]any
		Error  any
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Error != nil || out.Result == nil {
		t.Fatalf("inspector output (%v): %.2000s", err, stdout.String())
	}
	return out.Result
}

// TestBundle: the bundle dist packs for this machine validates with the
// official mcpb CLI, unpacks with it, and its binary, started over stdio
// by the MCP Inspector's CLI with the environment a host makes from the
// manifest, lists the tools the manifest lists; in demo mode, and with a
// database URL, where a query runs.
func TestBundle(t *testing.T) {
	dir := distForHost(t)
	file := filepath.Join(dir, fmt.Sprintf("pgmcp_%s_linux_%s.mcpb", testVersion, runtime.GOARCH))
	unpacked := t.TempDir()
	mcpb(t, "info", file)
	mcpb(t, "unpack", file, unpacked)
	manifestPath := filepath.Join(unpacked, "manifest.json")
	if out := mcpb(t, "validate", manifestPath); !strings.Contains(out, "passes") {
		t.Errorf("mcpb validate did not say the manifest passes")
	}
	// pack again from what was unpacked: the layout is what mcpb packs.
	mcpb(t, "pack", unpacked, filepath.Join(t.TempDir(), "again.mcpb"))

	raw, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	var manifest map[string]any
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	if manifest["version"] != testVersion {
		t.Errorf("manifest version %v, want %s", manifest["version"], testVersion)
	}
	server := manifest["server"].(map[string]any)
	bin := filepath.Join(unpacked, server["entry_point"].(string))
	if st, err := os.Stat(bin); err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("the bundle's entry point %s is not an executable: %v %v", server["entry_point"], st, err)
	}
	if server["type"] != "binary" {
		t.Errorf("server.type = %v", server["type"])
	}
	for _, key := range []string{"database_url", "llm_api_key"} {
		if uc := manifest["user_config"].(map[string]any)[key].(map[string]any); uc["sensitive"] != true {
			t.Errorf("user_config.%s is not sensitive", key)
		}
	}
	var want []string
	for _, tool := range manifest["tools"].([]any) {
		want = append(want, tool.(map[string]any)["name"].(string))
	}
	slices.Sort(want)
	names := func(out map[string]any) []string {
		var got []string
		tools, _ := out["tools"].([]any)
		for _, tool := range tools {
			name, _ := tool.(map[string]any)["name"].(string)
			got = append(got, name)
		}
		slices.Sort(got)
		return got
	}

	t.Run("demo", func(t *testing.T) {
		env := hostEnv(t, manifest, map[string]string{"demo": "true"})
		t.Logf("environment from the manifest: %v", env)
		if got := names(inspector(t, bin, env, "--method", "tools/list")); !slices.Equal(got, want) {
			t.Errorf("tools/list of the bundle's binary = %v, the manifest lists %v", got, want)
		}
		out := inspector(t, bin, env, "--method", "tools/call", "--tool-name", "query", "--tool-arg", "sql=SELECT count(*) AS n FROM orders")
		if out["isError"] == true || !strings.Contains(fmt.Sprint(out["structuredContent"]), "row_count:1") {
			t.Errorf("a query in demo mode: %v", out)
		}
	})
	t.Run("database_url", func(t *testing.T) {
		db := pgtest.NewDB(t, pgtest.Demo)
		env := hostEnv(t, manifest, map[string]string{"database_url": db.ReaderURL})
		// The policy the demo database needs (its blocked columns); a
		// user would add it in the extension's settings.
		env = append(env, "PGMCP_ALLOWED_SCHEMAS=public")
		if got := names(inspector(t, bin, env, "--method", "tools/list")); !slices.Equal(got, want) {
			t.Errorf("tools/list = %v, the manifest lists %v", got, want)
		}
		out := inspector(t, bin, env, "--method", "tools/call", "--tool-name", "query", "--tool-arg", "sql=SELECT status, count(*) AS n FROM orders GROUP BY status")
		if out["isError"] == true || !strings.Contains(fmt.Sprint(out["structuredContent"]), "row_count:") {
			t.Errorf("a query with the database URL: %v", out)
		}
	})
}

// registrySchemaFile fetches the Registry module through the Go module
// proxy and returns the path of its server.json schema.
func registrySchemaFile(t *testing.T) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", registryModule)
	cmd.Dir = t.TempDir() // outside our module: go.mod is not touched
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", registryModule, err, out)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	t.Logf("schema: %s/%s (%s %s)", registryModule, registrySchema, mod.Version, mod.Dir)
	return filepath.Join(mod.Dir, registrySchema)
}

// TestServerJSON validates the server.json dist writes against the MCP
// Registry's JSON schema, and checks what the Registry checks at publish
// time beyond the schema: the bundles' URLs and SHA-256 sums, the
// description's length, the image's name label in the Dockerfile.
func TestServerJSON(t *testing.T) {
	dir := distForHost(t)
	path := registrySchemaFile(t)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("registry-server.schema.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("registry-server.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	entryRaw, err := os.ReadFile(filepath.Join(dir, "server.json"))
	if err != nil {
		t.Fatal(err)
	}
	entryDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(entryRaw))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(entryDoc); err != nil {
		t.Fatalf("server.json does not match the Registry's schema: %v\n%s", err, entryRaw)
	}
	t.Logf("server.json matches the Registry's schema (%s):\n%s", filepath.Base(path), entryRaw)

	// The validator is not vacuous: a broken entry fails.
	var broken map[string]any
	_ = json.Unmarshal(entryRaw, &broken)
	broken["name"] = "pgmcp"
	delete(broken["packages"].([]any)[0].(map[string]any), "transport")
	b, _ := json.Marshal(broken)
	brokenDoc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err := schema.Validate(brokenDoc); err == nil {
		t.Error("the schema accepted a name without a namespace and a package without a transport")
	} else {
		t.Logf("a broken entry is refused: %v", err)
	}

	var entry struct {
		Schema      string `json:"$schema"`
		Name        string
		Description string
		Version     string
		Packages    []struct {
			RegistryType string
			Identifier   string
			Version      string
			FileSha256   string
			Transport    struct{ Type string }
		}
	}
	if err := json.Unmarshal(entryRaw, &entry); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(entry.Schema, "/2025-12-11/server.schema.json") {
		t.Errorf("$schema %s is not the one validated against", entry.Schema)
	}
	if len(entry.Description) > 100 {
		t.Errorf("description is %d characters; the Registry takes 100 at most", len(entry.Description))
	}
	if entry.Version != testVersion {
		t.Errorf("version %s, want %s", entry.Version, testVersion)
	}
	var kinds []string
	for _, p := range entry.Packages {
		kinds = append(kinds, p.RegistryType)
		switch p.RegistryType {
		case "mcpb":
			file := filepath.Join(dir, filepath.Base(p.Identifier))
			data, err := os.ReadFile(file)
			if err != nil {
				t.Errorf("mcpb package %s: %v", p.Identifier, err)
				continue
			}
			sum := sha256.Sum256(data)
			if p.FileSha256 != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: fileSha256 %s is not the bundle's", p.Identifier, p.FileSha256)
			}
			if want := releaseBase + "/v" + testVersion + "/"; !strings.HasPrefix(p.Identifier, want) || p.Transport.Type != "stdio" {
				t.Errorf("mcpb package %s (transport %s): want a release URL under %s and stdio", p.Identifier, p.Transport.Type, want)
			}
		case "oci":
			if p.Identifier != imageRepo+":"+testVersion || p.Version != "" {
				t.Errorf("oci package %s (version %q): want %s:%s and no version field", p.Identifier, p.Version, imageRepo, testVersion)
			}
		}
	}
	if !slices.Contains(kinds, "mcpb") || !slices.Contains(kinds, "oci") {
		t.Errorf("packages %v: want the bundle and the container image", kinds)
	}
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), `LABEL io.modelcontextprotocol.server.name="`+entry.Name+`"`) {
		t.Errorf("the Dockerfile does not label the image with the server's name %s (the Registry checks the label)", entry.Name)
	}
}

// TestCrossBuilds builds the release binaries of the other targets this
// machine has a C compiler for (linux/arm64, windows/amd64 on an x86-64
// Linux), as dist does, and checks each is an executable of its platform.
// CI installs the compilers and sets PGMCP_REQUIRE_CROSS=1, which makes a
// missing one a failure.
func TestCrossBuilds(t *testing.T) {
	require := os.Getenv("PGMCP_REQUIRE_CROSS") == "1"
	want := map[string]string{"linux/arm64": "ELF AARCH64", "windows/amd64": "PE executable, machine 0x8664", "linux/amd64": "ELF X86_64"}
	for _, tg := range knownTargets() {
		if tg.GOOS == runtime.GOOS && tg.GOARCH == runtime.GOARCH || want[tg.String()] == "" {
			continue // the host's own is built by the bundle test
		}
		t.Run(strings.ReplaceAll(tg.String(), "/", "_"), func(t *testing.T) {
			if tg.cc == "" {
				if require {
					t.Fatalf("cannot build %s: %s (required: PGMCP_REQUIRE_CROSS=1)", tg, tg.why)
				}
				t.Skipf("cannot build %s: %s", tg, tg.why)
			}
			bin := filepath.Join(t.TempDir(), tg.exe())
			var log bytes.Buffer
			start := time.Now()
			if err := build(t.Context(), "../..", tg, testVersion, bin, &log); err != nil {
				t.Fatalf("build %s: %v\n%s", tg, err, log.String())
			}
			kind, err := identify(bin)
			if err != nil || !strings.HasPrefix(kind, want[tg.String()]) {
				t.Fatalf("%s: %q (%v), want %s", tg, kind, err, want[tg.String()])
			}
			t.Logf("%s: %s, built in %s", tg, kind, time.Since(start).Round(time.Second))
		})
	}
}
