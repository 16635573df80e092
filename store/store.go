// Package store is the half of the local directory that both database
// backends share: reads (users, groups, runs, the provisioning log, events),
// the administrators' writes, run records, run reviews, schedules and API
// tokens, written once against sqlx with Rebind, and one migrator.
//
// The backends are packages of their own: store/postgres (lib/pq; COPY for
// bulk writes, the database's clock for leases, row locks) and store/sqlite
// (modernc.org/sqlite; prepared statements, Go's clock, one writer). Each
// builds a *DB with its Dialect — what truly differs between them:
// placeholders, error translation, how a write transaction starts and locks
// a tenant, how a time is stored — and adds what is its own: migrations,
// the cycle's Apply and the lease SQL. store/open opens either by URL;
// store/storetest holds the conformance suite both run.
package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// The backends a Store can report.
const (
	BackendPostgres = "postgres"
	BackendSQLite   = "sqlite"
)

// Store is a local directory backend as the commands open it: sync.Store,
// plus what only a process's wiring needs.
type Store interface {
	sync.Store
	// Registry is the tenant registry (registry.go).
	sync.Registry
	// Backend returns BackendPostgres or BackendSQLite.
	Backend() string
	// SchemaVersion returns the newest migration applied to the database.
	SchemaVersion(ctx context.Context) (string, error)
	// Migrated returns the migrations applied when this handle was opened,
	// oldest first (none when the schema was up to date).
	Migrated() []string
	// PendingMigrations returns the backend's migrations the database does
	// not record yet, oldest first; it writes nothing.
	PendingMigrations(ctx context.Context) ([]string, error)
	// ExclusiveWorker reserves the directory for this process's worker when
	// the backend cannot share it between worker processes (SQLite), and
	// returns the release. EINVALID when another process holds it.
	ExclusiveWorker() (release func(), err error)
}

// Dialect is what differs between the backends for the shared half.
type Dialect struct {
	// Name is BackendPostgres or BackendSQLite.
	Name string
	// Translate turns a driver error into a sync error at the adapter edge:
	// a unique violation becomes ECONFLICT, a rejected value EINVALID.
	Translate func(error) error
	// BeginWrite starts a write transaction, on conn where it runs on a
	// connection of its own (PostgreSQL's, whose COPYs go to the driver on
	// it; nil on SQLite). end releases what it took beyond the transaction
	// (the connection, SQLite's in-process write lock); it is called once,
	// after Commit or Rollback.
	BeginWrite func(ctx context.Context) (tx *sqlx.Tx, conn *sqlx.Conn, end func(), err error)
	// LockRow ends a SELECT of one tenant row inside a write transaction so
	// that it locks the row until the transaction ends (" FOR UPDATE"), or
	// is empty where the write transaction already excludes every writer.
	LockRow string
	// Time returns t as the backend stores it.
	Time func(t time.Time) any
	// MigrationsTable creates schema_migrations if it is missing.
	MigrationsTable string
	// MigrationLock, when set, runs first in every migration transaction,
	// so that processes starting together migrate one at a time.
	MigrationLock string
	// TokenLock, when set, runs first in a token rotation, so that two
	// rotations at once cannot both leave their token live.
	TokenLock string
}

// DB is the shared half of a directory backend. The backend packages embed
// it and add their own Begin and lease methods.
type DB struct {
	x        *sqlx.DB
	d        Dialect
	logger   *slog.Logger
	migrated []string
}

// New wraps an open pool for the shared half. The backend packages call it;
// x's driver name must have a bind type (sqlx.BindDriver).
func New(x *sqlx.DB, d Dialect, logger *slog.Logger) *DB {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &DB{x: x, d: d, logger: logger}
}

// SQL returns the pool (tests and the backends' own statements).
func (s *DB) SQL() *sqlx.DB { return s.x }

// Dialect returns the backend's dialect.
func (s *DB) Dialect() Dialect { return s.d }

// Logger returns the logger the backend was opened with.
func (s *DB) Logger() *slog.Logger { return s.logger }

// Backend returns the dialect's name.
func (s *DB) Backend() string { return s.d.Name }

// Ping checks the database answers.
func (s *DB) Ping(ctx context.Context) error { return s.x.PingContext(ctx) }

// Close closes the pool.
func (s *DB) Close() error { return s.x.Close() }

// Migrated returns the migrations applied when the directory was opened.
func (s *DB) Migrated() []string { return append([]string(nil), s.migrated...) }

// q rebinds a query written with ? placeholders for the backend.
func (s *DB) q(query string) string { return s.x.Rebind(query) }

// now is the current time as the backend stores it.
func (s *DB) now() any { return s.d.Time(time.Now()) }

// WriteTx runs f in a write transaction (BeginWrite) and commits it when f
// returns nil.
func (s *DB) WriteTx(ctx context.Context, f func(tx *sqlx.Tx) error) error {
	tx, _, end, err := s.d.BeginWrite(ctx)
	if err != nil {
		return err
	}
	defer end()
	defer func() { _ = tx.Rollback() }()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", s.d.Translate(err))
	}
	return nil
}

// Time is a timestamp column as either backend returns it: a time.Time
// (PostgreSQL) or RFC 3339 text (SQLite). It scans NULL as the zero time.
type Time struct{ time.Time }

// Scan implements sql.Scanner.
func (t *Time) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		t.Time = time.Time{}
	case time.Time:
		t.Time = x.UTC()
	case string:
		return t.parse(x)
	case []byte:
		return t.parse(string(x))
	default:
		return fmt.Errorf("store: cannot read %T as a time", v)
	}
	return nil
}

func (t *Time) parse(s string) error {
	p, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("store: bad timestamp %q: %w", s, err)
	}
	t.Time = p.UTC()
	return nil
}

// Ptr returns the time, or nil for NULL (the zero time).
func (t Time) Ptr() *time.Time {
	if t.IsZero() {
		return nil
	}
	v := t.Time
	return &v
}

// Text is a JSON document column: jsonb (PostgreSQL, as bytes) or TEXT
// (SQLite). It scans NULL as empty.
type Text []byte

// Scan implements sql.Scanner.
func (b *Text) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*b = nil
	case []byte:
		*b = append((*b)[:0], x...)
	case string:
		*b = append((*b)[:0], x...)
	default:
		return fmt.Errorf("store: cannot read %T as JSON", v)
	}
	return nil
}

// Value implements driver.Valuer: JSON goes to the database as text, which
// a jsonb parameter and a STRICT TEXT column both take.
func (b Text) Value() (driver.Value, error) { return string(b), nil }
