package synctest

import (
	"context"

	"github.com/entrasync/entrasync/sync"
)

// Apply runs one cycle's transaction on dir without a Syncer: it loads
// tenantID's state, lets plan make the plan of it, applies that plan (with
// its events and an empty run record) and commits. A test drives the planner
// and a directory this way, one plan at a time. It returns the plan and the
// error of Begin, State, Apply or Commit; after an error nothing is kept.
func Apply(ctx context.Context, dir sync.Directory, tenantID string, plan func(st *sync.State) *sync.Plan) (*sync.Plan, error) {
	tx, err := dir.Begin(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	st, err := tx.State(ctx)
	if err != nil {
		return nil, err
	}
	p := plan(st)
	if err := tx.Apply(ctx, &sync.Run{TenantID: tenantID, Outcome: sync.OutcomeSucceeded}, p, p.Events()); err != nil {
		return p, err
	}
	return p, tx.Commit()
}

// State loads tenantID's state from dir in a transaction that writes
// nothing. ErrTenantNotFound and the other errors of Begin and State.
func State(ctx context.Context, dir sync.Directory, tenantID string) (*sync.State, error) {
	tx, err := dir.Begin(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	return tx.State(ctx)
}
