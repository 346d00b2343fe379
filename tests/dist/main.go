// Command dist builds pgmcp's release files (issue 21) into a directory
// (dist/ by default): per target an archive (tar.gz, zip for Windows) with
// the binary, README and INSTALL; a Claude Desktop bundle (.mcpb, packed by
// the official @anthropic-ai/mcpb CLI, pinned in this directory's
// package.json); checksums.txt (SHA-256); and server.json, the MCP Registry
// entry listing the bundles and the container image.
//
//	go run ./tests/dist                       # every target this machine can build
//	go run ./tests/dist --targets linux/amd64 --version 1.2.3
//
// pgmcp needs cgo (pg_query is C), so each target needs a C compiler for
// it: the host's own cc; aarch64-linux-gnu-gcc for linux/arm64 (Debian:
// gcc-aarch64-linux-gnu); x86_64-w64-mingw32-gcc for windows/amd64
// (gcc-mingw-w64-x86-64). darwin/amd64 and darwin/arm64 build on a macOS
// machine with Xcode's clang (clang -arch). Targets without their compiler
// are skipped and said so, unless asked for by --targets.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// Where a release's files are published: the registry entry points at
// them.
const (
	releaseBase = "https://github.com/pgmcp/pgmcp/releases/download"
	imageRepo   = "ghcr.io/pgmcp/pgmcp"
)

//go:embed manifest.json
var manifestTemplate []byte

//go:embed server.json
var serverTemplate []byte

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

// target is a platform to build for.
type target struct {
	GOOS, GOARCH string
	cc           string   // C compiler; "" when none was found
	ccArgs       []string // extra CC words (clang -arch)
	ldflags      string   // CGO_LDFLAGS
	why          string   // why there is no compiler
}

func (t target) String() string { return t.GOOS + "/" + t.GOARCH }

func (t target) exe() string {
	if t.GOOS == "windows" {
		return "pgmcp.exe"
	}
	return "pgmcp"
}

// mcpbPlatform is the bundle manifest's name of the OS.
func (t target) mcpbPlatform() string {
	if t.GOOS == "windows" {
		return "win32"
	}
	return t.GOOS
}

// knownTargets are the targets dist knows how to build, each with the C
// compiler it needs, looked up on PATH.
func knownTargets() []target {
	var out []target
	add := func(goos, goarch string, cc []string, ldflags, pkg string) {
		t := target{GOOS: goos, GOARCH: goarch, ldflags: ldflags}
		if _, err := exec.LookPath(cc[0]); err == nil {
			t.cc, t.ccArgs = cc[0], cc[1:] // by name: the same CC value as a plain go build
		} else {
			t.why = fmt.Sprintf("no %s on PATH (%s)", cc[0], pkg)
		}
		out = append(out, t)
	}
	host := runtime.GOOS + "/" + runtime.GOARCH
	if host == "linux/amd64" {
		add("linux", "amd64", []string{"gcc"}, "", "Debian: gcc")
	} else {
		add("linux", "amd64", []string{"x86_64-linux-gnu-gcc"}, "", "Debian: gcc-x86-64-linux-gnu")
	}
	if host == "linux/arm64" {
		add("linux", "arm64", []string{"gcc"}, "", "Debian: gcc")
	} else {
		add("linux", "arm64", []string{"aarch64-linux-gnu-gcc"}, "", "Debian: gcc-aarch64-linux-gnu")
	}
	// pg_query is built with -fstack-protector: mingw's libssp provides
	// it, linked statically so the .exe needs only Windows' own DLLs.
	add("windows", "amd64", []string{"x86_64-w64-mingw32-gcc"}, "-static -lssp", "Debian: gcc-mingw-w64-x86-64")
	for _, arch := range []string{"amd64", "arm64"} {
		t := target{GOOS: "darwin", GOARCH: arch, why: "builds on macOS only (Xcode's clang)"}
		if runtime.GOOS == "darwin" {
			if _, err := exec.LookPath("clang"); err == nil {
				clangArch := map[string]string{"amd64": "x86_64", "arm64": "arm64"}[arch]
				t.cc, t.ccArgs, t.why = "clang", []string{"-arch", clangArch}, ""
			}
		}
		out = append(out, t)
	}
	return out
}

type options struct {
	out, version, targets string
	bundles               bool
	npm                   string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "dist", "directory to write into (emptied first)")
	fs.StringVar(&o.version, "version", "", "version to embed and name the files with (default: from git describe)")
	fs.StringVar(&o.targets, "targets", "", "comma-separated GOOS/GOARCH to build (default: every known target whose C compiler is on PATH); a target asked for must build")
	fs.BoolVar(&o.bundles, "mcpb", true, "also pack a Claude Desktop bundle per target (needs Node and npm)")
	fs.StringVar(&o.npm, "npm", "npm", "npm to install the bundle CLI with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if o.version == "" {
		o.version = gitVersion(ctx, root)
	}
	if !semver.MatchString(o.version) {
		return fmt.Errorf("version %q is not a semantic version (1.2.3, 1.2.3-rc.1)", o.version)
	}
	targets, err := chooseTargets(o.targets, stdout)
	if err != nil {
		return err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var mcpb []string
	if o.bundles {
		if mcpb, err = installMCPB(ctx, root, o.npm, stderr); err != nil {
			return err
		}
	}
	var files []string
	var bundles []bundle
	for _, t := range targets {
		fmt.Fprintf(stdout, "building %s (CC=%s)\n", t, strings.Join(append([]string{filepath.Base(t.cc)}, t.ccArgs...), " "))
		start := time.Now()
		stage := filepath.Join(out, ".stage", t.GOOS+"_"+t.GOARCH)
		bin := filepath.Join(stage, t.exe())
		if err := build(ctx, root, t, o.version, bin, stderr); err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		kind, err := identify(bin)
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		fmt.Fprintf(stdout, "  %s: %s, built in %s\n", t.exe(), kind, time.Since(start).Round(time.Second))
		base := fmt.Sprintf("pgmcp_%s_%s_%s", o.version, t.GOOS, t.GOARCH)
		archive, err := writeArchive(root, out, base, t, bin)
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		files = append(files, archive)
		if mcpb != nil {
			b, err := packBundle(ctx, root, mcpb, out, base, t, o.version, bin, stderr)
			if err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			files = append(files, b.file)
			bundles = append(bundles, b)
		}
	}
	if err := os.RemoveAll(filepath.Join(out, ".stage")); err != nil {
		return err
	}
	sums, err := writeChecksums(out, files)
	if err != nil {
		return err
	}
	for i := range bundles {
		bundles[i].sha256 = sums[filepath.Base(bundles[i].file)]
	}
	entry, err := registryEntry(o.version, bundles)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "server.json"), entry, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s:\n", o.out)
	for _, f := range append(files, filepath.Join(out, "checksums.txt"), filepath.Join(out, "server.json")) {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-48s %6.1f MB\n", filepath.Base(f), float64(st.Size())/1e6)
	}
	return nil
}

// semver is the shape of a version the bundle and the registry accept.
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// gitVersion is v-less `git describe --tags` when it names a release tag,
// else 0.0.0-dev.<commit>; "-dirty" marks uncommitted changes.
func gitVersion(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	b, err := cmd.Output()
	d := strings.TrimSpace(string(b))
	if err != nil || d == "" {
		return "0.0.0-dev"
	}
	if v := strings.TrimPrefix(d, "v"); semver.MatchString(v) {
		return v
	}
	return "0.0.0-dev." + strings.ReplaceAll(d, "-dirty", ".dirty")
}

// repoRoot is the directory of the go.mod that the go command finds from
// the working directory, which must be pgmcp's.
func repoRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(b))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run dist inside the pgmcp repository (go env GOMOD: %q, %v)", mod, err)
	}
	root := filepath.Dir(mod)
	if _, err := os.Stat(filepath.Join(root, "cmd", "pgmcp")); err != nil {
		return "", fmt.Errorf("%s is not pgmcp's module: %w", root, err)
	}
	return root, nil
}

// chooseTargets picks the targets to build: those asked for (each must
// have its compiler), or every known one that has it.
func chooseTargets(asked string, stdout io.Writer) ([]target, error) {
	known := knownTargets()
	if asked == "" {
		var out []target
		for _, t := range known {
			if t.cc == "" {
				fmt.Fprintf(stdout, "skipping %s: %s\n", t, t.why)
				continue
			}
			out = append(out, t)
		}
		return out, nil
	}
	var out []target
	for _, name := range strings.Split(asked, ",") {
		i := slices.IndexFunc(known, func(t target) bool { return t.String() == strings.TrimSpace(name) })
		switch {
		case i < 0:
			return nil, fmt.Errorf("unknown target %q", name)
		case known[i].cc == "":
			return nil, fmt.Errorf("cannot build %s: %s", known[i], known[i].why)
		}
		out = append(out, known[i])
	}
	return out, nil
}

// build compiles cmd/pgmcp for t into bin.
func build(ctx context.Context, root string, t target, version, bin string, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/pgmcp")
	cmd.Dir = root
	cc := strings.Join(append([]string{t.cc}, t.ccArgs...), " ")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOOS="+t.GOOS, "GOARCH="+t.GOARCH, "CC="+cc, "CGO_LDFLAGS="+t.ldflags)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	return cmd.Run()
}

// identify says what kind of executable bin is, read from its headers
// (what file(1) says of it).
func identify(bin string) (string, error) {
	if f, err := elf.Open(bin); err == nil {
		defer f.Close()
		return fmt.Sprintf("ELF %s executable (%s)", strings.TrimPrefix(f.Machine.String(), "EM_"), f.Class), nil
	}
	if f, err := pe.Open(bin); err == nil {
		defer f.Close()
		return fmt.Sprintf("PE executable, machine %#x", f.Machine), nil
	}
	if f, err := macho.Open(bin); err == nil {
		defer f.Close()
		return "Mach-O executable, " + f.Cpu.String(), nil
	}
	return "", fmt.Errorf("%s is not an executable this tool can read", bin)
}

// archiveFiles are what an archive holds besides the binary: repository
// path → name in the archive.
var archiveFiles = [][2]string{{"README.md", "README.md"}, {"docs/INSTALL.md", "INSTALL.md"}}

// writeArchive writes base.tar.gz (base.zip for Windows) holding a
// directory base with the binary and archiveFiles.
func writeArchive(root, out, base string, t target, bin string) (string, error) {
	type entry struct {
		name string
		path string
		mode int64
	}
	entries := []entry{{base + "/" + t.exe(), bin, 0o755}}
	for _, f := range archiveFiles {
		entries = append(entries, entry{base + "/" + f[1], filepath.Join(root, f[0]), 0o644})
	}
	if t.GOOS == "windows" {
		name := filepath.Join(out, base+".zip")
		f, err := os.Create(name)
		if err != nil {
			return "", err
		}
		zw := zip.NewWriter(f)
		for _, e := range entries {
			data, err := os.ReadFile(e.path)
			if err != nil {
				return "", err
			}
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: time.Unix(0, 0)}
			h.SetMode(os.FileMode(e.mode))
			w, err := zw.CreateHeader(h)
			if err != nil {
				return "", err
			}
			if _, err := w.Write(data); err != nil {
				return "", err
			}
		}
		if err := zw.Close(); err != nil {
			return "", err
		}
		return name, f.Close()
	}
	name := filepath.Join(out, base+".tar.gz")
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		data, err := os.ReadFile(e.path)
		if err != nil {
			return "", err
		}
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return "", err
		}
		if _, err := tw.Write(data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := gz.Close(); err != nil {
		return "", err
	}
	return name, f.Close()
}

// installMCPB installs the pinned bundle CLI (npm ci in tests/dist) and
// returns the command that runs it.
func installMCPB(ctx context.Context, root, npm string, stderr io.Writer) ([]string, error) {
	dir := filepath.Join(root, "tests", "dist")
	cli := filepath.Join(dir, "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = stderr, stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("npm ci in %s (the bundles need Node and npm; --mcpb=false builds without them): %w", dir, err)
		}
	}
	if _, err := os.Stat(cli); err != nil {
		return nil, fmt.Errorf("the mcpb CLI is not where it was expected: %w", err)
	}
	return []string{"node", cli}, nil
}

// bundle is a packed .mcpb.
type bundle struct {
	file   string
	target target
	sha256 string
}

// Manifest fills manifestTemplate for version and t: the manifest of the
// bundle of that target (its binary under server/).
func Manifest(version string, t target) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(manifestTemplate, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	m["version"] = version
	server := m["server"].(map[string]any)
	server["entry_point"] = "server/" + t.exe()
	m["compatibility"].(map[string]any)["platforms"] = []string{t.mcpbPlatform()}
	return json.MarshalIndent(m, "", "  ")
}

// packBundle lays out the bundle's directory (manifest.json,
// server/pgmcp) and packs it with mcpb into base.mcpb.
func packBundle(ctx context.Context, root string, mcpb []string, out, base string, t target, version, bin string, stderr io.Writer) (bundle, error) {
	dir := filepath.Join(out, ".stage", "bundle-"+t.GOOS+"_"+t.GOARCH)
	if err := os.MkdirAll(filepath.Join(dir, "server"), 0o755); err != nil {
		return bundle{}, err
	}
	manifest, err := Manifest(version, t)
	if err != nil {
		return bundle{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), manifest, 0o644); err != nil {
		return bundle{}, err
	}
	if err := copyFile(bin, filepath.Join(dir, "server", t.exe()), 0o755); err != nil {
		return bundle{}, err
	}
	file := filepath.Join(out, base+".mcpb")
	for _, step := range [][]string{{"validate", filepath.Join(dir, "manifest.json")}, {"pack", dir, file}} {
		cmd := exec.CommandContext(ctx, mcpb[0], append(mcpb[1:], step...)...)
		cmd.Dir = root
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return bundle{}, fmt.Errorf("mcpb %s: %w\n%s", step[0], err, buf.String())
		}
		if stderr != nil {
			fmt.Fprintf(stderr, "mcpb %s %s: ok\n", step[0], t)
		}
	}
	return bundle{file: file, target: t}, nil
}

func copyFile(from, to string, mode os.FileMode) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, mode)
}

// writeChecksums writes checksums.txt (sha256sum's format) of files and
// returns the sums by file name.
func writeChecksums(out string, files []string) (map[string]string, error) {
	sums := map[string]string{}
	var lines []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		h := sha256.Sum256(data)
		sums[filepath.Base(f)] = hex.EncodeToString(h[:])
		lines = append(lines, sums[filepath.Base(f)]+"  "+filepath.Base(f))
	}
	sort.Strings(lines)
	return sums, os.WriteFile(filepath.Join(out, "checksums.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// registryEntry fills serverTemplate for version: one mcpb package per
// bundle (its release URL and SHA-256), the container image at version.
func registryEntry(version string, bundles []bundle) ([]byte, error) {
	var s map[string]any
	if err := json.Unmarshal(serverTemplate, &s); err != nil {
		return nil, fmt.Errorf("server.json: %w", err)
	}
	s["version"] = version
	var packages []any
	for _, b := range bundles {
		packages = append(packages, map[string]any{
			"registryType": "mcpb",
			"identifier":   fmt.Sprintf("%s/v%s/%s", releaseBase, version, filepath.Base(b.file)),
			"version":      version,
			"fileSha256":   b.sha256,
			"transport":    map[string]any{"type": "stdio"},
		})
	}
	for _, p := range s["packages"].([]any) {
		p := p.(map[string]any)
		if p["registryType"] == "oci" {
			p["identifier"] = imageRepo + ":" + version
		}
		packages = append(packages, p)
	}
	s["packages"] = packages
	return json.MarshalIndent(s, "", "  ")
}
