package sqlguard

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The generated walk functions visit the fields that the pg_query protobuf
// schema had when nodes_gen.go was generated. If the linked pg_query_go has
// a different schema for any allowlisted type (an upgrade without
// `go generate`), sqlguard does not trust them: every walk then goes through
// walkReflect, which visits every message-valued field protoreflect reports,
// known or not. TestNodeSchemaCurrent fails in that state so the drift is
// also caught before release.

// schemaDrift lists the allowlisted types whose shape differs from
// genSchema; computed once at start-up.
var schemaDrift = computeSchemaDrift()

// forceReflectWalk makes every walk use walkReflect (tests only).
var forceReflectWalk = false

func computeSchemaDrift() []string {
	want := map[string]string{}
	for _, line := range genSchema {
		name, _, _ := strings.Cut(line, "{")
		want[name] = line
	}
	var drift []string
	msgs := pg.File_pg_query_proto.Messages()
	for _, name := range allowedNodeTypes {
		d := msgs.ByName(protoreflect.Name(name))
		if d == nil || schemaLine(d) != want[name] {
			drift = append(drift, name)
		}
	}
	return drift
}

// schemaLine is the shape of a message type: its fields in order, with the
// message type and list-ness of each (gen_nodes.go writes the same lines).
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

// walkReflect visits every populated message-valued field of m, except the
// fields named by skip (bit i = names[i]). Fields unknown to the generated
// code are always visited.
func (w *walker) walkReflect(m proto.Message, skip uint64, names []string) {
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if w.err != nil {
			return false
		}
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		for i, n := range names {
			if n == string(fd.Name()) && skip&(1<<uint(i)) != 0 {
				return true
			}
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.anyMsg(l.Get(i).Message().Interface())
			}
		case fd.IsMap():
			w.rejectMsg(m) // no pg_query node has a map; refuse rather than guess
		default:
			w.anyMsg(v.Message().Interface())
		}
		return true
	})
}
