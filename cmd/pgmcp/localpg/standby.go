package localpg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartStandby makes a streaming hot standby of the running cluster c:
// pg_basebackup -R copies c's data directory into a fresh temporary
// directory (with the primary_conninfo and standby.signal that make it
// follow c over c's unix socket), and a postmaster is started on it with
// its own socket directory and port. opts.Settings are extra settings of
// the standby (max_standby_streaming_delay, say); opts.BinDir defaults to
// c's. The standby is a *Cluster like any other: Pause and Resume stop it
// and start it again on the same data directory (it catches up from the
// primary), Stop removes it. Stop the standby before its primary.
func (c *Cluster) StartStandby(ctx context.Context, opts Options) (*Cluster, error) {
	if c == nil || c.cmd == nil {
		return nil, errors.New("localpg: StartStandby needs a running primary")
	}
	ctx, cancel := opts.startContext(ctx)
	defer cancel()
	binDir := opts.BinDir
	if binDir == "" {
		binDir = c.binDir
	}
	dir, err := makeDir(c.owner)
	if err != nil {
		return nil, err
	}
	s := &Cluster{Dir: dir, SocketDir: dir, logf: filepath.Join(dir, "postgres.log"), Primary: c, Version: c.Version}
	fail := func(err error) (*Cluster, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	// -R writes standby.signal and a primary_conninfo naming c's socket;
	// -X stream brings the WAL written during the copy; -c fast starts
	// at once with a checkpoint instead of waiting for the next one.
	bb := []string{filepath.Join(binDir, "pg_basebackup"), "-D", data, "-h", c.SocketDir, "-p", strconv.Itoa(c.Port),
		"-U", "postgres", "-R", "-X", "stream", "-c", "fast", "--no-sync"}
	var cmd *exec.Cmd
	if c.owner != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.owner.name, "--"}, bb...)...)
	} else {
		cmd = exec.CommandContext(ctx, bb[0], bb[1:]...)
	}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("localpg: pg_basebackup failed: %w: %s", err, lastLines(out, 5)))
	}
	port, err := FreePort()
	if err != nil {
		return fail(err)
	}
	s.Port = port
	s.binDir, s.args, s.owner = binDir, serverArgs(data, dir, port, opts.Settings), c.owner
	if err := s.startPostmaster(ctx); err != nil {
		return fail(err)
	}
	return s, nil
}

// WaitReplayed waits until the standby s has replayed everything its
// primary had committed when WaitReplayed was called, so that it can be
// read on s.
func (c *Cluster) WaitReplayed(ctx context.Context) error {
	if c.Primary == nil {
		return errors.New("localpg: WaitReplayed needs a standby made by StartStandby")
	}
	p, err := pgx.Connect(ctx, c.Primary.URL("postgres"))
	if err != nil {
		return fmt.Errorf("localpg: connect to the primary: %w", err)
	}
	// A transaction that writes WAL (a message for no one) and commits
	// synchronously flushes the WAL before it (commits made with
	// synchronous_commit=off, too) up to its own commit record, whose end
	// is then the flush position: a record's end, which the standby's
	// replay position reaches (the insert position may lie past a page
	// header that no record fills yet).
	var target string
	err = pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on; SELECT pg_logical_emit_message(true, 'localpg', 'wait')")
		return err
	})
	if err == nil {
		err = p.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn()::text").Scan(&target)
	}
	p.Close(context.Background())
	if err != nil {
		return fmt.Errorf("localpg: read the primary's WAL position: %w", err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if ok, err := c.replayed(ctx, target); ok {
			return nil
		} else if ctx.Err() != nil {
			return fmt.Errorf("localpg: the standby did not replay up to %s in time (%v): %s", target, err, c.logTail())
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// replayed reports whether the standby's replay position is at least lsn.
func (c *Cluster) replayed(ctx context.Context, lsn string) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, c.URL("postgres"))
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var ok bool
	err = conn.QueryRow(cctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", lsn).Scan(&ok)
	return ok, err
}
