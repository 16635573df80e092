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
	backend, target, err := store.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	if backend == store.BackendPostgres {
		db, err := postgres.Open(ctx, target, logger)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, target, logger)
	if err != nil {
		return nil, err
	}
	return db, nil
}
