// Package store implements sync.Directory on PostgreSQL (jmoiron/sqlx and
// lib/pq), with migrations embedded in the binary and applied in order.
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
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/entrasync/entrasync/sync"
)

//go:embed migrations/postgres/*.sql
var pgMigrations embed.FS

// DB is the PostgreSQL directory.
type DB struct {
	db     *sqlx.DB
	logger *slog.Logger
}

var _ sync.Directory = (*DB)(nil)

// Open connects to the PostgreSQL database at url, checks it is reachable and
// applies pending migrations. A search_path parameter in the URL selects the
// schema. Errors name the failing step and never the password.
func Open(ctx context.Context, url string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", redact(err))
	}
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(5)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, &sync.Error{Code: sync.EUNAVAILABLE, Message: "store: database unreachable", Err: redact(err)}
	}
	s := &DB{db: db, logger: logger}
	if err := s.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connection pool.
func (s *DB) Close() error { return s.db.Close() }

// SQL returns the underlying pool (tests and administration).
func (s *DB) SQL() *sqlx.DB { return s.db }

// Migrate applies the embedded migrations that are not yet recorded in
// schema_migrations, each in its own transaction, in file-name order.
func (s *DB) Migrate(ctx context.Context) error {
	names, err := fs.Glob(pgMigrations, "migrations/postgres/*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for _, name := range names {
		if err := s.migrateOne(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) migrateOne(ctx context.Context, name string) error {
	body, err := pgMigrations.ReadFile(name)
	if err != nil {
		return fmt.Errorf("store: read migration %s: %w", name, err)
	}
	version := strings.TrimSuffix(name[strings.LastIndex(name, "/")+1:], ".sql")
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migration %s: %w", version, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Several processes may start at once: one migrates, the others wait.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7146250113)`); err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	var done bool
	if err := tx.GetContext(ctx, &done, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, version); err != nil {
		return fmt.Errorf("store: migration %s: %w", version, err)
	}
	if done {
		return nil
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return fmt.Errorf("store: apply migration %s: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
		return fmt.Errorf("store: record migration %s: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit migration %s: %w", version, err)
	}
	s.logger.Info("migration applied", "version", version)
	return nil
}

// RegisterTenant creates the tenant or updates its Entra tenant id and settings.
func (s *DB) RegisterTenant(ctx context.Context, t sync.Tenant) error {
	if t.ID == "" {
		return sync.Errorf(sync.EINVALID, "store: tenant id is empty")
	}
	settings, err := json.Marshal(t.Settings)
	if err != nil {
		return fmt.Errorf("store: encode settings: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO tenants (id, entra_tenant_id, settings) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET entra_tenant_id = EXCLUDED.entra_tenant_id, settings = EXCLUDED.settings, updated_at = now()
		WHERE tenants.entra_tenant_id IS DISTINCT FROM EXCLUDED.entra_tenant_id OR tenants.settings IS DISTINCT FROM EXCLUDED.settings`,
		t.ID, t.EntraTenantID, settings)
	if err != nil {
		return fmt.Errorf("store: register tenant %s: %w", t.ID, translate(err))
	}
	return nil
}

// Begin starts a transaction on tenantID's directory. It locks the tenant's
// row, so a second cycle of the same tenant waits for the first to finish.
func (s *DB) Begin(ctx context.Context, tenantID string) (sync.Tx, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", translate(err))
	}
	t := &pgTx{tx: tx}
	var settings, overrides []byte
	var disconnected bool
	err = tx.QueryRowxContext(ctx, `SELECT id, entra_tenant_id, settings, settings_overrides, disconnected_at IS NOT NULL,
		EXISTS (SELECT 1 FROM runs WHERE tenant_id = tenants.id AND outcome = 'held' AND review = '')
		FROM tenants WHERE id = $1 FOR UPDATE`, tenantID).
		Scan(&t.tenant.ID, &t.tenant.EntraTenantID, &settings, &overrides, &disconnected, &t.tenant.PendingHold)
	if errors.Is(err, sql.ErrNoRows) {
		_ = tx.Rollback()
		return nil, fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("store: lock tenant %s: %w", tenantID, translate(err))
	}
	if disconnected {
		_ = tx.Rollback()
		return nil, fmt.Errorf("store: tenant %s: %w", tenantID, sync.ErrTenantDisconnected)
	}
	if t.tenant.Settings, err = sync.MergeSettings(settings, overrides); err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("store: tenant %s settings: %w", tenantID, err)
	}
	return t, nil
}

// RecordRun records a run that applied nothing, such as a failed read.
func (s *DB) RecordRun(ctx context.Context, run *sync.Run) error {
	return insertRun(ctx, s.db, run)
}

type execer interface {
	sqlx.QueryerContext
	sqlx.ExecerContext
}

func insertRun(ctx context.Context, q execer, run *sync.Run) error {
	counts, _ := json.Marshal(run.Counts)
	if run.Counts == nil {
		counts = []byte("{}")
	}
	conflicts, _ := json.Marshal(run.Conflicts)
	if run.Conflicts == nil {
		conflicts = []byte("[]")
	}
	err := sqlx.GetContext(ctx, q, &run.ID, `INSERT INTO runs (tenant_id, trigger, started_at, finished_at, outcome, counts,
		conflicts, graph_requests, read_ms, apply_ms, error, round_trips, lower_bound, plan_ms, throttle_wait_ms, held)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16) RETURNING id`,
		run.TenantID, run.Trigger, run.StartedAt, run.FinishedAt, run.Outcome, counts, conflicts,
		run.GraphRequests, run.ReadMillis, run.ApplyMillis, run.Error, run.RoundTrips, run.LowerBound, run.PlanMillis, run.ThrottleMs, run.Held)
	if err != nil {
		return fmt.Errorf("store: record run: %w", translate(err))
	}
	return nil
}

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
