package main

// `entrasync migrate`: create the directory or bring its schema up to date,
// explicitly (read-only commands never do).

import (
	"fmt"
	"strings"

	"github.com/entrasync/entrasync/store/open"
)

// migrate is `entrasync migrate [--json]`.
func (e *env) migrate(args []string) error {
	f := e.newFlags("migrate", false)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return usagef("migrate: unexpected argument %q", f.Arg(0))
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	db, err := open.URL(e.ctx, e.dbURL(cfg), e.logger)
	if err != nil {
		return err
	}
	defer db.Close()
	version, err := db.SchemaVersion(e.ctx)
	if err != nil {
		return err
	}
	applied := nonNil(db.Migrated())
	if f.json {
		return writeJSON(e.stdout, struct {
			Backend string   `json:"backend"`
			Schema  string   `json:"schema"`
			Applied []string `json:"applied"`
		}{db.Backend(), version, applied})
	}
	if len(applied) == 0 {
		_, err = fmt.Fprintf(e.stdout, "The %s directory is up to date (schema %s): nothing to apply.\n", db.Backend(), version)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "Applied %d migration(s) to the %s directory: %s (schema now %s).\n",
		len(applied), db.Backend(), strings.Join(applied, ", "), version)
	return err
}
