package sync

import (
	"context"
	"errors"
)

// A full cycle plans against the whole directory. Loading it (a large
// tenant's 100,000 users, their paths, the groups and their members) took
// most of a second after the read, while the database had sat idle through
// the read's seconds of round trips. A directory that can (StatePreloader)
// loads it during the read instead, in a read-only snapshot that locks
// nothing; the cycle's transaction then takes that state only if the
// directory's version (Tenant.DirectoryVersion, counted by every write to
// the directory, the cycle's own and the administrators') is still the
// snapshot's, and loads the state itself otherwise.

// StatePreloader is a Directory that can load a tenant's whole state
// outside a cycle's transaction.
type StatePreloader interface {
	// PreloadState loads tenantID's whole directory in one read-only
	// snapshot, its Tenant.DirectoryVersion the snapshot's. It takes no
	// lock and writes nothing.
	PreloadState(ctx context.Context, tenantID string) (*State, error)
}

// PreloadedTx is a Tx that can plan against a preloaded state.
type PreloadedTx interface {
	// StateFrom is State, answered with pre's users and groups (and this
	// transaction's tenant) when the directory's version is still pre's:
	// reused says which.
	StateFrom(ctx context.Context, pre *State) (st *State, reused bool, err error)
}

// preload is a state loading beside a cycle's read.
type preload struct {
	done   chan struct{}
	st     *State
	err    error
	cancel context.CancelFunc
}

// startPreload loads tenantID's state beside the read when the directory
// can; nil otherwise.
func (s *Syncer) startPreload(ctx context.Context, tenantID string) *preload {
	pl, ok := s.dir.(StatePreloader)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &preload{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(p.done)
		p.st, p.err = pl.PreloadState(ctx, tenantID)
		if p.err != nil && ctx.Err() == nil && !errors.Is(p.err, context.Canceled) {
			s.logger.Warn("loading the directory during the read failed; the cycle loads it in its transaction",
				LogTenant, tenantID, "err", p.err)
		}
	}()
	return p
}

// take waits for the preloaded state, or for ctx, and hands it over once:
// nil when there is none, it failed, ctx ended, or it was taken already.
// It is called before the cycle's transaction begins: a transaction that
// held a connection and the tenant's lock while its preload waited for a
// connection could leave every connection of the pool to cycles waiting
// for their own preloads.
func (p *preload) take(ctx context.Context) *State {
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil
	}
	st := p.st
	p.st = nil
	if p.err != nil {
		return nil
	}
	return st
}

// stop abandons a preload the cycle did not take, and waits for it.
func (p *preload) stop() {
	if p != nil {
		p.cancel()
		<-p.done
		p.st = nil
	}
}

// wholeState loads tx's whole state: pre (taken before tx began) when the
// directory is still as it was (PreloadedTx; the state's preloaded is
// set), else its own.
func wholeState(ctx context.Context, tx Tx, pre *State) (*State, error) {
	if ptx, ok := tx.(PreloadedTx); ok {
		if pre != nil {
			st, reused, err := ptx.StateFrom(ctx, pre)
			if st != nil {
				st.preloaded = reused
			}
			return st, err
		}
	}
	return tx.State(ctx)
}
