package main

// `entrasync token rotate`: a new admin API token; older ones stop working.

import (
	"fmt"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
)

// tokenRotate is `entrasync token rotate`: a new admin API token, printed
// once; every older token stops working at once.
func (e *env) tokenRotate(args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usagef("token: the only subcommand is rotate")
	}
	f := e.newFlags("token rotate", false)
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	_, db, err := e.configAndStore()
	if err != nil {
		return err
	}
	defer db.Close()
	token, hash, err := web.NewToken()
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if err := db.RotateAPIToken(e.ctx, hash); err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, map[string]string{"token": token})
	}
	fmt.Fprintln(e.stderr, "New admin API token (shown once; every earlier token no longer works):")
	_, err = fmt.Fprintln(e.stdout, token)
	return err
}
