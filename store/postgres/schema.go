package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// schemaName is what CreateSchema accepts: a plain lower-case identifier.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateSchema creates schema on the database at base, dropping one of the
// same name first, and returns a URL whose search_path selects it and a
// function that drops it again. Tests and benchmarks give each directory a
// schema of its own with it. A schema name that is
// not a plain identifier is an error, as is a database that does not answer;
// errors never carry the password.
func CreateSchema(ctx context.Context, base, schema string) (string, func(), error) {
	if !schemaName.MatchString(schema) {
		return "", nil, fmt.Errorf("store: schema name %q is not a plain identifier", schema)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("store: database URL: %w", redact(err))
	}
	db, err := sql.Open("postgres", base)
	if err != nil {
		return "", nil, fmt.Errorf("store: open: %w", redact(err))
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return "", nil, fmt.Errorf("store: PostgreSQL is not reachable at %s: %w", u.Redacted(), redact(err))
	}
	if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE; CREATE SCHEMA `+schema); err != nil {
		_ = db.Close()
		return "", nil, fmt.Errorf("store: create schema %s: %w", schema, translate(err))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		_, _ = db.Exec(`DROP SCHEMA IF EXISTS ` + schema + ` CASCADE`)
		_ = db.Close()
	}, nil
}

// DumpTables are the tables Dump renders by default: every directory table
// but runs, whose figures differ from cycle to cycle.
var DumpTables = []string{"tenants", "users", "user_paths", "groups", "memberships", "provisioning_log", "events"}

// Dump renders tables (DumpTables when none are named) row by row, in a
// stable order, so two dumps are equal only if nothing was written between
// them. Tests and benchmarks compare directories with it.
func (s *DB) Dump(ctx context.Context, tables ...string) (string, error) {
	if len(tables) == 0 {
		tables = DumpTables
	}
	var b strings.Builder
	for _, t := range tables {
		if !schemaName.MatchString(t) {
			return "", fmt.Errorf("store: table name %q is not a plain identifier", t)
		}
		var rows []string
		if err := s.SQL().SelectContext(ctx, &rows, `SELECT row_to_json(x)::text FROM `+t+` x ORDER BY 1`); err != nil {
			return "", fmt.Errorf("store: dump %s: %w", t, translate(err))
		}
		fmt.Fprintf(&b, "%s:%d\n%s\n", t, len(rows), strings.Join(rows, "\n"))
	}
	return b.String(), nil
}
