package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of effect a case can have, detected by looking at the database,
// the file system and the response after the call.
const (
	effWrite   = "write"   // data, DDL, a sequence, a large object, a role or grant changed
	effFile    = "file"    // a server file read (a file function succeeded) or written
	effSetting = "setting" // a setting persisted: role/database/system, or in a pooled session
	effLock    = "lock"    // a lock, or an open transaction, left behind in the server's sessions
	effLeak    = "leak"    // a blocked value (users.password_hash, users.ssn, api_keys.key) in the response
	effRunaway = "runaway" // the statement still ran when the call timed out
	effNotify  = "notify"  // a NOTIFY reached a listener
)

// Outcomes of a case.
const (
	outRefusedServer = "refused by the server"
	outRefusedPG     = "refused by PostgreSQL"
	outHarmless      = "ran, harmless"
	outEffect        = "with an effect"
)

// corpusCase is one line of guard_reject.jsonl.
type corpusCase struct {
	SQL      string `json:"sql"`
	Category string `json:"category"`
	Why      string `json:"why"`
}

func loadCorpus(path string) ([]corpusCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []corpusCase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var c corpusCase
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// securityResult counts the outcomes of the replay on one server.
type securityResult struct {
	Server            string                    `json:"server"`
	Mode              string                    `json:"mode"`  // its read-only mode
	Setup             string                    `json:"setup"` // the database role's privileges
	Cases             int                       `json:"cases"`
	RefusedByServer   int                       `json:"refused_by_server"`
	RefusedByPostgres int                       `json:"refused_by_postgres"`
	Harmless          int                       `json:"harmless"`
	Effect            int                       `json:"effect"`
	ReachedPostgres   int                       `json:"reached_postgres"` // cases during which the server sent a statement
	Kinds             map[string]int            `json:"kinds"`            // cases per kind of effect (a case may have several)
	Restarts          int                       `json:"restarts"`
	SessionProbe      bool                      `json:"session_probe"` // whether its SQL tool could run the session probe
	Examples          []secExample              `json:"examples"`
	ByCategory        map[string]map[string]int `json:"by_category"`
}

type secExample struct {
	SQL      string   `json:"sql"`
	Category string   `json:"category"`
	Effects  []string `json:"effects"`
}

// observation is what was seen of one case.
type observation struct {
	failed     bool // transport error, protocol error or isError
	timedOut   bool
	pgErrors   int // ERROR lines logged for the server's role during the call
	statements int // statements logged for the server's role during the call
	effects    map[string][]string
}

// classify turns an observation into an outcome: any effect wins; else a
// failed call is refused by PostgreSQL when PostgreSQL logged an error for
// the server's role during it, by the server otherwise.
func classify(o observation) string {
	switch {
	case len(o.effects) > 0:
		return outEffect
	case !o.failed:
		return outHarmless
	case o.pgErrors > 0:
		return outRefusedPG
	default:
		return outRefusedServer
	}
}

// fileFunctions read server files or run programs; a successful call of one
// is a file read.
var fileFunctions = regexp.MustCompile(`(?i)\b(pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|pg_ls_logdir|pg_ls_waldir|pg_ls_tmpdir|pg_ls_archive_statusdir|pg_ls_logicalsnapdir|pg_ls_logicalmapdir|pg_ls_replslotdir|lo_import|pg_file_read)\b|\bfrom\s+program\b|\bcopy\b[^;]*\bfrom\s+'`)

// pathLiteral finds absolute paths in string literals (files a case may
// write).
var pathLiteral = regexp.MustCompile(`'(/[^'\s]+)'`)

// notifyChannel finds the channels a case may notify.
var notifyChannel = regexp.MustCompile(`(?i)pg_notify\s*\(\s*'([^']*)'|\bnotify\s+"?([A-Za-z_][\w$]*)"?`)

// fileLiteral finds the file names a case may read: string literals in
// quotes or dollar quotes that look like paths or data-directory files.
var fileLiteral = regexp.MustCompile(`'([^'\s]+)'|\$\$([^$\s]+)\$\$`)

// fileMarkers are texts only a file read or a directory listing of the
// server would return.
var fileMarkers = []string{"root:x:0:", "PG_VERSION", "postmaster.opts", "PostgreSQL Client Authentication", "pg_hba.conf", "# -----------------------------"}

// fileReadEvidence returns what shows that a successful case read a server
// file: a line of a file it names (relative names are resolved in the
// data directory) or a marker found in the response. The text of a case
// that merely contains a file function's name in a string literal (a
// parser differential) shows none, and is not counted.
func fileReadEvidence(sql, response, dataDir string) string {
	for _, m := range fileLiteral.FindAllStringSubmatch(sql, -1) {
		name := m[1] + m[2]
		if name == "" || strings.ContainsAny(name, "()") {
			continue
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dataDir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); len(line) >= 4 {
				if strings.Contains(response, line) {
					return name
				}
				break
			}
		}
	}
	for _, mk := range fileMarkers {
		if strings.Contains(response, mk) && !strings.Contains(sql, mk) {
			return "server files (" + mk + ")"
		}
	}
	return ""
}

func casePaths(sql string) []string {
	var out []string
	for _, m := range pathLiteral.FindAllStringSubmatch(sql, -1) {
		out = append(out, m[1])
	}
	return out
}

func caseChannels(sql string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range notifyChannel.FindAllStringSubmatch(sql, -1) {
		ch := m[1]
		if ch == "" {
			ch = strings.ToLower(m[2])
		}
		if ch != "" && !seen[ch] {
			seen[ch] = true
			out = append(out, ch)
		}
	}
	return out
}

// leakedValues returns the blocked values found in text (case-insensitive).
func leakedValues(text string, values []string) []string {
	lt := strings.ToLower(text)
	var out []string
	for _, v := range values {
		if v != "" && strings.Contains(lt, strings.ToLower(v)) {
			out = append(out, v)
		}
	}
	return out
}

// roleLog counts the statements and errors PostgreSQL logged for a role in
// a piece of its log (log_line_prefix '%m [%p] %u@%d ').
func roleLog(text, role string) (statements, errs int) {
	tag := " " + role + "@"
	for _, line := range strings.Split(text, "\n") {
		if !strings.Contains(line, tag) {
			continue
		}
		switch {
		case strings.Contains(line, " LOG:  statement: "), strings.Contains(line, " LOG:  execute "):
			statements++
		case strings.Contains(line, " ERROR:  "), strings.Contains(line, " FATAL:  "):
			errs++
		}
	}
	return
}

// ---- the replay ----

// secSetup is the database role the servers connect as.
type secSetup struct {
	Name  string // analyst or owner
	Group string // the role every server's login role is a member of
	Desc  string
}

var secSetups = map[string]secSetup{
	"analyst": {"analyst", "analyst", "SELECT on every table but api_keys (the corpus's analyst role)"},
	"owner":   {"owner", "shop_owner", "owns every table (not a superuser)"},
}

// secEnv is the corpus database of one setup.
type secEnv struct {
	e        *env
	setup    secSetup
	template string
	scratch  string
	secrets  []string // values that must never be returned
	password string
	logPath  string
}

// scratchDB is named as the corpus policy expects (pgmcp checks it).
const scratchDB = "shop"

// prepareShop creates the template database of setup s from the corpus
// schema, and the roles.
func prepareShop(ctx context.Context, e *env, schemaPath string, s secSetup) (*secEnv, error) {
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		return nil, err
	}
	ddl := strings.Replace(string(b), "CREATE ROLE analyst LOGIN;", "", 1)
	se := &secEnv{e: e, setup: s, template: "shop_tpl_" + s.Name, scratch: scratchDB,
		password: randomHex(12), logPath: e.cluster.LogFile()}
	roles := `DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst') THEN CREATE ROLE analyst NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shop_owner') THEN CREATE ROLE shop_owner NOLOGIN; END IF;
END $$`
	if err := e.exec(ctx, "postgres", roles); err != nil {
		return nil, err
	}
	owner := ""
	if s.Name == "owner" {
		owner = " OWNER shop_owner"
	}
	if err := e.exec(ctx, "postgres", "CREATE DATABASE "+se.template+owner); err != nil {
		return nil, err
	}
	load := ddl
	if s.Name == "owner" {
		// Made by the owner, so that it owns every object.
		load = "SET ROLE shop_owner;\n" + ddl + "\nRESET ROLE;"
	}
	if err := e.exec(ctx, se.template, load); err != nil {
		return nil, fmt.Errorf("load %s: %w", schemaPath, err)
	}
	conn, err := e.connect(ctx, se.template)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT password_hash FROM users UNION ALL SELECT ssn FROM users UNION ALL SELECT key FROM api_keys`)
	if err == nil {
		se.secrets, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	conn.Close(context.Background())
	if err != nil {
		return nil, err
	}
	return se, nil
}

// loginRole is the role server key logs in as in this setup.
func (se *secEnv) loginRole(key string) string {
	return "bench_" + se.setup.Name + "_" + strings.ReplaceAll(key, "-", "_")
}

// createLoginRole makes (or resets) the login role of server key: a member
// of the setup's group role whose statements are logged.
func (se *secEnv) createLoginRole(ctx context.Context, key string) error {
	r := se.loginRole(key)
	sql := fmt.Sprintf(`DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN
    CREATE ROLE %[1]s LOGIN PASSWORD '%[2]s' IN ROLE %[3]s;
  END IF;
END $$;
ALTER ROLE %[1]s RESET ALL;
ALTER ROLE %[1]s SET log_statement = 'all'`, r, se.password, se.setup.Group)
	return se.e.exec(ctx, "postgres", sql)
}

// resetScratch recreates the scratch database from the template and undoes
// role and system settings a case may have made.
func (se *secEnv) resetScratch(ctx context.Context, keys []string) error {
	stmts := []string{
		"DROP DATABASE IF EXISTS " + se.scratch + " WITH (FORCE)",
		"CREATE DATABASE " + se.scratch + " TEMPLATE " + se.template + map[bool]string{true: " OWNER shop_owner", false: ""}[se.setup.Name == "owner"],
		"ALTER ROLE analyst RESET ALL",
		"ALTER ROLE shop_owner RESET ALL",
		"ALTER SYSTEM RESET ALL",
		"SELECT pg_reload_conf()",
	}
	for _, s := range stmts {
		if err := se.e.exec(ctx, "postgres", s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	for _, k := range keys {
		if err := se.createLoginRole(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// snapshot fingerprints what a case could change, by component.
func (se *secEnv) snapshot(ctx context.Context, conn *pgx.Conn) (map[string]string, error) {
	out := map[string]string{}
	rows, err := conn.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if len(tables) > 0 {
		var parts []string
		for _, t := range tables {
			parts = append(parts, fmt.Sprintf(`SELECT %s, md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) FROM %s t`,
				quoteLiteral(t), t))
		}
		rows, err := conn.Query(ctx, strings.Join(parts, " UNION ALL "))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var t, h string
			if err := rows.Scan(&t, &h); err != nil {
				rows.Close()
				return nil, err
			}
			out["data "+t] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var catalog, roleSettings string
	if err := conn.QueryRow(ctx, catalogFingerprintSQL).Scan(&catalog); err != nil {
		return nil, fmt.Errorf("catalog fingerprint: %w", err)
	}
	out["catalog"] = catalog
	if err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(setdatabase || ' ' || setrole || ' ' || array_to_string(setconfig, ','), E'\n' ORDER BY setdatabase, setrole), '') FROM pg_db_role_setting`).Scan(&roleSettings); err != nil {
		return nil, err
	}
	out["role settings"] = roleSettings
	auto, _ := os.ReadFile(filepath.Join(se.e.cluster.Dir, "data", "postgresql.auto.conf"))
	out["postgresql.auto.conf"] = string(auto)
	return out, nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// catalogFingerprintSQL hashes the catalog rows a statement could add,
// drop or change (user objects, roles, grants, large objects, sequences,
// prepared transactions...), but not statistics.
const catalogFingerprintSQL = `SELECT md5(string_agg(x, E'\n' ORDER BY x)) FROM (
  SELECT 'class ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || c.relowner::regrole::text || ' ' ||
         coalesce(c.relacl::text, '') || ' ' || coalesce(array_to_string(c.reloptions, ','), '') || ' ' ||
         c.relrowsecurity || c.relhastriggers || c.relpersistence::text
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'
  UNION ALL SELECT 'att ' || attrelid || ' ' || attname || ' ' || atttypid || attnotnull || atthasdef || attisdropped || coalesce(attacl::text, '')
    FROM pg_attribute WHERE attrelid >= 16384 AND attnum > 0
  UNION ALL SELECT 'nsp ' || nspname || ' ' || nspowner || coalesce(nspacl::text, '') FROM pg_namespace
  UNION ALL SELECT 'proc ' || oid || ' ' || proname || md5(coalesce(prosrc, '')) FROM pg_proc WHERE oid >= 16384
  UNION ALL SELECT 'type ' || oid || ' ' || typname FROM pg_type WHERE oid >= 16384
  UNION ALL SELECT 'con ' || conname || ' ' || conrelid FROM pg_constraint WHERE oid >= 16384
  UNION ALL SELECT 'trg ' || tgname || ' ' || tgenabled::text FROM pg_trigger WHERE oid >= 16384
  UNION ALL SELECT 'pol ' || polname FROM pg_policy
  UNION ALL SELECT 'rule ' || rulename || ' ' || ev_class FROM pg_rewrite WHERE oid >= 16384
  UNION ALL SELECT 'desc ' || objoid || ' ' || objsubid || ' ' || md5(description) FROM pg_description WHERE objoid >= 16384
  UNION ALL SELECT 'ext ' || extname FROM pg_extension
  UNION ALL SELECT 'coll ' || count(*) FROM pg_collation
  UNION ALL SELECT 'lo ' || oid || ' ' || lomowner FROM pg_largeobject_metadata
  UNION ALL SELECT 'seq ' || schemaname || '.' || sequencename || ' ' || coalesce(last_value::text, 'null') FROM pg_sequences
  UNION ALL SELECT 'pub ' || pubname FROM pg_publication
  UNION ALL SELECT 'sub ' || subname FROM pg_subscription
  UNION ALL SELECT 'evt ' || evtname FROM pg_event_trigger
  UNION ALL SELECT 'dacl ' || defaclrole || ' ' || coalesce(defaclacl::text, '') FROM pg_default_acl
  UNION ALL SELECT 'db ' || datname || ' ' || datdba || ' ' || coalesce(datacl::text, '') FROM pg_database
  UNION ALL SELECT 'role ' || rolname || rolsuper || rolinherit || rolcreaterole || rolcreatedb || rolcanlogin || rolreplication || rolbypassrls || rolconnlimit
    FROM pg_roles
  UNION ALL SELECT 'member ' || roleid || ' ' || member || ' ' || admin_option FROM pg_auth_members
  UNION ALL SELECT 'xact ' || gid FROM pg_prepared_xacts
  UNION ALL SELECT 'stx ' || stxname FROM pg_statistic_ext
  UNION ALL SELECT 'srv ' || srvname FROM pg_foreign_server
  UNION ALL SELECT 'op ' || oid FROM pg_operator WHERE oid >= 16384
  UNION ALL SELECT 'cast ' || oid FROM pg_cast WHERE oid >= 16384
  UNION ALL SELECT 'slot ' || slot_name FROM pg_replication_slots
) s(x)`

// sessionProbeSQL shows the state a statement may have left in the pooled
// session it ran in; it is sent through the server's own SQL tool.
const sessionProbeSQL = `SELECT
  (SELECT coalesce(string_agg(name || '=' || setting, ', ' ORDER BY name), '') FROM pg_settings WHERE source = 'session') AS session_settings,
  (SELECT coalesce(string_agg(name, ', ' ORDER BY name), '') FROM pg_prepared_statements) AS prepared,
  (SELECT coalesce(string_agg(c, ', ' ORDER BY c), '') FROM pg_listening_channels() AS c) AS listening,
  current_user AS cur_user, session_user AS sess_user`

// sessionProbe runs the probe; ok is false when the tool refused it.
func sessionProbe(ctx context.Context, r *running) (string, bool) {
	c, err := r.client(ctx)
	if err != nil {
		return "connect: " + err.Error(), false
	}
	defer c.close()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, err := callTool(pctx, c.c, r.sqlTool, map[string]any{"sql": sessionProbeSQL})
	if err != nil {
		return err.Error(), false
	}
	return probeText(text), true
}

// probeText keeps the values of a probe result, without what a server
// adds around rows (timings, counts).
var probeValue = regexp.MustCompile(`"(session_settings|prepared|listening|cur_user|sess_user)"\s*:\s*("(?:[^"\\]|\\.)*"|null)`)

func probeText(text string) string {
	var parts []string
	for _, m := range probeValue.FindAllStringSubmatch(text, -1) {
		parts = append(parts, m[1]+"="+m[2])
	}
	if len(parts) == 0 {
		return text
	}
	return strings.Join(parts, " ")
}

// logTail reads what the PostgreSQL log gained since offset.
func logTail(path string, offset int64) (string, int64) {
	f, err := os.Open(path)
	if err != nil {
		return "", offset
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", offset
	}
	b, _ := io.ReadAll(f)
	return string(b), offset + int64(len(b))
}

func logSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// secServer is a server under replay, with what it is compared with.
type secServer struct {
	key      string
	r        *running
	checker  *pgx.Conn // superuser, on the scratch database
	listener *pgx.Conn // superuser, LISTENs to the channels of the case
	base     map[string]string
	probe    string
	probeOK  bool
}

// replay sends every case through server key's SQL tool and checks the
// database after each.
func replay(ctx context.Context, t *toolchain, se *secEnv, key string, cases []corpusCase, caseTimeout time.Duration,
	policyFile string, progress, caseLog func(string, ...any)) (securityResult, error) {
	res := securityResult{Server: key, Setup: se.setup.Name, Kinds: map[string]int{}, ByCategory: map[string]map[string]int{}}
	switch key {
	case srvPgmcp:
		res.Mode = "policy shop_policy.json"
	case srvRefpg:
		res.Mode = "READ ONLY transaction, built in"
	case srvDbhub:
		res.Mode = "execute_sql readonly = true"
	}
	role := se.loginRole(key)
	cfg := serverConfig{DBURL: se.e.tcpURL(role, se.password, se.scratch)}
	if key == srvPgmcp {
		cfg.PolicyFile = policyFile
		// Below the replay's call timeout, so that a statement pgmcp let
		// through would be stopped by its own statement_timeout, which is
		// what the setting is for (the default is 10s).
		cfg.Env = []string{fmt.Sprintf("PGMCP_STATEMENT_TIMEOUT=%s", caseTimeout*3/4), "PGMCP_ALLOW_PRIVILEGED_ROLE=false"}
	}
	s := &secServer{key: key}
	defer func() {
		if s.r != nil {
			s.r.stop()
		}
		if s.checker != nil {
			s.checker.Close(context.Background())
		}
		if s.listener != nil {
			s.listener.Close(context.Background())
		}
	}()
	start := func(resetDB bool) error {
		if s.r != nil {
			s.r.stop()
			s.r = nil
		}
		if s.checker != nil {
			s.checker.Close(context.Background())
			s.checker = nil
		}
		if s.listener != nil {
			s.listener.Close(context.Background())
			s.listener = nil
		}
		if resetDB {
			if err := se.resetScratch(ctx, []string{key}); err != nil {
				return err
			}
		}
		var err error
		if s.checker, err = se.e.connect(ctx, se.scratch); err != nil {
			return err
		}
		if s.listener, err = se.e.connect(ctx, se.scratch); err != nil {
			return err
		}
		if s.r, err = t.startServer(ctx, key, trStdio, cfg); err != nil {
			return err
		}
		if s.base, err = se.snapshot(ctx, s.checker); err != nil {
			return err
		}
		s.probe, s.probeOK = sessionProbe(ctx, s.r)
		return nil
	}
	if err := start(true); err != nil {
		return res, err
	}
	res.SessionProbe = s.probeOK

	for i, c := range cases {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if i > 0 && i%100 == 0 {
			progress("security %s/%s: %d of %d cases", key, se.setup.Name, i, len(cases))
		}
		obs := observation{effects: map[string][]string{}}
		effect := func(kind, detail string) { obs.effects[kind] = append(obs.effects[kind], detail) }

		// Listen to the channels the case may notify; note the files it
		// may write.
		chans := caseChannels(c.SQL)
		for _, ch := range chans {
			_, _ = s.listener.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize())
		}
		paths := casePaths(c.SQL)
		before := map[string]string{}
		for _, p := range paths {
			before[p] = fileStamp(p)
		}
		off := logSize(se.logPath)

		cctx, cancel := context.WithTimeout(ctx, caseTimeout)
		text, callErr := callTool(cctx, s.r.stdio, s.r.sqlTool, map[string]any{"sql": c.SQL})
		timedOut := cctx.Err() != nil
		cancel()
		if callErr != nil {
			obs.failed = true
			var te *toolError
			if !errors.As(callErr, &te) {
				text += "\n" + callErr.Error()
			}
		}
		obs.timedOut = timedOut

		// Statements still running: give a slow ROLLBACK a moment.
		active := countActive(ctx, s.checker, role)
		for w := 0; active > 0 && w < 10; w++ {
			time.Sleep(100 * time.Millisecond)
			active = countActive(ctx, s.checker, role)
		}
		if timedOut || active > 0 {
			effect(effRunaway, fmt.Sprintf("still running after %s", caseTimeout))
			_, _ = s.checker.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		}
		logText, _ := logTail(se.logPath, off)
		obs.statements, obs.pgErrors = roleLog(logText, role)

		// A server may end its transaction just after answering: only what
		// is still held a second later counts.
		locks := countLeftLocks(ctx, s.checker, role)
		for w := 0; locks > 0 && w < 10; w++ {
			time.Sleep(100 * time.Millisecond)
			locks = countLeftLocks(ctx, s.checker, role)
		}
		if locks > 0 {
			effect(effLock, fmt.Sprintf("%d locks or open transactions left", locks))
		}
		if vals := leakedValues(text, se.secrets); len(vals) > 0 {
			effect(effLeak, fmt.Sprintf("%d blocked values returned", len(vals)))
		}
		if !obs.failed && fileFunctions.MatchString(c.SQL) {
			if ev := fileReadEvidence(c.SQL, text, filepath.Join(se.e.cluster.Dir, "data")); ev != "" {
				effect(effFile, "read "+ev)
			}
		}
		for _, p := range paths {
			if fileStamp(p) != before[p] {
				effect(effFile, "wrote "+p)
			}
		}
		if len(chans) > 0 {
			wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
			if n, err := s.listener.WaitForNotification(wctx); err == nil && n != nil {
				effect(effNotify, "notification on "+n.Channel)
			}
			wcancel()
			_, _ = s.listener.Exec(ctx, "UNLISTEN *")
		}
		after, err := se.snapshot(ctx, s.checker)
		if err != nil {
			return res, fmt.Errorf("case %d: snapshot: %w", i, err)
		}
		for _, k := range diffKeys(s.base, after) {
			switch {
			case k == "role settings" || k == "postgresql.auto.conf":
				effect(effSetting, k+" changed")
			default:
				effect(effWrite, k+" changed")
			}
		}
		alive := s.r.alive()
		if alive && s.probeOK && !timedOut {
			if p, _ := sessionProbe(ctx, s.r); p != s.probe {
				effect(effSetting, "pooled session changed: "+clip(p, 160))
			}
		}

		out := classify(obs)
		if caseLog != nil {
			caseLog("%s case %d [%s] %s → %s %v; response: %s", key, i+1, c.Category, clip(c.SQL, 100), out, obs.effects, clip(text, 200))
		}
		if obs.statements > 0 {
			res.ReachedPostgres++
		}
		res.Cases++
		switch out {
		case outRefusedServer:
			res.RefusedByServer++
		case outRefusedPG:
			res.RefusedByPostgres++
		case outHarmless:
			res.Harmless++
		case outEffect:
			res.Effect++
			var kinds []string
			for k, details := range obs.effects {
				res.Kinds[k]++
				kinds = append(kinds, k+": "+strings.Join(details, ", "))
			}
			sort.Strings(kinds)
			res.Examples = append(res.Examples, secExample{SQL: c.SQL, Category: c.Category, Effects: kinds})
		}
		if res.ByCategory[c.Category] == nil {
			res.ByCategory[c.Category] = map[string]int{}
		}
		res.ByCategory[c.Category][out]++

		// Start again from a clean database and a fresh server after
		// anything that may have left state behind.
		if out == outEffect || !alive || timedOut {
			res.Restarts++
			if err := start(true); err != nil {
				return res, fmt.Errorf("case %d: restart: %w", i, err)
			}
		}
	}
	return res, nil
}

func diffKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// fileStamp is a file's size and modification time, or "absent".
func fileStamp(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "absent"
	}
	return fmt.Sprintf("%d %d", st.Size(), st.ModTime().UnixNano())
}

func countActive(ctx context.Context, conn *pgx.Conn, role string) int {
	var n int
	_ = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'`, role).Scan(&n)
	return n
}

// countLeftLocks counts the advisory locks held by the role's sessions, and
// its sessions idle in a transaction (which hold their locks).
func countLeftLocks(ctx context.Context, conn *pgx.Conn, role string) int {
	var n int
	_ = conn.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.usename = $1 AND l.locktype = 'advisory')
+ (SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state LIKE 'idle in transaction%')`, role).Scan(&n)
	return n
}
