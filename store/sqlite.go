package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/entrasync/entrasync/sync"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQLite is the embedded directory: one SQLite file (modernc.org/sqlite, pure
// Go) in WAL mode with foreign keys on. It implements sync.Directory with the
// semantics of the PostgreSQL DB.
//
// SQLite has one writer per file, so every write transaction, and Begin in
// particular, serialises with every other one: two cycles never interleave,
// whether of one tenant or of two. Writers in this process queue on an
// in-process lock that honours their context; writers in other processes
// are waited for under busy_timeout (Begin keeps waiting until its context
// ends). Readers are never blocked and see the last commit. Lease and token
// writes (sync.Leaser, sqlite_lease.go) queue on the same lock: they wait
// for an open cycle transaction of this process instead of failing.
type SQLite struct {
	db     *sql.DB
	path   string
	logger *slog.Logger
	// write is the in-process write lock: a token is held from the start of
	// a write transaction to its end.
	write chan struct{}
}

var _ sync.Directory = (*SQLite)(nil)

// sqliteBusyTimeout is how long one statement waits for another process's
// write lock before SQLITE_BUSY.
const sqliteBusyTimeout = 10 * time.Second

// sqliteTimeLayout is how timestamps are stored: UTC, fixed width, so that
// they sort as text and round-trip to the nanosecond.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// OpenSQLite opens the SQLite directory in the file at path, creating the
// parent directory (mode 0700) and the file (mode 0600) when missing, and
// applies pending migrations. Errors name the failing step and the path.
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*SQLite, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case strings.TrimSpace(path) == "":
		return nil, sync.Errorf(sync.EINVALID, "store: sqlite: empty file path")
	case path == ":memory:":
		return nil, sync.Errorf(sync.EINVALID, "store: sqlite: in-memory databases are not supported; give a file path")
	case strings.ContainsAny(path, "?#"):
		return nil, sync.Errorf(sync.EINVALID, "store: sqlite: file path %q contains '?' or '#'", path)
	}
	if err := createSQLiteFile(path); err != nil {
		return nil, err
	}
	dsn := path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(" + fmt.Sprint(sqliteBusyTimeout.Milliseconds()) + ")" +
		"&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: open %s: %w", path, err)
	}
	// One writer at a time anyway; a few connections let readers go on while
	// a cycle's transaction is open.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &SQLite{db: db, path: path, logger: logger, write: make(chan struct{}, 1)}
	if err := s.check(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// createSQLiteFile makes path's directory (0700) and an empty file (0600)
// where they are missing, so that the directory's personal data is not
// readable by other local users.
func createSQLiteFile(path string) error {
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
func (s *SQLite) check(ctx context.Context) error {
	var mode string
	var fk int
	conn, err := s.db.Conn(ctx)
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

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Ping checks the database answers.
func (s *SQLite) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// SQL returns the underlying pool (tests and administration). Writes made
// through it bypass the in-process write lock.
func (s *SQLite) SQL() *sql.DB { return s.db }

// Path returns the database file's path.
func (s *SQLite) Path() string { return s.path }

// Backend returns "sqlite".
func (s *SQLite) Backend() string { return BackendSQLite }

// lock takes the in-process write lock, or gives up when ctx ends.
func (s *SQLite) lock(ctx context.Context) error {
	select {
	case s.write <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: sqlite: gave up waiting for the write lock", Err: ctx.Err()}
	}
}

func (s *SQLite) unlock() { <-s.write }

// writeTx runs f in a write transaction under the write lock and commits it
// when f returns nil.
func (s *SQLite) writeTx(ctx context.Context, f func(*sql.Tx) error) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	tx, err := s.beginImmediate(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", translateSQLite(err))
	}
	return nil
}

// beginImmediate starts a BEGIN IMMEDIATE transaction (the DSN's _txlock),
// which takes the file's write lock at once. Another process's lock is
// waited for until ctx ends, not only for busy_timeout.
func (s *SQLite) beginImmediate(ctx context.Context) (*sql.Tx, error) {
	for {
		tx, err := s.db.BeginTx(ctx, nil)
		if err == nil {
			return tx, nil
		}
		if ctx.Err() != nil {
			// As when giving up on the in-process lock (lock).
			return nil, &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: begin: gave up waiting for the write lock", Err: ctx.Err()}
		}
		if !isSQLiteBusy(err) {
			return nil, fmt.Errorf("store: begin: %w", translateSQLite(err))
		}
		s.logger.Debug("sqlite: still waiting for another process's write lock", "path", s.path)
		select {
		case <-ctx.Done():
			return nil, &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: begin: gave up waiting for the write lock", Err: ctx.Err()}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Migrate applies the embedded migrations that are not yet recorded in
// schema_migrations, each in its own transaction, in file-name order.
func (s *SQLite) Migrate(ctx context.Context) error {
	names, err := fs.Glob(sqliteMigrations, "migrations/sqlite/*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version TEXT NOT NULL PRIMARY KEY,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) STRICT`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", translateSQLite(err))
	}
	for _, name := range names {
		if err := s.migrateOne(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *SQLite) migrateOne(ctx context.Context, name string) error {
	body, err := sqliteMigrations.ReadFile(name)
	if err != nil {
		return fmt.Errorf("store: read migration %s: %w", name, err)
	}
	version := strings.TrimSuffix(name[strings.LastIndex(name, "/")+1:], ".sql")
	// BEGIN IMMEDIATE: several processes may start at once; one migrates,
	// the others wait and then find the version recorded.
	tx, err := s.beginImmediate(ctx)
	if err != nil {
		return fmt.Errorf("store: migration %s: %w", version, err)
	}
	defer func() { _ = tx.Rollback() }()
	var done bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`, version).Scan(&done); err != nil {
		return fmt.Errorf("store: migration %s: %w", version, err)
	}
	if done {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("store: apply migration %s: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, sqliteTime(time.Now())); err != nil {
		return fmt.Errorf("store: record migration %s: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit migration %s: %w", version, err)
	}
	s.logger.Info("migration applied", "version", version, "backend", BackendSQLite)
	return nil
}

// RegisterTenant creates the tenant or updates its Entra tenant id and settings.
func (s *SQLite) RegisterTenant(ctx context.Context, t sync.Tenant) error {
	if t.ID == "" {
		return sync.Errorf(sync.EINVALID, "store: tenant id is empty")
	}
	settings, err := json.Marshal(t.Settings)
	if err != nil {
		return fmt.Errorf("store: encode settings: %w", err)
	}
	now := sqliteTime(time.Now())
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, entra_tenant_id, settings, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET entra_tenant_id = excluded.entra_tenant_id, settings = excluded.settings, updated_at = excluded.updated_at
			WHERE tenants.entra_tenant_id IS NOT excluded.entra_tenant_id OR tenants.settings IS NOT excluded.settings`,
			t.ID, t.EntraTenantID, string(settings), now, now)
		if err != nil {
			return fmt.Errorf("store: register tenant %s: %w", t.ID, translateSQLite(err))
		}
		return nil
	})
}

// Begin starts a write transaction on tenantID's directory. It holds the
// database's write lock until Commit or Rollback, so a second cycle (of this
// tenant or any other) waits for the first to finish, or until ctx ends.
// ErrTenantNotFound if the tenant is not registered. The caller must end the
// transaction with Commit or Rollback: until then every other write of this
// database waits.
func (s *SQLite) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	if err := s.lock(ctx); err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	tx, err := s.beginImmediate(ctx)
	if err != nil {
		s.unlock()
		return nil, err
	}
	t := &sqliteTx{s: s, tx: tx}
	var settings, overrides string
	var disconnected bool
	err = tx.QueryRowContext(ctx, `SELECT id, entra_tenant_id, settings, settings_overrides, disconnected_at IS NOT NULL,
		EXISTS (SELECT 1 FROM runs WHERE tenant_id = tenants.id AND outcome = 'held' AND review = '')
		FROM tenants WHERE id = ?`, tenantID).
		Scan(&t.tenant.ID, &t.tenant.EntraTenantID, &settings, &overrides, &disconnected, &t.tenant.PendingHold)
	if errors.Is(err, sql.ErrNoRows) {
		_ = t.Rollback()
		return nil, fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		_ = t.Rollback()
		return nil, fmt.Errorf("store: load tenant %s: %w", tenantID, translateSQLite(err))
	}
	if disconnected {
		_ = t.Rollback()
		return nil, fmt.Errorf("store: tenant %s: %w", tenantID, sync.ErrTenantDisconnected)
	}
	if t.tenant.Settings, err = sync.MergeSettings([]byte(settings), []byte(overrides)); err != nil {
		_ = t.Rollback()
		return nil, fmt.Errorf("store: tenant %s settings: %w", tenantID, err)
	}
	return t, nil
}

// RecordRun records a run that applied nothing, such as a failed read.
func (s *SQLite) RecordRun(ctx context.Context, run *sync.Run) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error { return sqliteInsertRun(ctx, tx, run) })
}

func sqliteInsertRun(ctx context.Context, tx *sql.Tx, run *sync.Run) error {
	counts, _ := json.Marshal(run.Counts)
	if run.Counts == nil {
		counts = []byte("{}")
	}
	conflicts, _ := json.Marshal(run.Conflicts)
	if run.Conflicts == nil {
		conflicts = []byte("[]")
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO runs (tenant_id, trigger, started_at, finished_at, outcome, counts,
		conflicts, graph_requests, read_ms, apply_ms, error, round_trips, lower_bound, plan_ms, throttle_wait_ms, held)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id`,
		run.TenantID, run.Trigger, sqliteTime(run.StartedAt), sqliteTime(run.FinishedAt), string(run.Outcome),
		string(counts), string(conflicts), run.GraphRequests, run.ReadMillis, run.ApplyMillis, run.Error,
		run.RoundTrips, run.LowerBound, run.PlanMillis, run.ThrottleMs, run.Held).Scan(&run.ID)
	if err != nil {
		return fmt.Errorf("store: record run: %w", translateSQLite(err))
	}
	return nil
}

// sqliteTime formats t for storage.
func sqliteTime(t time.Time) string { return t.UTC().Format(sqliteTimeLayout) }

// parseSQLiteTime reads a stored timestamp back, in UTC.
func parseSQLiteTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: bad timestamp %q: %w", s, err)
	}
	return t.UTC(), nil
}

// parseSQLiteNullTime reads a nullable stored timestamp.
func parseSQLiteNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseSQLiteTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func sqliteNullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func isSQLiteBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

// sqliteIndexNames names the unique indexes behind the column lists SQLite
// reports, so that messages match PostgreSQL's constraint names.
var sqliteIndexNames = map[string]string{
	"users.tenant_id, users.email_key":          "users_email_unique",
	"users.tenant_id, users.entra_id":           "users_entra_id",
	"groups.tenant_id, groups.entra_id":         "groups_entra_id",
	"memberships.group_id, memberships.user_id": "memberships_pkey",
	"user_paths.user_id, user_paths.path":       "user_paths_pkey",
	"tenants.id":                                "tenants_pkey",
	"tenant_schedule.tenant_id":                 "tenant_schedule_pkey",
	"api_tokens.token_hash":                     "api_tokens_token_hash_key",
}

// translateSQLite turns driver errors into sync errors at the adapter edge.
func translateSQLite(err error) error {
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
			if n, ok := sqliteIndexNames[cols]; ok {
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
