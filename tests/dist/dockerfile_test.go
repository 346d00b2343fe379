package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
	stage     int // -1 before the first FROM
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	stage := -1
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		cmd = strings.ToUpper(cmd)
		if cmd == "FROM" {
			stage++
		}
		out = append(out, instruction{cmd: cmd, args: strings.Join(strings.Fields(args), " "), stage: stage})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// args are a stage's ARG defaults (the global ones for stage -1).
func argDefaults(ins []instruction, stage int) map[string]string {
	m := map[string]string{}
	for _, in := range ins {
		if in.cmd == "ARG" && in.stage == stage {
			k, v, _ := strings.Cut(in.args, "=")
			m[k] = v
		}
	}
	return m
}

func expand(s string, vars map[string]string) string {
	return os.Expand(s, func(k string) string { return vars[k] })
}

// TestDockerfile checks the container recipe without Docker (none runs on
// these machines). Statically: a cgo-capable Go builder of the go.mod's
// Go version, a glibc slim runtime, a non-root user, the label the
// Registry checks, pgmcp serve on 0.0.0.0:8080 as the command. Then it
// runs the build stage's commands here, as the builder would (in the
// source tree, with /out in a temporary directory), and starts the binary
// with the runtime stage's entry point and command: it refuses to serve
// without authentication, and with a tokens file it serves.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, "Dockerfile")
	global := argDefaults(ins, -1)
	var froms []instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in)
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want two stages (builder, runtime), got %d", len(froms))
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	builder := expand(froms[0].args, global)
	if want := "golang:" + string(goVersion[1]) + "-"; !strings.HasPrefix(builder, want) || !strings.HasSuffix(builder, " AS build") {
		t.Errorf("builder stage FROM %q: want %s… AS build (go.mod says go %s)", builder, want, goVersion[1])
	}
	runtimeImage := expand(froms[1].args, global)
	if !regexp.MustCompile(`^debian:[a-z]+-slim$`).MatchString(runtimeImage) {
		t.Errorf("runtime stage FROM %q: want a Debian slim image (glibc, which the cgo binary links)", runtimeImage)
	}
	t.Logf("stages: %s → %s", builder, runtimeImage)

	stage := func(n int, cmd string) []string {
		var out []string
		for _, in := range ins {
			if in.stage == n && in.cmd == cmd {
				out = append(out, in.args)
			}
		}
		return out
	}
	user := stage(1, "USER")
	if len(user) != 1 || strings.HasPrefix(user[0], "0") || strings.HasPrefix(user[0], "root") {
		t.Errorf("runtime USER %v: want one non-root user", user)
	} else if uid, _, _ := strings.Cut(user[0], ":"); !strings.Contains(strings.Join(stage(1, "RUN"), " "), "--uid "+uid) {
		t.Errorf("USER %s is not the user the runtime stage creates", user[0])
	}
	if got := stage(1, "EXPOSE"); !slices.Equal(got, []string{"8080"}) {
		t.Errorf("EXPOSE %v, want 8080", got)
	}
	var entrypoint, command []string
	for _, v := range []struct {
		name string
		dst  *[]string
	}{{"ENTRYPOINT", &entrypoint}, {"CMD", &command}} {
		got := stage(1, v.name)
		if len(got) != 1 || json.Unmarshal([]byte(got[0]), v.dst) != nil {
			t.Fatalf("%s %v: want one, in exec (JSON) form", v.name, got)
		}
	}
	if !slices.Equal(command, []string{"serve", "--http", "0.0.0.0:8080"}) {
		t.Errorf("CMD %v, want serve --http 0.0.0.0:8080", command)
	}
	copies := stage(1, "COPY")
	if len(copies) != 1 || !strings.HasPrefix(copies[0], "--from=build /out/pgmcp ") || !strings.HasSuffix(copies[0], " "+entrypoint[0]) {
		t.Errorf("runtime COPY %v: want the builder's /out/pgmcp copied to the entry point %s", copies, entrypoint[0])
	}

	// The build stage, run here: its RUN commands in the source tree, with
	// its ARG defaults, /out in a temporary directory.
	out := t.TempDir()
	vars := argDefaults(ins, 0)
	vars["VERSION"] = "0.0.0-container.test"
	var builds int
	for _, run := range stage(0, "RUN") {
		script := strings.ReplaceAll(run, "/out/", out+"/")
		if strings.Contains(script, "go build") {
			builds++
		}
		cmd := exec.CommandContext(t.Context(), "sh", "-ec", script)
		cmd.Dir = "../.."
		cmd.Env = os.Environ()
		for k, v := range vars {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		start := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("RUN %s: %v\n%s", run, err, b)
		}
		t.Logf("RUN %s (%s)", run, time.Since(start).Round(time.Second))
	}
	if builds != 1 {
		t.Fatalf("the build stage has %d go build commands, want 1", builds)
	}
	bin := filepath.Join(out, "pgmcp")
	if v, err := exec.Command(bin, "version").Output(); err != nil || !strings.Contains(string(v), vars["VERSION"]) {
		t.Errorf("pgmcp version = %q (%v), want %s embedded", v, err, vars["VERSION"])
	}

	db := pgtest.NewDB(t, pgtest.Demo)
	env := []string{"PATH=" + os.Getenv("PATH"), "PGMCP_DATABASE_URL=" + db.ReaderURL, "PGMCP_ALLOWED_SCHEMAS=public"}
	// Without authentication the image's command refuses to start.
	cmd := exec.CommandContext(t.Context(), bin, command...)
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "authentication") {
		t.Errorf("the image's command without authentication: %v\n%s\nwant a refusal naming authentication", err, b)
	} else {
		t.Logf("without authentication: %s", strings.TrimSpace(string(b)))
	}

	// With a tokens file it serves (on a free port rather than 8080).
	tokens := filepath.Join(t.TempDir(), "tokens.json")
	if b, err := exec.Command(bin, "token", "new", "alice", "--add", tokens).CombinedOutput(); err != nil {
		t.Fatalf("pgmcp token new: %v\n%s", err, b)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd = exec.CommandContext(ctx, bin, "serve", "--http", "0.0.0.0:0")
	cmd.Env = append(env, "PGMCP_AUTH_TOKENS_FILE="+tokens)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := regexp.MustCompile(`url=http://\S+:(\d+)/mcp`)
	sc := bufio.NewScanner(stderr)
	var port string
	var logged []string
	for sc.Scan() {
		logged = append(logged, sc.Text())
		if m := url.FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
			break
		}
	}
	if port == "" {
		t.Fatalf("pgmcp did not say where it serves:\n%s", strings.Join(logged, "\n"))
	}
	go func() {
		for sc.Scan() {
		}
	}()
	for _, c := range []struct {
		path string
		want int
	}{{"/healthz", 200}, {"/readyz", 200}, {"/mcp", 401}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:"+port+c.path, strings.NewReader("{}"))
		if c.path != "/mcp" {
			req.Method = http.MethodGet
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s = %d, want %d", req.Method, c.path, resp.StatusCode, c.want)
		}
	}
	t.Logf("served on 0.0.0.0:%s with a tokens file: /healthz 200, /readyz 200, /mcp without a token 401", port)
}
