package sqlguard

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pgmcp/pgmcp/tests/pgtest"
)

// TestNodeSchemaCurrent fails when nodes_gen.go was generated for another
// pg_query_go: run `go generate ./sqlguard`. (At run time sqlguard then
// walks every field through protoreflect, so it stays fail-closed.)
func TestNodeSchemaCurrent(t *testing.T) {
	if len(schemaDrift) > 0 {
		t.Fatalf("nodes_gen.go is stale for %v: run go generate ./sqlguard", schemaDrift)
	}
}

// TestGeneratedFileUpToDate regenerates nodes_gen.go into a temporary file
// and compares.
func TestGeneratedFileUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	out := filepath.Join(t.TempDir(), "nodes_gen.out") // not *.go: go run would compile it
	cmd := exec.Command(goBin, "run", "gen_nodes.go", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen_nodes.go: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("nodes_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("nodes_gen.go is out of date: run go generate ./sqlguard")
	}
}

// nodeMessages returns, for every member of the Node oneof, a Node holding
// an empty message of that type.
func nodeMessages() map[string]*pg.Node {
	out := map[string]*pg.Node{}
	od := (&pg.Node{}).ProtoReflect().Descriptor().Oneofs().ByName("node")
	fields := od.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		n := &pg.Node{}
		m := n.ProtoReflect()
		m.Set(fd, m.NewField(fd))
		out[string(fd.Message().Name())] = n
	}
	return out
}

// TestEveryNodeTypeFailsClosed puts an empty node of every type of the
// pg_query registry into a select list, a WHERE clause and a FROM list and
// checks that a type outside the allowlist is always rejected (with
// unsupported_node or a more specific code) and never panics, and that an
// allowlisted type is never rejected as unsupported.
func TestEveryNodeTypeFailsClosed(t *testing.T) {
	allowed := map[string]bool{}
	for _, n := range allowedNodeTypes {
		allowed[n] = true
	}
	rejectCodes := map[Code]bool{CodeUnsupportedNode: true, CodeNotSelect: true, CodeDataModifyingCTE: true,
		CodeSelectInto: true, CodeLockingClause: true, CodeParameterNotAllowed: true}
	c := testPolicy().compiled()
	nodes := nodeMessages()
	if len(nodes) < 200 {
		t.Fatalf("only %d node types in the registry", len(nodes))
	}
	for _, slow := range []bool{false, true} {
		for name, n := range nodes {
			for _, place := range []string{"target", "where", "from"} {
				sel := &pg.SelectStmt{}
				switch place {
				case "target":
					sel.TargetList = []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: n}}}}
				case "where":
					sel.WhereClause = n
				case "from":
					sel.FromClause = []*pg.Node{n}
				}
				w := walker{c: c, sql: "", maxDepth: 100, slow: slow}
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%s in %s (slow=%v): panic %v", name, place, slow, r)
						}
					}()
					w.visitSelectStmt(sel)
				}()
				switch {
				case !allowed[name] && (w.err == nil || !rejectCodes[w.err.Code]):
					t.Errorf("%s in %s (slow=%v): not rejected as a node type: %v", name, place, slow, w.err)
				case allowed[name] && w.err != nil && strings.HasPrefix(w.err.Message, "unsupported construct "+name):
					t.Errorf("%s in %s (slow=%v): allowlisted but rejected: %v", name, place, slow, w.err)
				}
			}
		}
	}
}

// TestEveryFieldVisited hides a forbidden node (a ParamRef) in every
// message-valued field of every allowlisted type, one field at a time, and
// checks the walker finds it: the generated walk and the protoreflect
// fallback both visit every field.
func TestEveryFieldVisited(t *testing.T) {
	c := testPolicy().compiled()
	nodes := nodeMessages()
	param := func() *pg.Node { return &pg.Node{Node: &pg.Node_ParamRef{ParamRef: &pg.ParamRef{Number: 1}}} }
	checked := 0
	var inconclusive []string
	for _, name := range allowedNodeTypes {
		holder, ok := nodes[name]
		if !ok {
			continue // not a Node member (none today)
		}
		m := nodeInner(holder)
		fields := m.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.Kind() != protoreflect.MessageKind {
				continue
			}
			for _, slow := range []bool{false, true} {
				run := func(n *pg.Node) *Error {
					sel := &pg.SelectStmt{TargetList: []*pg.Node{{Node: &pg.Node_ResTarget{ResTarget: &pg.ResTarget{Val: n}}}}}
					if name == "SelectStmt" {
						sel = n.GetSelectStmt()
					}
					w := walker{c: c, maxDepth: 100, slow: slow}
					w.visitSelectStmt(sel)
					return w.err
				}
				if base := run(validNode(name)); base != nil {
					inconclusive = append(inconclusive, name+"."+string(fd.Name()))
					continue
				}
				n := validNode(name)
				if !plant(nodeInner(n), fd, param) {
					continue // a leaf type (Integer, String…): nothing can hide there
				}
				if err := run(n); err == nil {
					t.Errorf("%s.%s (slow=%v): a ParamRef there was not found", name, fd.Name(), slow)
				}
				checked++
			}
		}
	}
	t.Logf("%d field checks; inconclusive (the empty node is already rejected): %v", checked, inconclusive)
	if checked < 100 {
		t.Fatalf("only %d fields checked", checked)
	}
}

// validNode returns a node of the named type that the walker accepts on its
// own in a select list: the empty message, or a minimal valid one.
func validNode(name string) *pg.Node {
	str := func(s string) *pg.Node { return &pg.Node{Node: &pg.Node_String_{String_: &pg.String{Sval: s}}} }
	sel := func() *pg.Node { return &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: &pg.SelectStmt{}}} }
	rv := func() *pg.RangeVar { return &pg.RangeVar{Relname: "orders", Inh: true} }
	switch name {
	case "CommonTableExpr":
		return &pg.Node{Node: &pg.Node_CommonTableExpr{CommonTableExpr: &pg.CommonTableExpr{Ctename: "x", Ctequery: sel()}}}
	case "FuncCall":
		return &pg.Node{Node: &pg.Node_FuncCall{FuncCall: &pg.FuncCall{Funcname: []*pg.Node{str("lower")}}}}
	case "RangeSubselect":
		return &pg.Node{Node: &pg.Node_RangeSubselect{RangeSubselect: &pg.RangeSubselect{Subquery: sel()}}}
	case "RangeTableSample":
		return &pg.Node{Node: &pg.Node_RangeTableSample{RangeTableSample: &pg.RangeTableSample{
			Relation: &pg.Node{Node: &pg.Node_RangeVar{RangeVar: rv()}}, Method: []*pg.Node{str("system")}}}}
	case "RangeVar":
		return &pg.Node{Node: &pg.Node_RangeVar{RangeVar: rv()}}
	case "SQLValueFunction":
		return &pg.Node{Node: &pg.Node_SqlvalueFunction{SqlvalueFunction: &pg.SQLValueFunction{Op: pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE}}}
	case "TypeName":
		return &pg.Node{Node: &pg.Node_TypeName{TypeName: &pg.TypeName{Names: []*pg.Node{str("int4")}}}}
	}
	return nodeMessages()[name]
}

func nodeInner(n *pg.Node) protoreflect.Message {
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("node"))
	return m.Mutable(fd).Message()
}

// plant stores a forbidden node in field fd of m: directly when the field
// holds a Node, else inside a fresh message of the field's type (through its
// first Node-holding field, or a deeper typed field).
func plant(m protoreflect.Message, fd protoreflect.FieldDescriptor, param func() *pg.Node) bool {
	if fd.Message().Name() == "Node" {
		v := protoreflect.ValueOfMessage(param().ProtoReflect())
		if fd.IsList() {
			m.Mutable(fd).List().Append(v)
		} else {
			m.Set(fd, v)
		}
		return true
	}
	var child protoreflect.Message
	if fd.IsList() {
		child = m.Mutable(fd).List().AppendMutable().Message()
	} else {
		child = m.Mutable(fd).Message()
	}
	switch child.Descriptor().Name() {
	case "IntoClause", "LockingClause":
		return true // rejected by type already
	}
	cf := child.Descriptor().Fields()
	for i := 0; i < cf.Len(); i++ {
		f := cf.Get(i)
		if f.Kind() == protoreflect.MessageKind && f.Message().Name() == "Node" {
			return plant(child, f, param)
		}
	}
	for i := 0; i < cf.Len(); i++ {
		f := cf.Get(i)
		if f.Kind() == protoreflect.MessageKind && f.Message().FullName() != child.Descriptor().FullName() {
			if plant(child, f, param) {
				return true
			}
		}
	}
	return false // a leaf type (Integer, String…)
}

// TestReflectWalkEquivalent runs the corpora and the table tests through
// the protoreflect fallback walk and checks every verdict matches the
// generated walk.
func TestReflectWalkEquivalent(t *testing.T) {
	p := testPolicy()
	var sqls []string
	for _, tc := range guardCases {
		sqls = append(sqls, tc.sql)
	}
	for _, name := range []string{"guard_reject.jsonl", "guard_accept.jsonl"} {
		if pgtest.OptionalSharedPath(t, "corpus/"+name) != "" {
			for _, c := range loadCorpus(t, name) {
				sqls = append(sqls, c.SQL)
			}
		}
	}
	c := p.compiled()
	for _, s := range sqls {
		q1, e1 := check(s, c, false, 0)
		q2, e2 := check(s, c, true, 0)
		if (e1 == nil) != (e2 == nil) || (e1 != nil && *e1 != *e2) {
			t.Errorf("%.120q: fast %v, reflect %v", s, e1, e2)
			continue
		}
		if q1 != nil && (q1.SQL() != q2.SQL() || !equalStrings(q1.Relations(), q2.Relations()) ||
			!equalStrings(q1.Columns(), q2.Columns()) || !equalStrings(q1.Functions(), q2.Functions())) {
			t.Errorf("%.120q: accessors differ", s)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestForceReflectFlag checks the package switch routes Check through the
// fallback.
func TestForceReflectFlag(t *testing.T) {
	forceReflectWalk = true
	defer func() { forceReflectWalk = false }()
	_, err := Check("SELECT pg_sleep(1)", testPolicy())
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != CodeFunctionNotAllowed {
		t.Fatalf("got %v", err)
	}
}
