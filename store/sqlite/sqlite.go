// Package sqlite is the embedded local directory: one SQLite file
// (modernc.org/sqlite, pure Go) in WAL mode with foreign keys on. It holds
// its migrations, embedded in the binary; the cycle's Apply, with prepared
// statements and e-mail keys moved in two phases; the worker's leases, timed
// by Go's clock; and the lock that keeps a second worker process off the
// file. Everything else is the shared half, store.DB, with the semantics of
// the PostgreSQL directory.
//
// SQLite has one writer per file, so every write transaction, and Begin in
// particular, serialises with every other one: two cycles never interleave,
// whether of one tenant or of two. Writers in this process queue on an
// in-process lock that honours their context; writers in other processes
// are waited for under busy_timeout (Begin keeps waiting until its context
// ends). Readers are never blocked and see the last commit.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

func init() {
	// sqlx 1.4 does not know the modernc driver's name.
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the embedded migrations, NNNN_name.sql at the root.
var Migrations, _ = fs.Sub(migrations, "migrations")

// DB is the SQLite directory.
type DB struct {
	*store.DB
	path string
	// write is the in-process write lock: a token is held from the start of
	// a write transaction to its end.
	write chan struct{}
}

var _ store.Store = (*DB)(nil)

// busyTimeout is how long one statement waits for another process's write
// lock before SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// timeLayout is how timestamps are stored: UTC, fixed width, so that they
// sort as text and round-trip to the nanosecond.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime formats t for storage.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Open opens the SQLite directory in the file at path, creating the parent
// directory (mode 0700) and the file (mode 0600) when missing, and applies
// pending migrations. EINVALID for an empty, in-memory or odd path,
// EUNAVAILABLE when the file cannot be opened; errors name the path.
func Open(ctx context.Context, path string, logger *slog.Logger) (*DB, error) {
	return OpenWith(ctx, path, logger, store.OpenOptions{})
}

// OpenWith is Open with options: ReadOnly creates nothing (a missing file
// is ENOTFOUND), applies no migration and refuses a file with pending ones
// (store.DB.CheckMigrated).
func OpenWith(ctx context.Context, path string, logger *slog.Logger, opt store.OpenOptions) (*DB, error) {
	switch {
	case strings.TrimSpace(path) == "":
		return nil, sync.Errorf(sync.EINVALID, "store: sqlite: empty file path")
	case path == ":memory:":
		return nil, sync.Errorf(sync.EINVALID, "store: sqlite: in-memory databases are not supported; give a file path")
	case strings.ContainsAny(path, "?#"):
		return nil, sync.Errorf(sync.EINVALID, "store: sqlite: file path %q contains '?' or '#'", path)
	}
	if opt.ReadOnly {
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, sync.Errorf(sync.ENOTFOUND, "store: sqlite: no directory at %s (is the path right? sync, run and demo create it; read-only commands do not)", path)
		case err != nil:
			return nil, &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: " + path, Err: err}
		case !st.Mode().IsRegular():
			return nil, sync.Errorf(sync.EINVALID, "store: sqlite: %s is not a regular file", path)
		}
	} else if err := createFile(path); err != nil {
		return nil, err
	}
	dsn := path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(" + fmt.Sprint(busyTimeout.Milliseconds()) + ")" +
		"&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)"
	x, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: open %s: %w", path, err)
	}
	// One writer at a time anyway; a few connections let readers go on while
	// a cycle's transaction is open.
	x.SetMaxOpenConns(4)
	x.SetMaxIdleConns(4)
	x.SetConnMaxIdleTime(5 * time.Minute)
	s := &DB{path: path, write: make(chan struct{}, 1)}
	s.DB = store.New(x, store.Dialect{
		Name:       store.BackendSQLite,
		Translate:  translate,
		BeginWrite: s.beginWrite,
		Time:       func(t time.Time) any { return formatTime(t) },
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version TEXT NOT NULL PRIMARY KEY,
			applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT`,
	}, logger)
	if err := s.check(ctx); err != nil {
		_ = x.Close()
		return nil, err
	}
	if opt.ReadOnly && opt.AllowPending {
		return s, nil
	}
	if opt.ReadOnly {
		if err := s.CheckMigrated(ctx, Migrations, path); err != nil {
			_ = x.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.Migrate(ctx, Migrations); err != nil {
		_ = x.Close()
		return nil, err
	}
	return s, nil
}

// createFile makes path's directory (0700) and an empty file (0600) where
// they are missing, so that the directory's personal data is not readable
// by other local users.
func createFile(path string) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: create directory " + dir, Err: err}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: open file " + path, Err: err}
	}
	return f.Close()
}

// check opens a first connection and verifies the settings the directory
// relies on took effect.
func (s *DB) check(ctx context.Context) error {
	var mode string
	var fk int
	conn, err := s.SQL().Conn(ctx)
	if err != nil {
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: open " + s.path, Err: err}
	}
	defer func() { _ = conn.Close() }()
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: read " + s.path, Err: err}
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: read " + s.path, Err: err}
	}
	if !strings.EqualFold(mode, "wal") || fk != 1 {
		return sync.Errorf(sync.EINTERNAL, "store: sqlite: %s: journal_mode=%s foreign_keys=%d, want wal and 1", s.path, mode, fk)
	}
	return nil
}

// PendingMigrations returns the embedded migrations the file does not
// record yet.
func (s *DB) PendingMigrations(ctx context.Context) ([]string, error) {
	return s.Pending(ctx, Migrations)
}

// Path returns the database file's path.
func (s *DB) Path() string { return s.path }

// lock takes the in-process write lock, or gives up when ctx ends.
func (s *DB) lock(ctx context.Context) error {
	select {
	case s.write <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: gave up waiting for the write lock", Err: ctx.Err()}
	}
}

func (s *DB) unlock() { <-s.write }

// beginWrite is the dialect's BeginWrite: the in-process write lock, then a
// BEGIN IMMEDIATE transaction (the DSN's _txlock), which takes the file's
// write lock at once. Another process's lock is waited for until ctx ends,
// not only for busy_timeout.
func (s *DB) beginWrite(ctx context.Context) (*sqlx.Tx, *sqlx.Conn, func(), error) {
	if err := s.lock(ctx); err != nil {
		return nil, nil, nil, err
	}
	for {
		tx, err := s.SQL().BeginTxx(ctx, nil)
		if err == nil {
			return tx, nil, s.unlock, nil
		}
		if ctx.Err() == nil && !isBusy(err) {
			s.unlock()
			return nil, nil, nil, fmt.Errorf("store: begin: %w", translate(err))
		}
		if ctx.Err() == nil {
			s.Logger().Debug("sqlite: still waiting for another process's write lock", "path", s.path)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
				continue
			}
		}
		s.unlock()
		// As when giving up on the in-process lock (lock).
		return nil, nil, nil, &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: begin: gave up waiting for the write lock", Err: ctx.Err()}
	}
}

// ExclusiveWorker refuses a second `entrasync run` on one SQLite file: only
// PostgreSQL lets several worker processes share a directory. It holds an
// exclusive lock on <file>.run.lock until release; EINVALID when another
// process holds it.
func (s *DB) ExclusiveWorker() (func(), error) {
	f, err := os.OpenFile(s.path+".run.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: lock " + s.path, Err: err}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, sync.Errorf(sync.EINVALID, "another entrasync run already uses the SQLite database %s; "+
			"several worker processes need PostgreSQL (set database: postgres://…)", s.path)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); _ = f.Close() }, nil
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// indexNames names the unique indexes behind the column lists SQLite
// reports, so that messages match PostgreSQL's constraint names.
var indexNames = map[string]string{
	"users.tenant_id, users.email_key":          "users_email_unique",
	"users.tenant_id, users.entra_id":           "users_entra_id",
	"groups.tenant_id, groups.entra_id":         "groups_entra_id",
	"memberships.group_id, memberships.user_id": "memberships_pkey",
	"user_paths.user_id, user_paths.path":       "user_paths_pkey",
	"tenants.id":                                "tenants_pkey",
	"tenant_schedule.tenant_id":                 "tenant_schedule_pkey",
	"api_tokens.token_hash":                     "api_tokens_token_hash_key",
}

// translate turns driver errors into sync errors at the adapter edge.
func translate(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		// "... UNIQUE constraint failed: users.tenant_id, users.email_key (2067)"
		name := "unique"
		if msg := se.Error(); strings.Contains(msg, "failed: ") {
			cols := msg[strings.LastIndex(msg, "failed: ")+len("failed: "):]
			cols, _, _ = strings.Cut(cols, " (")
			name = cols
			if n, ok := indexNames[cols]; ok {
				name = n
			}
		}
		return &sync.Error{Code: sync.ECONFLICT, Message: "unique constraint " + name + " violated", Err: err}
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return &sync.Error{Code: sync.EINVALID, Message: "rejected by the database", Err: err}
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: "database is locked by another process", Err: err}
	}
	return err
}

// nullString is s, NULL when empty.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
