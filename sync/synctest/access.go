package synctest

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// access is the memory directory's half of sync.Access: the scope and label
// of each token (the liveness is Memory.tokens) and the audit trail.
type access struct {
	tokens  map[string]sync.APIToken
	actions []sync.AdminAction
}

// IssueAPIToken stores hash as a live token of scope and label, revoking the
// older live tokens of label; EINVALID for a bad scope or label, ECONFLICT
// when hash was stored before.
func (m *Memory) IssueAPIToken(_ context.Context, hash, scope, label string) error {
	if !sync.ValidScope(scope) || !sync.ValidTokenLabel(label) {
		return sync.Errorf(sync.EINVALID, "synctest: bad token scope %q or label %q", scope, label)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[hash]; ok {
		return sync.Errorf(sync.ECONFLICT, "synctest: token hash stored before")
	}
	for h, live := range m.tokens {
		if live && m.tokenInfo(h).Label == label {
			m.tokens[h] = false
		}
	}
	if m.access.tokens == nil {
		m.access.tokens = map[string]sync.APIToken{}
	}
	m.tokens[hash] = true
	m.access.tokens[hash] = sync.APIToken{Hash: hash, Scope: scope, Label: label, CreatedAt: m.now()}
	return nil
}

// tokenInfo is the scope and label of hash: those RotateAPIToken gives (admin,
// labelled admin) when IssueAPIToken did not store it.
func (m *Memory) tokenInfo(hash string) sync.APIToken {
	if t, ok := m.access.tokens[hash]; ok {
		return t
	}
	return sync.APIToken{Hash: hash, Scope: sync.ScopeAdmin, Label: sync.ScopeAdmin}
}

// LookupAPIToken returns the live token of hash, or sync.ErrTokenNotFound.
func (m *Memory) LookupAPIToken(_ context.Context, hash string) (sync.APIToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.tokens[hash] {
		return sync.APIToken{}, sync.ErrTokenNotFound
	}
	return m.tokenInfo(hash), nil
}

// RecordAdminAction appends a to the audit trail.
func (m *Memory) RecordAdminAction(_ context.Context, a sync.AdminAction) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a.At.IsZero() {
		a.At = m.now()
	}
	a.At = a.At.UTC().Truncate(time.Microsecond)
	a.ID = int64(len(m.access.actions) + 1)
	m.access.actions = append(m.access.actions, a)
	return nil
}

// AdminActions lists the audit trail newest first, tenantID's or all.
func (m *Memory) AdminActions(_ context.Context, tenantID string, limit int) ([]sync.AdminAction, error) {
	if limit <= 0 {
		limit = 100
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []sync.AdminAction
	for _, a := range slices.Backward(m.access.actions) {
		if len(out) == limit {
			break
		}
		if tenantID == "" || a.TenantID == tenantID {
			out = append(out, a)
		}
	}
	return out, nil
}

// RunLog returns the page q selects of run runID's log (sync.MatchLog).
func (m *Memory) RunLog(_ context.Context, runID int64, q sync.LogQuery) (sync.LogPage, error) {
	page := sync.LogPage{Offset: max(q.Offset, 0), Limit: q.PageLimit(), Entries: []sync.LogEntry{}}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.findRun(runID)
	if r == nil {
		return page, fmt.Errorf("synctest: run %d: %w", runID, sync.ErrRunNotFound)
	}
	run := r.run
	page.Run = &run
	for _, e := range r.log {
		if !sync.MatchLog(e, q) {
			continue
		}
		if page.Total >= page.Offset && len(page.Entries) < page.Limit {
			page.Entries = append(page.Entries, e)
		}
		page.Total++
	}
	return page, nil
}
