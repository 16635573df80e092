package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// sqliteQueryer is what both *sql.DB and *sql.Tx offer for reading.
type sqliteQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const sqliteUserColumns = `id, entra_id, origin, user_principal_name, mail, email, display_name, given_name, surname,
	account_enabled, status, previous_status, archived_at, archive_reason, require_mobile_auth`

func scanSQLiteUser(rows *sql.Rows) (sync.User, error) {
	var u sync.User
	var entra, archivedAt sql.NullString
	var origin, status, prev string
	var mobile sql.NullBool
	if err := rows.Scan(&u.ID, &entra, &origin, &u.UserPrincipalName, &u.Mail, &u.Email, &u.DisplayName,
		&u.GivenName, &u.Surname, &u.AccountEnabled, &status, &prev, &archivedAt, &u.ArchiveReason, &mobile); err != nil {
		return u, fmt.Errorf("store: scan user: %w", err)
	}
	u.EntraID, u.Origin, u.Status, u.PreviousStatus = entra.String, sync.Origin(origin), sync.Status(status), sync.Status(prev)
	at, err := parseSQLiteNullTime(archivedAt)
	if err != nil {
		return u, fmt.Errorf("store: user %d archived_at: %w", u.ID, err)
	}
	u.ArchivedAt = at
	if mobile.Valid {
		v := mobile.Bool
		u.RequireMobileAuth = &v
	}
	return u, nil
}

func sqliteLoadUsers(ctx context.Context, q sqliteQueryer, tenantID, where string, args ...any) ([]sync.User, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+sqliteUserColumns+` FROM users WHERE tenant_id = ? AND `+where+` ORDER BY id`,
		append([]any{tenantID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: load users: %w", translateSQLite(err))
	}
	defer rows.Close()
	var users []sync.User
	index := map[int64]int{}
	for rows.Next() {
		u, err := scanSQLiteUser(rows)
		if err != nil {
			return nil, err
		}
		index[u.ID] = len(users)
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load users: %w", translateSQLite(err))
	}
	prow, err := q.QueryContext(ctx, `SELECT user_id, path FROM user_paths WHERE tenant_id = ? ORDER BY user_id, path`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: load paths: %w", translateSQLite(err))
	}
	if err := attachRows(prow, index, func(i int, v string) { users[i].Paths = append(users[i].Paths, v) }, "path", translateSQLite); err != nil {
		return nil, err
	}
	return users, nil
}

func sqliteLoadGroups(ctx context.Context, q sqliteQueryer, tenantID string) ([]sync.Group, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, entra_id, origin, display_name, archived_at, archive_reason,
		members_may_store_data, require_mobile_auth FROM groups WHERE tenant_id = ? ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: load groups: %w", translateSQLite(err))
	}
	defer rows.Close()
	var groups []sync.Group
	index := map[int64]int{}
	for rows.Next() {
		var g sync.Group
		var entra, archivedAt sql.NullString
		var origin string
		var mayStore, mobile sql.NullBool
		if err := rows.Scan(&g.ID, &entra, &origin, &g.DisplayName, &archivedAt, &g.ArchiveReason, &mayStore, &mobile); err != nil {
			return nil, fmt.Errorf("store: scan group: %w", err)
		}
		g.EntraID, g.Origin = entra.String, sync.Origin(origin)
		if g.ArchivedAt, err = parseSQLiteNullTime(archivedAt); err != nil {
			return nil, fmt.Errorf("store: group %d archived_at: %w", g.ID, err)
		}
		if mayStore.Valid {
			v := mayStore.Bool
			g.MembersMayStoreData = &v
		}
		if mobile.Valid {
			v := mobile.Bool
			g.RequireMobileAuth = &v
		}
		index[g.ID] = len(groups)
		groups = append(groups, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load groups: %w", translateSQLite(err))
	}
	mrows, err := q.QueryContext(ctx, `SELECT m.group_id, u.entra_id FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.tenant_id = ? AND u.entra_id IS NOT NULL ORDER BY m.group_id, u.entra_id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("store: load memberships: %w", translateSQLite(err))
	}
	if err := attachRows(mrows, index, func(i int, v string) { groups[i].Members = append(groups[i].Members, v) }, "membership", translateSQLite); err != nil {
		return nil, err
	}
	return groups, nil
}

// Users lists a tenant's users, all of them or those with status.
func (s *SQLite) Users(ctx context.Context, tenantID string, status sync.Status) ([]sync.User, error) {
	if status != "" && !status.Valid() {
		return nil, sync.Errorf(sync.EINVALID, "unknown status %q (want staged, invited, active, archived or purged)", status)
	}
	if status == "" {
		return sqliteLoadUsers(ctx, s.db, tenantID, "1")
	}
	return sqliteLoadUsers(ctx, s.db, tenantID, "status = ?", string(status))
}

// Groups lists a tenant's groups with their provisioned members.
func (s *SQLite) Groups(ctx context.Context, tenantID string) ([]sync.Group, error) {
	return sqliteLoadGroups(ctx, s.db, tenantID)
}

const sqliteRunColumns = `id, tenant_id, trigger, started_at, finished_at, outcome, counts, conflicts, graph_requests,
	read_ms, apply_ms, error, round_trips, lower_bound, plan_ms, throttle_wait_ms, held, review, reviewed_at`

type sqliteScanner interface{ Scan(dest ...any) error }

func scanSQLiteRun(sc sqliteScanner) (sync.Run, error) {
	var r sync.Run
	var started, finished, outcome, counts, conflicts string
	var reviewed sql.NullString
	if err := sc.Scan(&r.ID, &r.TenantID, &r.Trigger, &started, &finished, &outcome, &counts, &conflicts,
		&r.GraphRequests, &r.ReadMillis, &r.ApplyMillis, &r.Error, &r.RoundTrips, &r.LowerBound, &r.PlanMillis,
		&r.ThrottleMs, &r.Held, &r.Review, &reviewed); err != nil {
		return r, err
	}
	if t, err := parseSQLiteNullTime(reviewed); err != nil {
		return r, fmt.Errorf("store: run %d reviewed_at: %w", r.ID, err)
	} else {
		r.ReviewedAt = t
	}
	r.Outcome = sync.Outcome(outcome)
	var err error
	if r.StartedAt, err = parseSQLiteTime(started); err != nil {
		return r, fmt.Errorf("store: run %d started_at: %w", r.ID, err)
	}
	if r.FinishedAt, err = parseSQLiteTime(finished); err != nil {
		return r, fmt.Errorf("store: run %d finished_at: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(counts), &r.Counts); err != nil {
		return r, fmt.Errorf("store: run %d counts: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(conflicts), &r.Conflicts); err != nil {
		return r, fmt.Errorf("store: run %d conflicts: %w", r.ID, err)
	}
	return r, nil
}

// Runs lists runs newest first, of one tenant or of all for "".
func (s *SQLite) Runs(ctx context.Context, tenantID string, limit int) ([]sync.Run, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+sqliteRunColumns+` FROM runs WHERE (? = '' OR tenant_id = ?)
		ORDER BY id DESC LIMIT ?`, tenantID, tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list runs: %w", translateSQLite(err))
	}
	defer rows.Close()
	runs := []sync.Run{}
	for rows.Next() {
		r, err := scanSQLiteRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list runs: %w", translateSQLite(err))
	}
	return runs, nil
}

// Run returns one run and its provisioning log in order; ErrRunNotFound if
// there is no such run.
func (s *SQLite) Run(ctx context.Context, id int64) (*sync.Run, []sync.LogEntry, error) {
	run, err := scanSQLiteRun(s.db.QueryRowContext(ctx, `SELECT `+sqliteRunColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: run %d: %w", id, sync.ErrRunNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: get run %d: %w", id, translateSQLite(err))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, run_id, status, action, entity, entra_id, group_entra_id, label, reason, fields
		FROM provisioning_log WHERE run_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, nil, fmt.Errorf("store: run %d log: %w", id, translateSQLite(err))
	}
	defer rows.Close()
	var log []sync.LogEntry
	for rows.Next() {
		var e sync.LogEntry
		var fields string
		if err := rows.Scan(&e.ID, &e.RunID, &e.Status, &e.Action, &e.Entity, &e.EntraID, &e.GroupEntraID, &e.Label, &e.Reason, &fields); err != nil {
			return nil, nil, fmt.Errorf("store: scan log entry: %w", err)
		}
		if err := json.Unmarshal([]byte(fields), &e.Fields); err != nil {
			return nil, nil, fmt.Errorf("store: log entry %d fields: %w", e.ID, err)
		}
		log = append(log, e)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: run %d log: %w", id, translateSQLite(err))
	}
	return &run, log, nil
}

// Events lists a tenant's events with an id above after, oldest first.
func (s *SQLite) Events(ctx context.Context, tenantID string, after int64, limit int) ([]sync.Event, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, tenant_id, COALESCE(run_id, 0), type, entra_id, group_entra_id, data, created_at
		FROM events WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`, tenantID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list events: %w", translateSQLite(err))
	}
	defer rows.Close()
	var evs []sync.Event
	for rows.Next() {
		var e sync.Event
		var data, created string
		if err := rows.Scan(&e.ID, &e.TenantID, &e.RunID, &e.Type, &e.EntraID, &e.GroupEntraID, &data, &created); err != nil {
			return nil, fmt.Errorf("store: scan event: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return nil, fmt.Errorf("store: event %d data: %w", e.ID, err)
		}
		if e.CreatedAt, err = parseSQLiteTime(created); err != nil {
			return nil, fmt.Errorf("store: event %d: %w", e.ID, err)
		}
		evs = append(evs, e)
	}
	return evs, rows.Err()
}

// PurgeUser erases a user's personal data (L5), keeping a tombstone with its
// ids and times; its memberships and paths go, and a user.purged event is
// written. ENOTFOUND if there is no such live user. A purged user that comes
// back into scope is created anew.
func (s *SQLite) PurgeUser(ctx context.Context, tenantID string, id int64) error {
	now := sqliteTime(time.Now())
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET status = 'purged', purged_at = ?, updated_at = ?,
			user_principal_name = '', mail = '', email = '', email_key = NULL, display_name = '', given_name = '', surname = '',
			archive_reason = '' WHERE tenant_id = ? AND id = ? AND status <> 'purged'`, now, now, tenantID, id)
		if err != nil {
			return fmt.Errorf("store: purge user %d: %w", id, translateSQLite(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sync.Errorf(sync.ENOTFOUND, "store: no live user %d in tenant %s", id, tenantID)
		}
		for _, q := range []string{`DELETE FROM memberships WHERE user_id = ?`, `DELETE FROM user_paths WHERE user_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("store: purge user %d: %w", id, translateSQLite(err))
			}
		}
		// Event data is a map of strings, so the id is written as a string.
		data, _ := json.Marshal(map[string]string{"userId": strconv.FormatInt(id, 10)})
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, data, created_at) VALUES (?, 'user.purged', ?, ?)`,
			tenantID, string(data), now); err != nil {
			return fmt.Errorf("store: purge user %d: %w", id, translateSQLite(err))
		}
		return nil
	})
}
