package store

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// Migrate applies the migrations in fsys (files NNNN_name.sql at its root)
// that schema_migrations does not record yet, each in its own write
// transaction, in file-name order, and remembers which it applied
// (Migrated). Several processes may start at once on one database: the
// dialect's MigrationLock (or SQLite's single writer) lets one migrate while
// the others wait and then find the versions recorded.
func (s *DB) Migrate(ctx context.Context, fsys fs.FS) error {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	// The table is created under the lock too: two processes creating it at
	// once would otherwise collide on PostgreSQL's catalog.
	if err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.migrationLock(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.d.MigrationsTable); err != nil {
			return fmt.Errorf("store: create schema_migrations: %w", s.d.Translate(err))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, name := range names {
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("store: read migration %s: %w", name, err)
		}
		version := strings.TrimSuffix(path.Base(name), ".sql")
		applied := false
		err = s.WriteTx(ctx, func(tx *sqlx.Tx) error {
			if err := s.migrationLock(ctx, tx); err != nil {
				return err
			}
			var done bool
			if err := tx.GetContext(ctx, &done, s.q(`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)`), version); err != nil {
				return fmt.Errorf("store: migration %s: %w", version, s.d.Translate(err))
			}
			if done {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("store: apply migration %s: %w", version, s.d.Translate(err))
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
				version, s.now()); err != nil {
				return fmt.Errorf("store: record migration %s: %w", version, s.d.Translate(err))
			}
			applied = true
			return nil
		})
		if err != nil {
			return err
		}
		if applied {
			s.migrated = append(s.migrated, version)
			s.logger.Info("migration applied", "version", version, "backend", s.d.Name)
		}
	}
	return nil
}

func (s *DB) migrationLock(ctx context.Context, tx *sqlx.Tx) error {
	if s.d.MigrationLock == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, s.d.MigrationLock); err != nil {
		return fmt.Errorf("store: migration lock: %w", s.d.Translate(err))
	}
	return nil
}

// Migrations returns the versions schema_migrations records, oldest first.
func (s *DB) Migrations(ctx context.Context) ([]string, error) {
	var versions []string
	if err := s.x.SelectContext(ctx, &versions, `SELECT version FROM schema_migrations ORDER BY version`); err != nil {
		return nil, fmt.Errorf("store: read schema_migrations: %w", s.d.Translate(err))
	}
	return versions, nil
}

// SchemaVersion returns the newest migration applied to the database, ""
// before the first.
func (s *DB) SchemaVersion(ctx context.Context) (string, error) {
	v, err := s.Migrations(ctx)
	if err != nil || len(v) == 0 {
		return "", err
	}
	return v[len(v)-1], nil
}

// Pending returns the migrations of fsys that schema_migrations does not
// record, in order: all of them on a database never migrated. It writes
// nothing (entrasync check reports them; read-only commands refuse a
// database with pending migrations rather than migrate it).
func (s *DB) Pending(ctx context.Context, fsys fs.FS) ([]string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	sort.Strings(names)
	done := map[string]bool{}
	if applied, err := s.Migrations(ctx); err == nil { // no table yet: nothing applied
		for _, v := range applied {
			done[v] = true
		}
	}
	var pending []string
	for _, name := range names {
		if v := strings.TrimSuffix(path.Base(name), ".sql"); !done[v] {
			pending = append(pending, v)
		}
	}
	return pending, nil
}

// OpenOptions say how a backend opens a directory.
type OpenOptions struct {
	// ReadOnly opens an existing directory as it is: a SQLite file that is
	// missing is ENOTFOUND (not created), and pending migrations are not
	// applied but refused (EINVALID, naming them), so that a read command
	// on a mistyped path or an old schema changes nothing.
	ReadOnly bool
	// AllowPending, with ReadOnly, opens a directory with pending
	// migrations anyway, to report them (entrasync check); reads may fail.
	AllowPending bool
}

// CheckMigrated returns nil when every migration of fsys is applied, else
// an EINVALID error naming the pending ones and how to apply them.
func (s *DB) CheckMigrated(ctx context.Context, fsys fs.FS, where string) error {
	pending, err := s.Pending(ctx, fsys)
	if err != nil {
		return err
	}
	if len(pending) == 0 {
		return nil
	}
	return sync.Errorf(sync.EINVALID, "store: the directory at %s has %d pending migration(s) (%s): "+
		"apply them with `entrasync migrate` (or any command that writes: sync, run); read-only commands change nothing",
		where, len(pending), strings.Join(pending, ", "))
}
