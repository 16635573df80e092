package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/entrasync/entrasync/sync"
)

var _ sync.Admin = (*DB)(nil)

// userSettingColumns and groupSettingColumns map override names to columns.
var (
	userSettingColumns  = map[string]string{sync.SettingRequireMobileAuth: "require_mobile_auth"}
	groupSettingColumns = map[string]string{sync.SettingMembersMayStoreData: "members_may_store_data",
		sync.SettingRequireMobileAuth: "require_mobile_auth"}
)

// overrideColumn is one per-user or per-group override to write: NULL clears.
type overrideColumn struct {
	column string
	value  sql.NullBool
}

// overrideColumns checks per-entity changes and maps them to columns.
func overrideColumns(kind string, columns map[string]string, changes []sync.SettingChange) ([]overrideColumn, error) {
	names := make([]string, 0, len(columns))
	for n := range columns {
		names = append(names, n)
	}
	checked, err := sync.CheckOverrides(kind, names, changes)
	if err != nil {
		return nil, err
	}
	out := make([]overrideColumn, len(checked))
	for i, o := range checked {
		out[i].column = columns[o.Name]
		if o.Value != nil {
			out[i].value = sql.NullBool{Bool: *o.Value, Valid: true}
		}
	}
	return out, nil
}

// ---- PostgreSQL ----------------------------------------------------------

// tenantRow is the tenant row's administration columns (both backends).
type tenantRow struct {
	settings, overrides []byte
	disconnectedAt      *time.Time
}

// pgTenant reads the tenant row, locking it with forUpdate (as Begin does);
// ErrTenantNotFound if there is none.
func pgTenant(ctx context.Context, q sqlx.QueryerContext, tenantID string, forUpdate bool) (tenantRow, error) {
	var r tenantRow
	var at sql.NullTime
	query := `SELECT settings, settings_overrides, disconnected_at FROM tenants WHERE id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err := q.QueryRowxContext(ctx, query, tenantID).Scan(&r.settings, &r.overrides, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: read tenant %s: %w", tenantID, translate(err))
	}
	if at.Valid {
		t := at.Time.UTC()
		r.disconnectedAt = &t
	}
	return r, nil
}

// ResolveUser finds a user by local id, e-mail or UPN, or Entra object id
// (see Admin).
func (s *DB) ResolveUser(ctx context.Context, tenantID, ref string) (sync.User, error) {
	ref = strings.TrimSpace(ref)
	kind, id, err := sync.ParseRef("user", ref)
	if err != nil {
		return sync.User{}, err
	}
	if _, err := pgTenant(ctx, s.db, tenantID, false); err != nil {
		return sync.User{}, err
	}
	var users []sync.User
	switch kind {
	case sync.RefLocalID:
		users, err = loadUsers(ctx, s.db, tenantID, "id = $2", id)
	case sync.RefEmail:
		users, err = loadUsers(ctx, s.db, tenantID, "(email_key = $2 OR lower(user_principal_name) = $2)", sync.EmailKey(ref))
	default:
		users, err = loadUsers(ctx, s.db, tenantID, "lower(entra_id) = lower($2)", ref)
	}
	if err != nil {
		return sync.User{}, err
	}
	return sync.PickUser(tenantID, ref, users)
}

// ResolveGroup finds a group by local id, Entra object id or display name
// (see Admin).
func (s *DB) ResolveGroup(ctx context.Context, tenantID, ref string) (sync.Group, error) {
	if _, err := pgTenant(ctx, s.db, tenantID, false); err != nil {
		return sync.Group{}, err
	}
	groups, err := loadGroups(ctx, s.db, tenantID)
	if err != nil {
		return sync.Group{}, err
	}
	return sync.PickGroup(tenantID, ref, groups)
}

// InviteUsers moves staged users to invited and queues their user.invited
// events in one transaction (see Admin).
func (s *DB) InviteUsers(ctx context.Context, tenantID string, userIDs []int64, allStaged bool) ([]sync.User, error) {
	if len(userIDs) == 0 && !allStaged {
		return nil, sync.Errorf(sync.EINVALID, "store: invite: name the users, or ask for all staged users")
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: invite: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := pgTenant(ctx, tx, tenantID, true); err != nil {
		return nil, err
	}
	var users []sync.User
	if len(userIDs) > 0 {
		loaded, err := loadUsers(ctx, tx, tenantID, "id = ANY($2::bigint[])", pq.Array(userIDs))
		if err != nil {
			return nil, err
		}
		if users, err = sync.Invitable(tenantID, userIDs, loaded); err != nil {
			return nil, err
		}
	}
	if allStaged {
		staged, err := loadUsers(ctx, tx, tenantID, "status = 'staged'")
		if err != nil {
			return nil, err
		}
		users = sync.UnionByID(users, staged)
	}
	if len(users) == 0 {
		return []sync.User{}, nil
	}
	ids, entra, emails := make([]int64, len(users)), make([]string, len(users)), make([]string, len(users))
	for i, u := range users {
		ids[i], entra[i], emails[i] = u.ID, u.EntraID, u.Email
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET status = 'invited', updated_at = now()
		WHERE tenant_id = $1 AND id = ANY($2::bigint[]) AND status = 'staged'`, tenantID, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("store: invite %d users: %w", len(ids), translate(err))
	}
	if n, _ := res.RowsAffected(); n != int64(len(ids)) {
		return nil, sync.Errorf(sync.ECONFLICT, "store: invite: %d of %d users changed meanwhile", int64(len(ids))-n, len(ids))
	}
	// The data has the shape the sync writes: {"email": …}.
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, entra_id, data)
		SELECT $1, 'user.invited', v.entra_id, jsonb_build_object('email', v.email)
		FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS v(entra_id, email, n) ORDER BY v.n`,
		tenantID, pq.Array(entra), pq.Array(emails)); err != nil {
		return nil, fmt.Errorf("store: invite: write events: %w", translate(err))
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: invite: commit: %w", translate(err))
	}
	for i := range users {
		users[i].Status = sync.StatusInvited
	}
	return users, nil
}

// SetUserSetting sets or clears a live user's overrides (see Admin).
func (s *DB) SetUserSetting(ctx context.Context, tenantID string, userID int64, changes ...sync.SettingChange) (sync.User, error) {
	cols, err := overrideColumns("user", userSettingColumns, changes)
	if err != nil {
		return sync.User{}, err
	}
	var out sync.User
	err = s.adminTx(ctx, tenantID, func(tx *sqlx.Tx) error {
		if err := pgSetOverrides(ctx, tx, "users", tenantID, userID, " AND status <> 'purged'", cols); err != nil {
			if sync.ErrorCode(err) == sync.ENOTFOUND {
				return sync.Errorf(sync.ENOTFOUND, "store: no live user %d in tenant %s", userID, tenantID)
			}
			return err
		}
		users, err := loadUsers(ctx, tx, tenantID, "id = $2", userID)
		if err != nil {
			return err
		}
		out = users[0]
		return nil
	})
	return out, err
}

// SetGroupSetting sets or clears a group's overrides (see Admin).
func (s *DB) SetGroupSetting(ctx context.Context, tenantID string, groupID int64, changes ...sync.SettingChange) (sync.Group, error) {
	cols, err := overrideColumns("group", groupSettingColumns, changes)
	if err != nil {
		return sync.Group{}, err
	}
	var out sync.Group
	err = s.adminTx(ctx, tenantID, func(tx *sqlx.Tx) error {
		if err := pgSetOverrides(ctx, tx, "groups", tenantID, groupID, "", cols); err != nil {
			if sync.ErrorCode(err) == sync.ENOTFOUND {
				return sync.Errorf(sync.ENOTFOUND, "store: no group %d in tenant %s", groupID, tenantID)
			}
			return err
		}
		groups, err := loadGroups(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g.ID == groupID {
				out = g
			}
		}
		return nil
	})
	return out, err
}

// pgSetOverrides writes override columns of one row of table; ENOTFOUND if
// no row matches.
func pgSetOverrides(ctx context.Context, tx *sqlx.Tx, table, tenantID string, id int64, extra string, cols []overrideColumn) error {
	sets := make([]string, len(cols))
	args := []any{tenantID, id}
	for i, c := range cols {
		args = append(args, c.value)
		sets[i] = fmt.Sprintf("%s = $%d", c.column, len(args)) // columns come from a fixed map
	}
	res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+strings.Join(sets, ", ")+`, updated_at = now()
		WHERE tenant_id = $1 AND id = $2`+extra, args...)
	if err != nil {
		return fmt.Errorf("store: set %s overrides: %w", table, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sync.Errorf(sync.ENOTFOUND, "store: no such row")
	}
	return nil
}

// adminTx runs f in a transaction that holds the tenant's row lock.
func (s *DB) adminTx(ctx context.Context, tenantID string, f func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := pgTenant(ctx, tx, tenantID, true); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", translate(err))
	}
	return nil
}

// SetTenantSetting sets or clears tenant-level overrides (see Admin).
func (s *DB) SetTenantSetting(ctx context.Context, tenantID string, changes ...sync.SettingChange) (sync.TenantSettingsReport, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return sync.TenantSettingsReport{}, fmt.Errorf("store: begin: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	row, err := pgTenant(ctx, tx, tenantID, true)
	if err != nil {
		return sync.TenantSettingsReport{}, err
	}
	overrides, err := sync.ApplyTenantSettingChanges(row.overrides, changes)
	if err != nil {
		return sync.TenantSettingsReport{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tenants SET settings_overrides = $2, updated_at = now() WHERE id = $1`,
		tenantID, overrides); err != nil {
		return sync.TenantSettingsReport{}, fmt.Errorf("store: set tenant %s overrides: %w", tenantID, translate(err))
	}
	if err := tx.Commit(); err != nil {
		return sync.TenantSettingsReport{}, fmt.Errorf("store: commit: %w", translate(err))
	}
	return sync.NewTenantSettingsReport(tenantID, row.settings, overrides, row.disconnectedAt)
}

// TenantSettings returns the tenant's configured, overridden and effective
// settings (see Admin).
func (s *DB) TenantSettings(ctx context.Context, tenantID string) (sync.TenantSettingsReport, error) {
	row, err := pgTenant(ctx, s.db, tenantID, false)
	if err != nil {
		return sync.TenantSettingsReport{}, err
	}
	return sync.NewTenantSettingsReport(tenantID, row.settings, row.overrides, row.disconnectedAt)
}

// EffectiveSettings returns the tenant's settings with its overrides applied.
func (s *DB) EffectiveSettings(ctx context.Context, tenantID string) (sync.TenantSettings, error) {
	row, err := pgTenant(ctx, s.db, tenantID, false)
	if err != nil {
		return sync.TenantSettings{}, err
	}
	return sync.MergeSettings(row.settings, row.overrides)
}

// Disconnect makes the tenant's provisioned users and groups manual and
// marks it disconnected, in one transaction (see Admin).
func (s *DB) Disconnect(ctx context.Context, tenantID string, dryRun bool) (sync.DisconnectReport, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return sync.DisconnectReport{}, fmt.Errorf("store: begin: %w", translate(err))
	}
	defer func() { _ = tx.Rollback() }()
	row, err := pgTenant(ctx, tx, tenantID, !dryRun)
	if err != nil {
		return sync.DisconnectReport{}, err
	}
	users, err := loadUsers(ctx, tx, tenantID, "origin = 'provisioned' AND status <> 'purged'")
	if err != nil {
		return sync.DisconnectReport{}, err
	}
	groups, err := loadGroups(ctx, tx, tenantID)
	if err != nil {
		return sync.DisconnectReport{}, err
	}
	rep := sync.NewDisconnectReport(tenantID, dryRun, users, groups, row.disconnectedAt)
	if dryRun {
		return rep, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE users SET origin = 'manual', updated_at = now()
		WHERE tenant_id = $1 AND origin = 'provisioned' AND status <> 'purged'`, tenantID)
	if err != nil {
		return rep, fmt.Errorf("store: disconnect %s: users: %w", tenantID, translate(err))
	}
	if n, _ := res.RowsAffected(); n != int64(rep.UserCount) {
		return rep, sync.Errorf(sync.EINTERNAL, "store: disconnect %s: changed %d users, expected %d", tenantID, n, rep.UserCount)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE groups SET origin = 'manual', updated_at = now()
		WHERE tenant_id = $1 AND origin = 'provisioned'`, tenantID); err != nil {
		return rep, fmt.Errorf("store: disconnect %s: groups: %w", tenantID, translate(err))
	}
	var at time.Time
	if err := tx.QueryRowxContext(ctx, `UPDATE tenants SET disconnected_at = COALESCE(disconnected_at, now()), updated_at = now()
		WHERE id = $1 RETURNING disconnected_at`, tenantID).Scan(&at); err != nil {
		return rep, fmt.Errorf("store: disconnect %s: %w", tenantID, translate(err))
	}
	at = at.UTC()
	rep.DisconnectedAt = &at
	if rep.Changes() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, data) VALUES ($1, 'tenant.disconnected', $2)`,
			tenantID, sync.DisconnectEventData(rep)); err != nil {
			return rep, fmt.Errorf("store: disconnect %s: event: %w", tenantID, translate(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return rep, fmt.Errorf("store: disconnect %s: commit: %w", tenantID, translate(err))
	}
	return rep, nil
}

// Reconnect clears the tenant's disconnected mark (see Admin).
func (s *DB) Reconnect(ctx context.Context, tenantID string) (bool, error) {
	was := false
	err := s.adminTx(ctx, tenantID, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET disconnected_at = NULL, updated_at = now()
			WHERE id = $1 AND disconnected_at IS NOT NULL`, tenantID)
		if err != nil {
			return fmt.Errorf("store: reconnect %s: %w", tenantID, translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		was = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type) VALUES ($1, 'tenant.reconnected')`, tenantID); err != nil {
			return fmt.Errorf("store: reconnect %s: event: %w", tenantID, translate(err))
		}
		return nil
	})
	return was, err
}
