package sync

import (
	"context"
	"fmt"
)

// The use cases below are what an administrator asks of entrasync, whichever
// way they ask: the CLI and the admin API call these and nothing else, so
// both do the same.

// The kinds of principal Provision takes.
const (
	KindUser  = "user"
	KindGroup = "group"
)

// ApproveRun applies the archives the held run runID held back (C6): a fresh
// full cycle of its tenant, under the tenant's lease, in which only those
// archives pass the guard — the ones a fresh read still finds are applied,
// those it no longer finds are not, and any others are guarded as usual —
// then the run (and every later held run of the tenant) is marked approved.
// ErrRunNotFound when there is no such run; EINVALID when it held nothing or
// was reviewed already; ErrUnknownTenant when the worker does not serve its
// tenant; the cycle's errors (ErrCycleRunning, ErrTenantPaused,
// ErrSnapshotIncomplete …) as RunNow returns them, and then the run stays
// unreviewed.
func (w *Worker) ApproveRun(ctx context.Context, runID int64) (*Result, error) {
	run, log, err := w.store.Run(ctx, runID)
	if err != nil {
		return nil, err
	}
	if run.Outcome != OutcomeHeld || run.Review != "" {
		suffix := ""
		if run.Review != "" {
			suffix = ", already " + run.Review
		}
		return nil, Errorf(EINVALID, "run %d has nothing to approve (outcome %s%s)", runID, run.Outcome, suffix)
	}
	res, err := w.RunNow(ctx, run.TenantID, CycleOptions{Trigger: fmt.Sprintf("approve run %d", runID),
		Approved: HeldChanges(log)})
	if err != nil {
		return res, err
	}
	if _, err := w.store.ReviewRun(ctx, runID, ReviewApproved); err != nil {
		return res, err
	}
	return res, nil
}

// Provision provisions one principal of tenantID now (C2), under the
// tenant's lease: kind KindUser reads the user query names (an object id or
// a UPN), KindGroup the group (an object id or a display name); see
// Syncer.ProvisionUser and Syncer.ProvisionGroup. A paused tenant refuses to
// apply (ErrTenantPaused); a dry run still works. EINVALID for another kind
// or a tenant whose source cannot read single principals; ErrUnknownTenant,
// ErrCycleRunning; a failed read is ErrSnapshotIncomplete, with the report
// so far.
func (w *Worker) Provision(ctx context.Context, tenantID, kind, query string, opt CycleOptions) (*OnDemand, error) {
	if kind != KindUser && kind != KindGroup {
		return nil, Errorf(EINVALID, "provision: %q is not %s or %s", kind, KindUser, KindGroup)
	}
	if !opt.DryRun {
		if err := w.CheckNotPaused(ctx, tenantID); err != nil {
			return nil, err
		}
	}
	var od *OnDemand
	err := w.WithLease(ctx, tenantID, func(ctx context.Context, src Source) error {
		ps, ok := src.(PrincipalSource)
		if !ok {
			return Errorf(EINVALID, "tenant %s cannot provision on demand", tenantID)
		}
		var err error
		if kind == KindGroup {
			od, err = w.syncer.ProvisionGroup(ctx, tenantID, ps, query, opt)
		} else {
			od, err = w.syncer.ProvisionUser(ctx, tenantID, ps, query, opt)
		}
		return err
	})
	return od, err
}

// ListUsers lists tenantID's users (with status, only those) with their
// effective settings. ErrTenantNotFound for an unknown tenant, EINVALID for
// an unknown status.
func ListUsers(ctx context.Context, dir Store, tenantID string, status Status) ([]UserView, error) {
	settings, err := dir.EffectiveSettings(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	users, err := dir.Users(ctx, tenantID, status)
	if err != nil {
		return nil, err
	}
	return UserViews(users, settings), nil
}

// ListGroups lists tenantID's groups with their members and effective
// settings. ErrTenantNotFound for an unknown tenant.
func ListGroups(ctx context.Context, dir Store, tenantID string) ([]GroupView, error) {
	settings, err := dir.EffectiveSettings(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	groups, err := dir.Groups(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	return GroupViews(groups, settings), nil
}
