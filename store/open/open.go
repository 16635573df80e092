// Package open opens a local directory by URL on whichever backend the URL
// names (store.ParseURL): PostgreSQL (store/postgres) or SQLite
// (store/sqlite).
package open

import (
	"context"
	"log/slog"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/store/postgres"
	"github.com/entrasync/entrasync/store/sqlite"
)

// URL opens the directory that raw names and applies pending migrations.
// A SQLite file and its directory are created (0600, 0700) when missing.
// EINVALID for a URL store.ParseURL refuses; the backends' errors
// otherwise, which never carry a password.
func URL(ctx context.Context, raw string, logger *slog.Logger) (store.Store, error) {
	return With(ctx, raw, logger, store.OpenOptions{})
}

// Existing opens the directory that raw names as it is, for read-only
// commands: nothing is created or migrated (store.OpenOptions.ReadOnly); a
// missing SQLite file is ENOTFOUND, pending migrations EINVALID.
func Existing(ctx context.Context, raw string, logger *slog.Logger) (store.Store, error) {
	return With(ctx, raw, logger, store.OpenOptions{ReadOnly: true})
}

// With opens the directory that raw names with opt. No error carries the
// URL's password.
func With(ctx context.Context, raw string, logger *slog.Logger, opt store.OpenOptions) (store.Store, error) {
	backend, target, err := store.ParseURL(raw)
	if err != nil {
		return nil, store.ScrubError(err, raw)
	}
	if backend == store.BackendPostgres {
		db, err := postgres.OpenWith(ctx, target, logger, opt)
		if err != nil {
			return nil, store.ScrubError(err, raw)
		}
		return db, nil
	}
	db, err := sqlite.OpenWith(ctx, target, logger, opt)
	if err != nil {
		return nil, err
	}
	return db, nil
}
