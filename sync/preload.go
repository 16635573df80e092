package sync

import (
	"context"
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
	}()
	return p
}

// take waits for the preloaded state and hands it over once: nil when
// there is none, it failed, or it was taken already.
func (p *preload) take() *State {
	if p == nil {
		return nil
	}
	<-p.done
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

// wholeState loads tx's whole state: the preloaded one when the directory
// is still as it was (PreloadedTx; the state's preloaded is set), else its
// own.
func wholeState(ctx context.Context, tx Tx, pre *preload) (*State, error) {
	if ptx, ok := tx.(PreloadedTx); ok {
		if p := pre.take(); p != nil {
			st, reused, err := ptx.StateFrom(ctx, p)
			if st != nil {
				st.preloaded = reused
			}
			return st, err
		}
	}
	return tx.State(ctx)
}
