package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// Scoped tokens, the audit trail of administrators' actions and the paged
// provisioning log (sync.Access, sync.LogPager), for both backends.

// IssueAPIToken stores hash as a live token of scope and label and revokes
// the older live tokens of label, in one transaction. EINVALID for a bad
// scope or label; ECONFLICT for a hash stored before, and nothing changes.
func (s *DB) IssueAPIToken(ctx context.Context, hash, scope, label string) error {
	if !sync.ValidScope(scope) {
		return sync.Errorf(sync.EINVALID, "token scope must be %s or %s, not %q", sync.ScopeRead, sync.ScopeAdmin, scope)
	}
	if !sync.ValidTokenLabel(label) {
		return sync.Errorf(sync.EINVALID, "token label must be 1 to %d letters, digits, '-', '_' or '.'", sync.MaxTokenLabel)
	}
	return s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		if s.d.TokenLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.TokenLock); err != nil {
				return fmt.Errorf("store: lock tokens: %w", s.d.Translate(err))
			}
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND label = ?`), now, label); err != nil {
			return fmt.Errorf("store: revoke tokens: %w", s.d.Translate(err))
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_tokens (token_hash, created_at, scope, label) VALUES (?, ?, ?, ?)`),
			hash, now, scope, label); err != nil {
			return fmt.Errorf("store: store token: %w", s.d.Translate(err))
		}
		return nil
	})
}

// LookupAPIToken returns the live token of hash; sync.ErrTokenNotFound for
// an unknown or revoked one.
func (s *DB) LookupAPIToken(ctx context.Context, hash string) (sync.APIToken, error) {
	var r struct {
		Scope     string `db:"scope"`
		Label     string `db:"label"`
		CreatedAt Time   `db:"created_at"`
	}
	err := s.x.GetContext(ctx, &r, s.q(`SELECT scope, label, created_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`), hash)
	if errors.Is(err, sql.ErrNoRows) {
		return sync.APIToken{}, sync.ErrTokenNotFound
	}
	if err != nil {
		return sync.APIToken{}, fmt.Errorf("store: look up token: %w", s.d.Translate(err))
	}
	return sync.APIToken{Hash: hash, Scope: r.Scope, Label: r.Label, CreatedAt: r.CreatedAt.Time}, nil
}

// RecordAdminAction appends a to the audit trail.
func (s *DB) RecordAdminAction(ctx context.Context, a sync.AdminAction) error {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	_, err := s.x.ExecContext(ctx, s.q(`INSERT INTO admin_actions (at, actor, action, tenant_id, target, detail) VALUES (?, ?, ?, ?, ?, ?)`),
		s.d.Time(a.At), a.Actor, a.Action, a.TenantID, a.Target, a.Detail)
	if err != nil {
		return fmt.Errorf("store: record admin action: %w", s.d.Translate(err))
	}
	return nil
}

// AdminActions lists the audit trail newest first: tenantID's, or all for "".
func (s *DB) AdminActions(ctx context.Context, tenantID string, limit int) ([]sync.AdminAction, error) {
	if limit <= 0 {
		limit = 100
	}
	var rows []struct {
		ID       int64  `db:"id"`
		At       Time   `db:"at"`
		Actor    string `db:"actor"`
		Action   string `db:"action"`
		TenantID string `db:"tenant_id"`
		Target   string `db:"target"`
		Detail   string `db:"detail"`
	}
	q, args := `SELECT id, at, actor, action, tenant_id, target, detail FROM admin_actions ORDER BY id DESC LIMIT ?`, []any{limit}
	if tenantID != "" {
		q, args = `SELECT id, at, actor, action, tenant_id, target, detail FROM admin_actions WHERE tenant_id = ? ORDER BY id DESC LIMIT ?`, []any{tenantID, limit}
	}
	if err := s.x.SelectContext(ctx, &rows, s.q(q), args...); err != nil {
		return nil, fmt.Errorf("store: list admin actions: %w", s.d.Translate(err))
	}
	out := make([]sync.AdminAction, len(rows))
	for i, r := range rows {
		out[i] = sync.AdminAction{ID: r.ID, At: r.At.Time, Actor: r.Actor, Action: r.Action, TenantID: r.TenantID, Target: r.Target, Detail: r.Detail}
	}
	return out, nil
}

// RunLog returns the page q selects of run runID's provisioning log, the
// filters and paging done by the query (the log's key, run and id, serves the
// order); ErrRunNotFound when there is no such run.
func (s *DB) RunLog(ctx context.Context, runID int64, q sync.LogQuery) (sync.LogPage, error) {
	page := sync.LogPage{Offset: max(q.Offset, 0), Limit: q.PageLimit()}
	var r runRow
	err := s.x.GetContext(ctx, &r, s.q(`SELECT `+runColumns+` FROM runs WHERE id = ?`), runID)
	if errors.Is(err, sql.ErrNoRows) {
		return page, fmt.Errorf("store: run %d: %w", runID, sync.ErrRunNotFound)
	}
	if err != nil {
		return page, fmt.Errorf("store: get run %d: %w", runID, s.d.Translate(err))
	}
	run, err := r.run()
	if err != nil {
		return page, err
	}
	page.Run = &run
	where, args := []string{"run_id = ?"}, []any{runID}
	for _, f := range []struct{ col, v string }{{"action", string(q.Action)}, {"status", q.Status}, {"entity", string(q.Entity)}} {
		if f.v != "" {
			where, args = append(where, f.col+" = ?"), append(args, f.v)
		}
	}
	if q.Text != "" {
		like := "%" + likeEscaper.Replace(strings.ToLower(q.Text)) + "%"
		where = append(where, `(lower(label) LIKE ? ESCAPE '\' OR lower(entra_id) LIKE ? ESCAPE '\' OR lower(group_entra_id) LIKE ? ESCAPE '\' OR lower(reason) LIKE ? ESCAPE '\')`)
		args = append(args, like, like, like, like)
	}
	cond := strings.Join(where, " AND ")
	if err := s.x.GetContext(ctx, &page.Total, s.q(`SELECT count(*) FROM provisioning_log WHERE `+cond), args...); err != nil {
		return page, fmt.Errorf("store: run %d log: %w", runID, s.d.Translate(err))
	}
	rows, err := s.x.QueryxContext(ctx, s.q(`SELECT id, run_id, status, action, entity, entra_id, group_entra_id, label, reason, fields
		FROM provisioning_log WHERE `+cond+` ORDER BY id LIMIT ? OFFSET ?`), append(args, page.Limit, page.Offset)...)
	if err != nil {
		return page, fmt.Errorf("store: run %d log: %w", runID, s.d.Translate(err))
	}
	defer rows.Close()
	page.Entries = []sync.LogEntry{}
	for rows.Next() {
		var l logRow
		if err := rows.StructScan(&l); err != nil {
			return page, fmt.Errorf("store: scan log entry: %w", err)
		}
		e, err := l.entry()
		if err != nil {
			return page, err
		}
		page.Entries = append(page.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("store: run %d log: %w", runID, s.d.Translate(err))
	}
	return page, nil
}

// likeEscaper escapes LIKE's wildcards and its escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// entry is the log entry of a provisioning_log row.
func (l logRow) entry() (sync.LogEntry, error) {
	e := sync.LogEntry{ID: l.ID, RunID: l.RunID, Status: l.Status, Action: sync.Action(l.Action), Entity: sync.Entity(l.Entity), EntraID: l.EntraID,
		GroupEntraID: l.GroupEntraID, Label: l.Label, Reason: l.Reason}
	if err := json.Unmarshal(l.Fields, &e.Fields); err != nil {
		return e, fmt.Errorf("store: log entry %d fields: %w", e.ID, err)
	}
	return e, nil
}
