//go:build ignore

// gen_nodes writes nodes_gen.go: the node-type allowlist of sqlguard compiled
// into a type switch, and one walk function per allowlisted parse-node type
// that visits every message-valued field of that type.
//
// The field lists come from the pg_query protobuf descriptors through
// protoreflect, never from a hand-written list, so "every field is visited"
// holds by construction. Run it after changing the allowlist below or after
// upgrading pg_query_go:
//
//	go generate ./sqlguard
//
// TestNodeSchemaCurrent fails when nodes_gen.go no longer matches the linked
// pg_query_go, and at run time sqlguard falls back to a protoreflect walk of
// every field (see schema.go) rather than skip a field it does not know.
package main

import (
	"bytes"
	"fmt"
	"go/format"
	"log"
	"os"
	"reflect"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// allowed is the node-type allowlist: every parse-tree message type a
// validated query may contain. Anything else is rejected wherever it appears.
var allowed = []string{
	// statements and FROM items
	"SelectStmt", "WithClause", "CommonTableExpr", "CTESearchClause", "CTECycleClause",
	"RangeVar", "RangeSubselect", "RangeFunction", "RangeTableSample", "JoinExpr", "Alias",
	"ColumnDef", // column definition list of a function in FROM: f(...) AS t(a int)
	// target list, ordering, grouping, windows
	"ResTarget", "SortBy", "WindowDef", "GroupingSet", "GroupingFunc",
	// expressions
	"ColumnRef", "A_Star", "A_Const", "A_Expr", "BoolExpr", "NullTest", "BooleanTest",
	"CaseExpr", "CaseWhen", "CoalesceExpr", "MinMaxExpr", "RowExpr", "A_ArrayExpr",
	"A_Indirection", "A_Indices", "FuncCall", "NamedArgExpr", "TypeCast", "TypeName",
	"CollateClause", "SubLink", "SQLValueFunction",
	// values
	"List", "String", "Integer", "Float", "Boolean", "BitString",
}

// handled are the allowlisted types with a hand-written visit method in
// walker.go (it may skip fields it visits itself; the rest go through the
// generated walk function).
var handled = []string{
	"SelectStmt", "WithClause", "CommonTableExpr", "RangeVar", "RangeSubselect", "RangeFunction",
	"RangeTableSample", "JoinExpr", "ColumnRef", "FuncCall", "A_Expr", "SubLink", "SortBy",
	"SQLValueFunction", "TypeName", "A_Indirection", "TypeCast",
}

type field struct {
	proto   string // proto field name
	goName  string // Go struct field name
	index   int    // bit index
	msg     string // message type name, "" for scalars
	list    bool
	oneof   string // Go name of the oneof interface field, when a member
	wrapper string // Go wrapper type of a oneof member
}

func main() {
	out := "nodes_gen.go"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	src, err := generate()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func messages() map[string]protoreflect.MessageDescriptor {
	m := map[string]protoreflect.MessageDescriptor{}
	msgs := pg.File_pg_query_proto.Messages()
	for i := 0; i < msgs.Len(); i++ {
		d := msgs.Get(i)
		m[string(d.Name())] = d
	}
	return m
}

func goType(d protoreflect.MessageDescriptor) reflect.Type {
	var zero protoreflect.ProtoMessage
	for _, v := range allGoMessages() {
		if v.ProtoReflect().Descriptor() == d {
			zero = v
		}
	}
	if zero == nil {
		log.Fatalf("no Go type for %s", d.Name())
	}
	return reflect.TypeOf(zero).Elem()
}

// allGoMessages returns one zero value of every message type of the file,
// found through the oneof wrappers of Node and the fields reachable from them.
func allGoMessages() []protoreflect.ProtoMessage {
	var out []protoreflect.ProtoMessage
	seen := map[protoreflect.FullName]bool{}
	var add func(m protoreflect.Message)
	add = func(m protoreflect.Message) {
		d := m.Descriptor()
		if seen[d.FullName()] {
			return
		}
		seen[d.FullName()] = true
		out = append(out, m.Interface())
		fs := d.Fields()
		for i := 0; i < fs.Len(); i++ {
			f := fs.Get(i)
			if f.Kind() != protoreflect.MessageKind {
				continue
			}
			if f.IsList() {
				add(m.NewField(f).List().NewElement().Message())
			} else {
				add(m.NewField(f).Message())
			}
		}
	}
	add((&pg.ParseResult{}).ProtoReflect())
	add((&pg.ScanResult{}).ProtoReflect())
	return out
}

var goMsgCache map[string]reflect.Type

func goTypeName(name string) string {
	if goMsgCache == nil {
		goMsgCache = map[string]reflect.Type{}
		for _, v := range allGoMessages() {
			goMsgCache[string(v.ProtoReflect().Descriptor().Name())] = reflect.TypeOf(v).Elem()
		}
	}
	t, ok := goMsgCache[name]
	if !ok {
		log.Fatalf("no Go type for message %s", name)
	}
	return t.Name()
}

func fieldsOf(d protoreflect.MessageDescriptor) []field {
	goT := goType(d)
	byProto := map[string]string{}
	for i := 0; i < goT.NumField(); i++ {
		sf := goT.Field(i)
		tag := sf.Tag.Get("protobuf")
		for _, part := range strings.Split(tag, ",") {
			if strings.HasPrefix(part, "name=") {
				byProto[strings.TrimPrefix(part, "name=")] = sf.Name
			}
		}
		if o := sf.Tag.Get("protobuf_oneof"); o != "" {
			byProto["oneof:"+o] = sf.Name
		}
	}
	var out []field
	fs := d.Fields()
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		fl := field{proto: string(f.Name()), index: i, list: f.IsList()}
		if f.Kind() == protoreflect.MessageKind {
			fl.msg = string(f.Message().Name())
		}
		if o := f.ContainingOneof(); o != nil {
			fl.oneof = byProto["oneof:"+string(o.Name())]
			// Find the wrapper type by setting the member on a fresh message.
			m := reflect.New(goT).Interface().(protoreflect.ProtoMessage).ProtoReflect()
			m.Set(f, m.NewField(f))
			iface := reflect.ValueOf(m.Interface()).Elem().FieldByName(fl.oneof)
			wt := iface.Elem().Type().Elem()
			fl.wrapper = wt.Name()
			fl.goName = wt.Field(0).Name
		} else {
			fl.goName = byProto[string(f.Name())]
			if fl.goName == "" {
				log.Fatalf("%s.%s: no Go field", d.Name(), f.Name())
			}
		}
		out = append(out, fl)
	}
	return out
}

// schemaLine is the drift fingerprint of one message type; schema.go
// computes the same line at run time.
func schemaLine(d protoreflect.MessageDescriptor) string {
	var b strings.Builder
	b.WriteString(string(d.Name()))
	b.WriteByte('{')
	fs := d.Fields()
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(f.Name()))
		if f.Kind() == protoreflect.MessageKind {
			b.WriteByte(':')
			b.WriteString(string(f.Message().Name()))
		}
		if f.IsList() {
			b.WriteString("[]")
		}
	}
	b.WriteByte('}')
	return b.String()
}

func generate() ([]byte, error) {
	msgs := messages()
	isAllowed := map[string]bool{}
	for _, a := range allowed {
		if msgs[a] == nil {
			return nil, fmt.Errorf("allowlisted type %s does not exist", a)
		}
		isAllowed[a] = true
	}
	isHandled := map[string]bool{}
	for _, h := range handled {
		if !isAllowed[h] {
			return nil, fmt.Errorf("handled type %s is not allowlisted", h)
		}
		isHandled[h] = true
	}
	names := append([]string(nil), allowed...)
	sort.Strings(names)

	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("// Code generated by gen_nodes.go; DO NOT EDIT.\n\n")
	p("package sqlguard\n\n")
	p("import (\n\tpg \"github.com/pganalyze/pg_query_go/v5\"\n\t\"google.golang.org/protobuf/proto\"\n)\n\n")

	p("// allowedNodeTypes is the node-type allowlist (edit it in gen_nodes.go).\n")
	p("var allowedNodeTypes = []string{\n")
	for _, n := range names {
		p("\t%q,\n", n)
	}
	p("}\n\n")

	p("// genSchema is the shape of every allowlisted type when this file was\n")
	p("// generated; schema.go compares it with the linked pg_query_go.\n")
	p("var genSchema = []string{\n")
	for _, n := range names {
		p("\t%q,\n", schemaLine(msgs[n]))
	}
	p("}\n\n")

	// Field bits and names.
	referenced := map[string]bool{}
	for _, n := range names {
		fs := fieldsOf(msgs[n])
		if len(fs) > 64 {
			return nil, fmt.Errorf("%s has more than 64 fields", n)
		}
		goN := goTypeName(n)
		p("// Fields of %s (bit = field index).\nconst (\n", n)
		for _, f := range fs {
			if f.msg == "" {
				continue
			}
			p("\tf%s_%s uint64 = 1 << %d\n", goN, f.goName, f.index)
		}
		p(")\n\n")
		p("var fieldNames%s = []string{", goN)
		for i, f := range fs {
			if i > 0 {
				p(", ")
			}
			p("%q", f.proto)
		}
		p("}\n\n")

		p("// walk%s visits every message-valued field of n not in skip.\n", goN)
		p("func (w *walker) walk%s(n *pg.%s, skip uint64) {\n", goN, goN)
		p("\tif w.slow {\n\t\tw.walkReflect(n, skip, fieldNames%s)\n\t\treturn\n\t}\n", goN)
		for _, f := range fs {
			if f.msg == "" {
				continue
			}
			bit := fmt.Sprintf("f%s_%s", goN, f.goName)
			switch {
			case f.oneof != "":
				referenced[f.msg] = true
				p("\tif v, ok := n.%s.(*pg.%s); ok && skip&%s == 0 && v.%s != nil {\n\t\tw.visit%s(v.%s)\n\t}\n",
					f.oneof, f.wrapper, bit, f.goName, goTypeName(f.msg), f.goName)
			case f.msg == "Node" && f.list:
				p("\tif skip&%s == 0 {\n\t\tfor _, c := range n.%s {\n\t\t\tw.node(c)\n\t\t}\n\t}\n", bit, f.goName)
			case f.msg == "Node":
				p("\tif skip&%s == 0 {\n\t\tw.node(n.%s)\n\t}\n", bit, f.goName)
			case f.list:
				referenced[f.msg] = true
				p("\tif skip&%s == 0 {\n\t\tfor _, c := range n.%s {\n\t\t\tif c != nil {\n\t\t\t\tw.visit%s(c)\n\t\t\t}\n\t\t}\n\t}\n",
					bit, f.goName, goTypeName(f.msg))
			default:
				referenced[f.msg] = true
				p("\tif skip&%s == 0 && n.%s != nil {\n\t\tw.visit%s(n.%s)\n\t}\n", bit, f.goName, goTypeName(f.msg), f.goName)
			}
		}
		p("}\n\n")
		if !isHandled[n] {
			p("func (w *walker) visit%s(n *pg.%s) { w.walk%s(n, 0) }\n\n", goN, goN, goN)
		}
	}

	// Typed fields whose type is not allowlisted: reject when present.
	var rej []string
	for r := range referenced {
		if !isAllowed[r] && r != "Node" {
			rej = append(rej, r)
		}
	}
	sort.Strings(rej)
	for _, r := range rej {
		goN := goTypeName(r)
		p("func (w *walker) visit%s(n *pg.%s) { w.rejectMsg(n) }\n\n", goN, goN)
	}

	// The Node dispatcher.
	p("// node dispatches one Node wrapper by its type; a type not in the\n")
	p("// allowlist is rejected.\n")
	p("func (w *walker) node(n *pg.Node) {\n")
	p("\tif n == nil || w.err != nil {\n\t\treturn\n\t}\n")
	p("\tif w.depth++; w.depth > w.maxDepth {\n\t\tw.tooDeep(n)\n\t\tw.depth--\n\t\treturn\n\t}\n")
	p("\tswitch x := n.Node.(type) {\n\tcase nil:\n")
	for _, f := range fieldsOf(msgs["Node"]) {
		if !isAllowed[f.msg] {
			continue
		}
		p("\tcase *pg.%s:\n\t\tif x.%s != nil {\n\t\t\tw.visit%s(x.%s)\n\t\t}\n", f.wrapper, f.goName, goTypeName(f.msg), f.goName)
	}
	p("\tdefault:\n\t\tw.rejectNode(n)\n\t}\n\tw.depth--\n}\n\n")

	// Any message (the protoreflect fallback path).
	p("// anyMsg dispatches a message reached by the protoreflect fallback walk.\n")
	p("func (w *walker) anyMsg(m proto.Message) {\n\tswitch x := m.(type) {\n\tcase *pg.Node:\n\t\tw.node(x)\n")
	for _, n := range names {
		goN := goTypeName(n)
		p("\tcase *pg.%s:\n\t\tw.visit%s(x)\n", goN, goN)
	}
	p("\tdefault:\n\t\tw.rejectMsg(m)\n\t}\n}\n")

	return format.Source(b.Bytes())
}
