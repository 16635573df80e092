// Package postgres is the local directory on PostgreSQL (jmoiron/sqlx and
// lib/pq): its migrations, embedded in the binary; the cycle's Apply, which
// writes in bulk (unnest, COPY) with local ids resolved in memory; and the
// worker's leases, timed by the database's clock so that processes on
// several hosts agree. Everything else is the shared half, store.DB.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the embedded migrations, NNNN_name.sql at the root.
var Migrations, _ = fs.Sub(migrations, "migrations")

// DB is the PostgreSQL directory.
type DB struct {
	*store.DB
}

var _ store.Store = (*DB)(nil)

// Open connects to the PostgreSQL database at url, checks it is reachable and
// applies pending migrations. A search_path parameter in the URL selects the
// schema. EUNAVAILABLE when the database does not answer; errors name the
// failing step and never the password.
func Open(ctx context.Context, url string, logger *slog.Logger) (*DB, error) {
	return OpenWith(ctx, url, logger, store.OpenOptions{})
}

// OpenWith is Open with options: ReadOnly applies no migration and refuses
// a database with pending ones (store.DB.CheckMigrated). No error carries
// the URL's password (store.ScrubError).
func OpenWith(ctx context.Context, url string, logger *slog.Logger, opt store.OpenOptions) (*DB, error) {
	db, err := openWith(ctx, url, logger, opt)
	return db, store.ScrubError(err, url)
}

func openWith(ctx context.Context, url string, logger *slog.Logger, opt store.OpenOptions) (*DB, error) {
	x, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", redact(err))
	}
	x.SetMaxOpenConns(10)
	x.SetMaxIdleConns(5)
	x.SetConnMaxIdleTime(5 * time.Minute)
	if err := x.PingContext(ctx); err != nil {
		_ = x.Close()
		return nil, &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: database unreachable", Err: redact(err)}
	}
	db := &DB{}
	db.DB = store.New(x, store.Dialect{
		Name:       store.BackendPostgres,
		Translate:  translate,
		BeginWrite: func(ctx context.Context) (*sqlx.Tx, *sqlx.Conn, func(), error) { return beginWrite(ctx, x) },
		LockRow:    " FOR UPDATE",
		Time:       func(t time.Time) any { return t.UTC() },
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
		MigrationLock: `SELECT pg_advisory_xact_lock(7146250113)`,
		TokenLock:     `LOCK TABLE api_tokens IN SHARE ROW EXCLUSIVE MODE`,
	}, logger)
	if opt.ReadOnly && opt.AllowPending {
		return db, nil
	}
	if opt.ReadOnly {
		if err := db.CheckMigrated(ctx, Migrations, "the PostgreSQL database"); err != nil {
			_ = x.Close()
			return nil, err
		}
		return db, nil
	}
	if err := db.Migrate(ctx, Migrations); err != nil {
		_ = x.Close()
		return nil, err
	}
	return db, nil
}

// PendingMigrations returns the embedded migrations the database does not
// record yet.
func (s *DB) PendingMigrations(ctx context.Context) ([]string, error) {
	return s.Pending(ctx, Migrations)
}

// ExclusiveWorker reserves nothing: several worker processes share one
// PostgreSQL database, taking turns by leases.
func (s *DB) ExclusiveWorker() (func(), error) { return func() {}, nil }

// translate turns driver errors into sync errors at the adapter edge.
func translate(err error) error {
	var pe *pq.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return &sync.Error{Code: sync.ECONFLICT, Message: "unique constraint " + pe.Constraint + " violated", Err: err}
		case "23503", "23514", "22P02", "22021", "22001":
			return &sync.Error{Code: sync.EINVALID, Message: "rejected by the database", Err: err}
		}
	}
	return err
}

// redact removes a password that a connection error might echo.
func redact(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "password="); i >= 0 {
		return errors.New(msg[:i] + "password=[redacted]")
	}
	return err
}
