package contract

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the code table of docs/ERRORS.md")

// The markers around the generated table in docs/ERRORS.md.
const (
	beginMarker = "<!-- codes:begin -->"
	endMarker   = "<!-- codes:end -->"
)

// srcPackage is a package of the module with its parsed non-test files.
type srcPackage struct {
	path  string // import path
	name  string // package name
	files []*srcFile
	// hasCode: the package declares type Code string.
	hasCode bool
	// consts are its package-level constants, by name.
	consts map[string]*constDecl
}

type srcFile struct {
	name    string // relative to the module
	ast     *ast.File
	imports map[string]string // local name → import path
}

// constDecl is one package-level constant: its (possibly inherited) type
// and value expressions, as written.
type constDecl struct {
	pkg   *srcPackage
	file  *srcFile
	name  string
	typ   ast.Expr // nil: untyped, or typed by its value
	value ast.Expr // nil: no value (iota's implicit repetition of nothing)
	pos   token.Position
	doc   string // its doc comment, "" if none

	// Resolved.
	resolving bool
	done      bool
	codeOf    string // import path of the package whose Code is its type; "" if not a Code
	str       string // its string value
	isStr     bool   // str is known
}

// code is a constant of a package's Code type.
type code struct {
	pkg     string // import path relative to the module
	name    string
	value   string
	pos     token.Position
	meaning string // one line, from the doc comment
}

// loadPackages parses the non-test files of every package of the module
// except the test programs under tests/. Files a build constraint leaves
// out on this platform are read too (a code declared for Windows only is
// still a code), when they belong to the package.
func loadPackages(t *testing.T, root string, fset *token.FileSet) []*srcPackage {
	t.Helper()
	var pkgs []*srcPackage
	for _, row := range goList(t, "{{.ImportPath}}\t{{.Dir}}\t{{.Name}}\t{{join .GoFiles \" \"}} {{join .CgoFiles \" \"}}\t{{join .IgnoredGoFiles \" \"}}") {
		if len(row) != 5 {
			t.Fatalf("go list: unexpected line %q", row)
		}
		path, dir, name := row[0], row[1], row[2]
		if r := rel(path); r == "tests" || strings.HasPrefix(r, "tests/") {
			continue
		}
		p := &srcPackage{path: path, name: name, consts: map[string]*constDecl{}}
		files := fields(row[3])
		for _, f := range fields(row[4]) {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
		slices.Sort(files)
		for _, f := range slices.Compact(files) {
			full := filepath.Join(dir, f)
			af, err := parser.ParseFile(fset, full, nil, parser.ParseComments)
			if err != nil {
				t.Fatalf("parse %s: %v", full, err)
			}
			if af.Name.Name != name {
				continue // a generator (//go:build ignore, package main) beside the package
			}
			relName, err := filepath.Rel(root, full)
			if err != nil {
				relName = full
			}
			sf := &srcFile{name: filepath.ToSlash(relName), ast: af, imports: map[string]string{}}
			for _, imp := range af.Imports {
				ip, _ := strconv.Unquote(imp.Path.Value)
				local := ip[strings.LastIndex(ip, "/")+1:]
				if imp.Name != nil {
					local = imp.Name.Name
				}
				sf.imports[local] = ip
			}
			p.files = append(p.files, sf)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// collect finds the Code types and the package-level constants.
func collect(fset *token.FileSet, pkgs []*srcPackage) {
	for _, p := range pkgs {
		for _, f := range p.files {
			for _, d := range f.ast.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok {
					continue
				}
				switch gd.Tok {
				case token.TYPE:
					for _, s := range gd.Specs {
						ts := s.(*ast.TypeSpec)
						if id, ok := ts.Type.(*ast.Ident); ok && ts.Name.Name == "Code" && !ts.Assign.IsValid() && ts.TypeParams == nil && id.Name == "string" {
							p.hasCode = true
						}
					}
				case token.CONST:
					var typ ast.Expr
					var values []ast.Expr
					for _, s := range gd.Specs {
						vs := s.(*ast.ValueSpec)
						if vs.Type != nil || len(vs.Values) > 0 {
							// A spec with neither repeats the previous one's.
							typ, values = vs.Type, vs.Values
						}
						doc := commentText(vs.Doc)
						if doc == "" {
							doc = commentText(vs.Comment)
						}
						if doc == "" && len(gd.Specs) == 1 {
							doc = commentText(gd.Doc)
						}
						for i, n := range vs.Names {
							if n.Name == "_" {
								continue
							}
							c := &constDecl{pkg: p, file: f, name: n.Name, typ: typ, pos: fset.Position(n.Pos()), doc: doc}
							if i < len(values) {
								c.value = values[i]
							}
							p.consts[n.Name] = c
						}
					}
				}
			}
		}
	}
}

func commentText(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.TrimSpace(g.Text())
}

// resolver evaluates constant expressions as far as the catalogue needs:
// string literals, parentheses, +, conversions to Code or string, and
// references to other constants of the module.
type resolver struct {
	root   string // the module directory
	byPath map[string]*srcPackage
}

func (r *resolver) resolve(c *constDecl) {
	if c.done || c.resolving {
		return
	}
	c.resolving = true
	defer func() { c.resolving, c.done = false, true }()
	if c.typ != nil {
		c.codeOf = r.codeType(c.file, c.pkg, c.typ)
	} else if c.value != nil {
		c.codeOf = r.exprCodeType(c.file, c.pkg, c.value)
	}
	if c.value != nil {
		c.str, c.isStr = r.exprString(c.file, c.pkg, c.value)
	}
}

// codeType says whether the type expression typ names a Code type of
// the module: the import path of its package, or "".
func (r *resolver) codeType(f *srcFile, p *srcPackage, typ ast.Expr) string {
	switch x := typ.(type) {
	case *ast.Ident:
		if x.Name == "Code" && p.hasCode {
			return p.path
		}
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok && x.Sel.Name == "Code" {
			if q, ok := r.byPath[f.imports[id.Name]]; ok && q.hasCode {
				return q.path
			}
		}
	case *ast.ParenExpr:
		return r.codeType(f, p, x.X)
	}
	return ""
}

// lookup finds the constant an identifier or pkg.Name selector refers to.
func (r *resolver) lookup(f *srcFile, p *srcPackage, e ast.Expr) *constDecl {
	switch x := e.(type) {
	case *ast.Ident:
		return p.consts[x.Name]
	case *ast.SelectorExpr:
		if id, ok := x.X.(*ast.Ident); ok {
			if q, ok := r.byPath[f.imports[id.Name]]; ok {
				return q.consts[x.Sel.Name]
			}
		}
	}
	return nil
}

// exprCodeType is the Code type (its package's import path) of an untyped
// constant declaration's value, or "".
func (r *resolver) exprCodeType(f *srcFile, p *srcPackage, e ast.Expr) string {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return r.exprCodeType(f, p, x.X)
	case *ast.CallExpr:
		if len(x.Args) == 1 {
			return r.codeType(f, p, x.Fun)
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			if t := r.exprCodeType(f, p, x.X); t != "" {
				return t
			}
			return r.exprCodeType(f, p, x.Y)
		}
	case *ast.Ident, *ast.SelectorExpr:
		if c := r.lookup(f, p, x); c != nil {
			r.resolve(c)
			return c.codeOf
		}
	}
	return ""
}

// exprString is the string value of a constant expression, when it can
// be told.
func (r *resolver) exprString(f *srcFile, p *srcPackage, e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, err := strconv.Unquote(x.Value)
			return s, err == nil
		}
	case *ast.ParenExpr:
		return r.exprString(f, p, x.X)
	case *ast.CallExpr:
		if len(x.Args) == 1 {
			if id, ok := x.Fun.(*ast.Ident); (ok && id.Name == "string") || r.codeType(f, p, x.Fun) != "" {
				return r.exprString(f, p, x.Args[0])
			}
		}
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			a, ok1 := r.exprString(f, p, x.X)
			b, ok2 := r.exprString(f, p, x.Y)
			return a + b, ok1 && ok2
		}
	case *ast.Ident, *ast.SelectorExpr:
		if c := r.lookup(f, p, x); c != nil {
			r.resolve(c)
			return c.str, c.isStr
		}
	}
	return "", false
}

// stringLit is the value of a string literal (only a literal).
func stringLit(e ast.Expr) (string, bool) {
	for {
		pe, ok := e.(*ast.ParenExpr)
		if !ok {
			break
		}
		e = pe.X
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// isCodeField reports an expression that reads a field named Code
// (x.Code, or string(x.Code)).
func isCodeField(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return isCodeField(x.X)
	case *ast.SelectorExpr:
		return x.Sel.Name == "Code"
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "string" && len(x.Args) == 1 {
			return isCodeField(x.Args[0])
		}
	}
	return false
}

// findLiterals reports string literals used as codes outside constant
// declarations: conversions Code("x") / pkg.Code("x") (any literal: a
// code must be a declared constant), and, for a value that is a declared
// code, struct fields Code: "x", comparisons and assignments with x.Code,
// and switch cases on x.Code.
func findLiterals(fset *token.FileSet, r *resolver, pkgs []*srcPackage, known map[string][]code) []string {
	var problems []string
	report := func(n ast.Node, format string, args ...any) {
		pos := fset.Position(n.Pos())
		problems = append(problems, fmt.Sprintf("%s:%d: ", r.relFile(pos.Filename), pos.Line)+fmt.Sprintf(format, args...))
	}
	declared := func(s string) string {
		if cs, ok := known[s]; ok {
			return fmt.Sprintf("%s.%s", cs[0].pkg, cs[0].name)
		}
		return ""
	}
	for _, p := range pkgs {
		for _, f := range p.files {
			ast.Inspect(f.ast, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.GenDecl:
					return x.Tok != token.CONST // a code's own declaration
				case *ast.CallExpr:
					if len(x.Args) == 1 && r.codeType(f, p, x.Fun) != "" {
						if s, ok := stringLit(x.Args[0]); ok {
							if c := declared(s); c != "" {
								report(x, "code %q written as a literal conversion; use %s", s, c)
							} else {
								report(x, "code %q written as a literal conversion; declare it as a Code constant with a doc comment", s)
							}
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := x.Key.(*ast.Ident); ok && k.Name == "Code" {
						if s, ok := stringLit(x.Value); ok {
							if c := declared(s); c != "" {
								report(x, "Code: %q is a literal; use %s", s, c)
							}
						}
					}
				case *ast.BinaryExpr:
					if x.Op == token.EQL || x.Op == token.NEQ {
						for _, pair := range [][2]ast.Expr{{x.X, x.Y}, {x.Y, x.X}} {
							if isCodeField(pair[0]) {
								if s, ok := stringLit(pair[1]); ok {
									if c := declared(s); c != "" {
										report(x, "compares .Code with the literal %q; use %s", s, c)
									}
								}
							}
						}
					}
				case *ast.AssignStmt:
					if len(x.Lhs) == len(x.Rhs) {
						for i := range x.Lhs {
							if isCodeField(x.Lhs[i]) {
								if s, ok := stringLit(x.Rhs[i]); ok {
									if c := declared(s); c != "" {
										report(x, "assigns the literal %q to .Code; use %s", s, c)
									}
								}
							}
						}
					}
				case *ast.SwitchStmt:
					if x.Tag != nil && isCodeField(x.Tag) {
						for _, st := range x.Body.List {
							for _, e := range st.(*ast.CaseClause).List {
								if s, ok := stringLit(e); ok {
									if c := declared(s); c != "" {
										report(e, "switch on .Code has the literal case %q; use %s", s, c)
									}
								}
							}
						}
					}
				}
				return true
			})
		}
	}
	return problems
}

// relFile is a file name relative to the module, for messages.
func (r *resolver) relFile(name string) string {
	if rn, err := filepath.Rel(r.root, name); err == nil {
		return filepath.ToSlash(rn)
	}
	return name
}

// meaning makes a doc comment one line for the table: its first sentence,
// without the constant's name in front, with a capital letter.
func meaning(name, doc string) string {
	s := strings.Join(strings.Fields(doc), " ")
	for _, prefix := range []string{name + ": ", name + " is the code of ", name + " means ", name + " is ", name + " "} {
		if rest, ok := strings.CutPrefix(s, prefix); ok {
			s = rest
			break
		}
	}
	s = firstSentence(s)
	// A capital letter, unless the first word is a name (t.f, pg_catalog).
	if word, _, _ := strings.Cut(s, " "); s != "" && strings.IndexFunc(strings.TrimRight(word, ",:;"), func(r rune) bool { return !unicode.IsLower(r) }) < 0 {
		r, n := utf8.DecodeRuneInString(s)
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

// firstSentence cuts s after its first ". " followed by a capital letter,
// outside parentheses.
func firstSentence(s string) string {
	depth := 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		case '.':
			if depth == 0 && i+2 < len(s) && s[i+1] == ' ' {
				if next, _ := utf8.DecodeRuneInString(s[i+2:]); unicode.IsUpper(next) {
					return s[:i+1]
				}
			}
		}
	}
	return s
}

// catalogue finds every error code of the module (the constants of a
// package's Code type) and the problems of the catalogue.
func catalogue(t *testing.T, root string) (codes []code, problems []string) {
	t.Helper()
	fset := token.NewFileSet()
	pkgs := loadPackages(t, root, fset)
	collect(fset, pkgs)
	r := &resolver{root: root, byPath: map[string]*srcPackage{}}
	withCode := 0
	for _, p := range pkgs {
		r.byPath[p.path] = p
		if p.hasCode {
			withCode++
		}
	}
	if withCode < 6 {
		t.Fatalf("only %d packages declare type Code string; the catalogue cannot be complete", withCode)
	}

	for _, p := range pkgs {
		for _, c := range p.consts {
			r.resolve(c)
			if c.codeOf == "" {
				continue
			}
			if !c.isStr {
				problems = append(problems, fmt.Sprintf("%s:%d: %s.%s: the value of a code must be a string constant the test can read",
					r.relFile(c.pos.Filename), c.pos.Line, rel(p.path), c.name))
				continue
			}
			if c.doc == "" {
				problems = append(problems, fmt.Sprintf("%s:%d: code %s.%s (%q) has no doc comment: say what it means, for docs/ERRORS.md",
					r.relFile(c.pos.Filename), c.pos.Line, rel(p.path), c.name, c.str))
			}
			codes = append(codes, code{pkg: rel(p.path), name: c.name, value: c.str, pos: c.pos, meaning: meaning(c.name, c.doc)})
		}
	}
	slices.SortFunc(codes, func(a, b code) int {
		return strings.Compare(a.pkg+"\x00"+a.value+"\x00"+a.name, b.pkg+"\x00"+b.value+"\x00"+b.name)
	})

	byValue := map[string][]code{}
	for _, c := range codes {
		byValue[c.value] = append(byValue[c.value], c)
	}
	for _, c := range codes {
		same := byValue[c.value]
		if len(same) < 2 || same[0].name != c.name || same[0].pkg != c.pkg {
			continue
		}
		var where []string
		for _, s := range same {
			where = append(where, fmt.Sprintf("%s.%s (%s:%d)", s.pkg, s.name, r.relFile(s.pos.Filename), s.pos.Line))
		}
		problems = append(problems, fmt.Sprintf("code %q is declared %d times: %s; a code means one thing, and clients tell failures apart by it",
			c.value, len(same), strings.Join(where, ", ")))
	}
	problems = append(problems, findLiterals(fset, r, pkgs, byValue)...)
	slices.SortFunc(problems, compareProblems)
	return codes, problems
}

// compareProblems orders "file:line: text" by file, then line number.
func compareProblems(a, b string) int {
	split := func(s string) (string, int, string) {
		file, rest, _ := strings.Cut(s, ":")
		num, text, _ := strings.Cut(rest, ":")
		n, err := strconv.Atoi(num)
		if err != nil {
			return "", 0, s
		}
		return file, n, text
	}
	af, al, at := split(a)
	bf, bl, bt := split(b)
	if c := strings.Compare(af, bf); c != 0 {
		return c
	}
	if al != bl {
		return al - bl
	}
	return strings.Compare(at, bt)
}

// codeTable is the Markdown table of docs/ERRORS.md.
func codeTable(codes []code) string {
	var b strings.Builder
	b.WriteString("| code | package | meaning |\n|---|---|---|\n")
	for _, c := range codes {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", c.value, c.pkg, c.meaning)
	}
	return b.String()
}

// TestErrorCodeCatalogue checks the error codes, the public contract to
// clients: every constant of a package's Code type has a value no other
// code has and a doc comment, no code is written as a literal where a
// code is used, and docs/ERRORS.md lists them all. Rewrite the table with
//
//	go test ./tests/contract -run TestErrorCodeCatalogue -update
func TestErrorCodeCatalogue(t *testing.T) {
	root := moduleDir(t)
	codes, problems := catalogue(t, root)
	for _, p := range problems {
		t.Error(p)
	}
	if len(codes) == 0 {
		t.Fatal("no error codes found")
	}

	doc := filepath.Join(root, "docs", "ERRORS.md")
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, beginMarker)
	end := strings.Index(s, endMarker)
	if start < 0 || end < start {
		t.Fatalf("docs/ERRORS.md lacks the markers %s and %s", beginMarker, endMarker)
	}
	start += len(beginMarker + "\n")
	got, want := s[start:end], codeTable(codes)
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(doc, []byte(s[:start]+want+s[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/ERRORS.md's code table is stale; run: go test ./tests/contract -run TestErrorCodeCatalogue -update\n%s",
		firstDifference(got, want))
}

// firstDifference shows the first line where got and want differ.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d of the table:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}
