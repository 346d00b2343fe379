package pgexec

import (
	"container/list"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL plans a statement each time it is parsed; for a typical
// analyst query the planning costs as much as pgmcp's whole overhead. So
// each connection keeps the statements pgmcp ran on it (the checked
// queries and the session check) as named protocol-level prepared
// statements, at most statementCap of them, the least recently used closed
// first. This changes nothing the session check relies on:
//
//   - only pgmcp sends Parse messages, so the statements prepared at
//     protocol level (pg_prepared_statements.from_sql = false) are
//     pgmcp's; the check counts those prepared by SQL (from_sql), which
//     the guard never lets through;
//   - a statement is parsed inside the call's READ ONLY transaction, as
//     the call's role, and PostgreSQL checks privileges at every execution
//     and plans again when the role (under row-level security), the
//     search_path or a table it reads changes;
//   - a DISCARD ALL reset forgets them all (see settle).
//
// A cached statement whose result changed shape (a table altered under a
// SELECT *) fails with "cached plan must not change result type"; the call
// is then run again once unprepared, and the statement dropped.

// statementCap bounds the prepared statements of one connection.
const statementCap = 64

// statementsKey is the key of a connection's *statements in its
// pgconn.CustomData.
const statementsKey = "pgmcp.statements"

// statements are one connection's prepared statements, by SQL text. A
// pooled connection serves one call at a time, so no lock is needed.
type statements struct {
	next    uint64
	byText  map[string]*list.Element // of *stmt
	lru     *list.List               // front: most recently used
	evicted []string                 // names to close on the next call
}

type stmt struct{ sql, name string }

// statementsOf returns pc's prepared statements.
//
// A transaction-mode pooler's connection has none (nil): a statement
// prepared in one transaction may be on another server session at the
// next, so every statement there is unnamed.
func statementsOf(pc *pgconn.PgConn) *statements {
	m := pc.CustomData()
	if _, pooled := m[pinsKey]; pooled {
		return nil
	}
	if s, ok := m[statementsKey].(*statements); ok {
		return s
	}
	s := &statements{byText: map[string]*list.Element{}, lru: list.New()}
	m[statementsKey] = s
	return s
}

// send queues sql, with params, as a named statement: first the closing of
// statements evicted since the last call, then its Parse when it is not
// prepared yet, then its execution. It returns the statement to record
// (with commit) once the pipeline shows the Parse succeeded, nil when it
// was prepared already. s may be nil: then sql runs unnamed.
func (s *statements) send(pl *pgconn.Pipeline, sql string, params [][]byte) *stmt {
	if s == nil {
		pl.SendQueryParams(sql, params, nil, nil, nil)
		return nil
	}
	for _, name := range s.evicted {
		pl.SendDeallocate(name)
	}
	s.evicted = s.evicted[:0]
	if el, ok := s.byText[sql]; ok {
		s.lru.MoveToFront(el)
		pl.SendQueryPrepared(el.Value.(*stmt).name, params, nil, nil)
		return nil
	}
	s.next++
	st := &stmt{sql: sql, name: "pgmcp_" + strconv.FormatUint(s.next, 10)}
	pl.SendPrepare(st.name, sql, nil)
	pl.SendQueryPrepared(st.name, params, nil, nil)
	return st
}

// commit records st as prepared on the connection, evicting the least
// recently used statement beyond statementCap.
func (s *statements) commit(st *stmt) {
	if s == nil || st == nil {
		return
	}
	if _, ok := s.byText[st.sql]; ok {
		return
	}
	s.byText[st.sql] = s.lru.PushFront(st)
	for s.lru.Len() > statementCap {
		old := s.lru.Remove(s.lru.Back()).(*stmt)
		delete(s.byText, old.sql)
		s.evicted = append(s.evicted, old.name)
	}
}

// drop forgets sql's statement, to be closed on the next call.
func (s *statements) drop(sql string) {
	if s == nil {
		return
	}
	if el, ok := s.byText[sql]; ok {
		s.lru.Remove(el)
		delete(s.byText, sql)
		s.evicted = append(s.evicted, el.Value.(*stmt).name)
	}
}

// reset forgets every statement: the session dropped them (DISCARD ALL).
func (s *statements) reset() {
	if s == nil {
		return
	}
	clear(s.byText)
	s.lru.Init()
	s.evicted = s.evicted[:0]
}

// stalePlan reports whether err says a prepared statement can no longer
// run as prepared: its result changed shape, or it is gone.
func stalePlan(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "26000": // invalid_sql_statement_name: the statement does not exist
		return true
	case "0A000": // feature_not_supported
		return pe.Message == "cached plan must not change result type"
	}
	return false
}
