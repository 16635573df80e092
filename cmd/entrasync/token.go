package main

// `entrasync token rotate`: a new API token of a scope (read or admin) and a
// label; the label's older token stops working.

import (
	"fmt"

	"github.com/entrasync/entrasync/cmd/entrasync/web"
	"github.com/entrasync/entrasync/sync"
)

// tokenRotate is `entrasync token rotate [--scope admin|read] [--label L]`: a
// new API token, printed once; the older token of the same label stops
// working at once (the label defaults to the scope). The rotation is
// recorded in the audit trail as done by "cli".
func (e *env) tokenRotate(args []string) error {
	if len(args) == 0 || args[0] != "rotate" {
		return usagef("token: the only subcommand is rotate")
	}
	f := e.newFlags("token rotate", false)
	scope := f.String("scope", sync.ScopeAdmin, "admin (everything) or read (view only)")
	label := f.String("label", "", "the token's name in the audit trail; rotating a label revokes its older token (default: the scope)")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if !sync.ValidScope(*scope) {
		return usagef("token rotate: --scope must be %s or %s, not %q", sync.ScopeAdmin, sync.ScopeRead, *scope)
	}
	if *label == "" {
		*label = *scope
	}
	if !sync.ValidTokenLabel(*label) {
		return usagef("token rotate: --label must be 1 to %d letters, digits, '-', '_' or '.'", sync.MaxTokenLabel)
	}
	_, db, err := e.configAndStore()
	if err != nil {
		return err
	}
	defer db.Close()
	token, err := web.IssueToken(e.ctx, db, *scope, *label)
	if err != nil {
		return err
	}
	if err := db.RecordAdminAction(e.ctx, sync.AdminAction{Actor: "cli", Action: sync.ActionRotateToken, Target: *label, Detail: "scope " + *scope}); err != nil {
		return err
	}
	if f.json {
		return writeJSON(e.stdout, map[string]string{"token": token, "scope": *scope, "label": *label})
	}
	fmt.Fprintf(e.stderr, "New %s API token labelled %q (shown once; the earlier %q token no longer works):\n", *scope, *label, *label)
	_, err = fmt.Fprintln(e.stdout, token)
	return err
}
