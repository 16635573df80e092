package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// The SQLite side of Admin (admin.go): the same semantics, in write
// transactions under the database's write lock (writeTx), which also keeps
// them from interleaving with a cycle.

var _ sync.Admin = (*SQLite)(nil)

// sqliteTenant reads the tenant row's administration columns;
// ErrTenantNotFound if there is none.
func sqliteTenant(ctx context.Context, q sqliteQueryer, tenantID string) (tenantRow, error) {
	var r tenantRow
	var settings, overrides string
	var at sql.NullString
	err := q.QueryRowContext(ctx, `SELECT settings, settings_overrides, disconnected_at FROM tenants WHERE id = ?`, tenantID).
		Scan(&settings, &overrides, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: read tenant %s: %w", tenantID, translateSQLite(err))
	}
	r.settings, r.overrides = []byte(settings), []byte(overrides)
	if r.disconnectedAt, err = parseSQLiteNullTime(at); err != nil {
		return r, fmt.Errorf("store: tenant %s disconnected_at: %w", tenantID, err)
	}
	return r, nil
}

// placeholders returns "?, ?, …" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// ResolveUser finds a user by local id, e-mail or UPN, or Entra object id
// (see Admin).
func (s *SQLite) ResolveUser(ctx context.Context, tenantID, ref string) (sync.User, error) {
	ref = strings.TrimSpace(ref)
	kind, id, err := sync.ParseRef("user", ref)
	if err != nil {
		return sync.User{}, err
	}
	if _, err := sqliteTenant(ctx, s.db, tenantID); err != nil {
		return sync.User{}, err
	}
	var users []sync.User
	switch kind {
	case sync.RefLocalID:
		users, err = sqliteLoadUsers(ctx, s.db, tenantID, "id = ?", id)
	case sync.RefEmail:
		key := sync.EmailKey(ref)
		users, err = sqliteLoadUsers(ctx, s.db, tenantID, "(email_key = ? OR lower(user_principal_name) = ?)", key, key)
	default:
		users, err = sqliteLoadUsers(ctx, s.db, tenantID, "lower(entra_id) = lower(?)", ref)
	}
	if err != nil {
		return sync.User{}, err
	}
	return sync.PickUser(tenantID, ref, users)
}

// ResolveGroup finds a group by local id, Entra object id or display name
// (see Admin).
func (s *SQLite) ResolveGroup(ctx context.Context, tenantID, ref string) (sync.Group, error) {
	if _, err := sqliteTenant(ctx, s.db, tenantID); err != nil {
		return sync.Group{}, err
	}
	groups, err := sqliteLoadGroups(ctx, s.db, tenantID)
	if err != nil {
		return sync.Group{}, err
	}
	return sync.PickGroup(tenantID, ref, groups)
}

// InviteUsers moves staged users to invited and queues their user.invited
// events in one transaction (see Admin).
func (s *SQLite) InviteUsers(ctx context.Context, tenantID string, userIDs []int64, allStaged bool) ([]sync.User, error) {
	if len(userIDs) == 0 && !allStaged {
		return nil, sync.Errorf(sync.EINVALID, "store: invite: name the users, or ask for all staged users")
	}
	users := []sync.User{}
	now := sqliteTime(time.Now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := sqliteTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		var picked []sync.User
		if len(userIDs) > 0 {
			args := make([]any, len(userIDs))
			for i, id := range userIDs {
				args[i] = id
			}
			loaded, err := sqliteLoadUsers(ctx, tx, tenantID, "id IN ("+placeholders(len(userIDs))+")", args...)
			if err != nil {
				return err
			}
			if picked, err = sync.Invitable(tenantID, userIDs, loaded); err != nil {
				return err
			}
		}
		if allStaged {
			staged, err := sqliteLoadUsers(ctx, tx, tenantID, "status = 'staged'")
			if err != nil {
				return err
			}
			picked = sync.UnionByID(picked, staged)
		}
		upd, err := tx.PrepareContext(ctx, `UPDATE users SET status = 'invited', updated_at = ?
			WHERE tenant_id = ? AND id = ? AND status = 'staged'`)
		if err != nil {
			return fmt.Errorf("store: invite: %w", translateSQLite(err))
		}
		defer upd.Close()
		ev, err := tx.PrepareContext(ctx, `INSERT INTO events (tenant_id, type, entra_id, data, created_at)
			VALUES (?, 'user.invited', ?, json_object('email', ?), ?)`)
		if err != nil {
			return fmt.Errorf("store: invite: %w", translateSQLite(err))
		}
		defer ev.Close()
		for _, u := range picked {
			res, err := upd.ExecContext(ctx, now, tenantID, u.ID)
			if err != nil {
				return fmt.Errorf("store: invite user %d: %w", u.ID, translateSQLite(err))
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return sync.Errorf(sync.ECONFLICT, "store: invite: user %d changed meanwhile", u.ID)
			}
			// The data has the shape the sync writes: {"email": …}.
			if _, err := ev.ExecContext(ctx, tenantID, u.EntraID, u.Email, now); err != nil {
				return fmt.Errorf("store: invite user %d: write event: %w", u.ID, translateSQLite(err))
			}
			u.Status = sync.StatusInvited
			users = append(users, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// SetUserSetting sets or clears a live user's overrides (see Admin).
func (s *SQLite) SetUserSetting(ctx context.Context, tenantID string, userID int64, changes ...sync.SettingChange) (sync.User, error) {
	cols, err := overrideColumns("user", userSettingColumns, changes)
	if err != nil {
		return sync.User{}, err
	}
	var out sync.User
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := sqliteTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		if err := sqliteSetOverrides(ctx, tx, "users", tenantID, userID, " AND status <> 'purged'", cols); err != nil {
			if sync.ErrorCode(err) == sync.ENOTFOUND {
				return sync.Errorf(sync.ENOTFOUND, "store: no live user %d in tenant %s", userID, tenantID)
			}
			return err
		}
		users, err := sqliteLoadUsers(ctx, tx, tenantID, "id = ?", userID)
		if err != nil {
			return err
		}
		out = users[0]
		return nil
	})
	return out, err
}

// SetGroupSetting sets or clears a group's overrides (see Admin).
func (s *SQLite) SetGroupSetting(ctx context.Context, tenantID string, groupID int64, changes ...sync.SettingChange) (sync.Group, error) {
	cols, err := overrideColumns("group", groupSettingColumns, changes)
	if err != nil {
		return sync.Group{}, err
	}
	var out sync.Group
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := sqliteTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		if err := sqliteSetOverrides(ctx, tx, "groups", tenantID, groupID, "", cols); err != nil {
			if sync.ErrorCode(err) == sync.ENOTFOUND {
				return sync.Errorf(sync.ENOTFOUND, "store: no group %d in tenant %s", groupID, tenantID)
			}
			return err
		}
		groups, err := sqliteLoadGroups(ctx, tx, tenantID)
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

// sqliteSetOverrides writes override columns of one row of table; ENOTFOUND
// if no row matches.
func sqliteSetOverrides(ctx context.Context, tx *sql.Tx, table, tenantID string, id int64, extra string, cols []overrideColumn) error {
	sets := make([]string, len(cols))
	args := make([]any, 0, len(cols)+3)
	for i, c := range cols {
		sets[i] = c.column + " = ?" // columns come from a fixed map
		args = append(args, c.value)
	}
	args = append(args, sqliteTime(time.Now()), tenantID, id)
	res, err := tx.ExecContext(ctx, `UPDATE `+table+` SET `+strings.Join(sets, ", ")+`, updated_at = ?
		WHERE tenant_id = ? AND id = ?`+extra, args...)
	if err != nil {
		return fmt.Errorf("store: set %s overrides: %w", table, translateSQLite(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return sync.Errorf(sync.ENOTFOUND, "store: no such row")
	}
	return nil
}

// SetTenantSetting sets or clears tenant-level overrides (see Admin).
func (s *SQLite) SetTenantSetting(ctx context.Context, tenantID string, changes ...sync.SettingChange) (sync.TenantSettingsReport, error) {
	var row tenantRow
	var overrides []byte
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if row, err = sqliteTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		if overrides, err = sync.ApplyTenantSettingChanges(row.overrides, changes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tenants SET settings_overrides = ?, updated_at = ? WHERE id = ?`,
			string(overrides), sqliteTime(time.Now()), tenantID); err != nil {
			return fmt.Errorf("store: set tenant %s overrides: %w", tenantID, translateSQLite(err))
		}
		return nil
	})
	if err != nil {
		return sync.TenantSettingsReport{}, err
	}
	return sync.NewTenantSettingsReport(tenantID, row.settings, overrides, row.disconnectedAt)
}

// TenantSettings returns the tenant's configured, overridden and effective
// settings (see Admin).
func (s *SQLite) TenantSettings(ctx context.Context, tenantID string) (sync.TenantSettingsReport, error) {
	row, err := sqliteTenant(ctx, s.db, tenantID)
	if err != nil {
		return sync.TenantSettingsReport{}, err
	}
	return sync.NewTenantSettingsReport(tenantID, row.settings, row.overrides, row.disconnectedAt)
}

// EffectiveSettings returns the tenant's settings with its overrides applied.
func (s *SQLite) EffectiveSettings(ctx context.Context, tenantID string) (sync.TenantSettings, error) {
	row, err := sqliteTenant(ctx, s.db, tenantID)
	if err != nil {
		return sync.TenantSettings{}, err
	}
	return sync.MergeSettings(row.settings, row.overrides)
}

// Disconnect makes the tenant's provisioned users and groups manual and
// marks it disconnected, in one transaction (see Admin). A dry run only
// reads, so it does not wait for the write lock.
func (s *SQLite) Disconnect(ctx context.Context, tenantID string, dryRun bool) (sync.DisconnectReport, error) {
	report := func(q sqliteQueryer) (sync.DisconnectReport, error) {
		row, err := sqliteTenant(ctx, q, tenantID)
		if err != nil {
			return sync.DisconnectReport{}, err
		}
		users, err := sqliteLoadUsers(ctx, q, tenantID, "origin = 'provisioned' AND status <> 'purged'")
		if err != nil {
			return sync.DisconnectReport{}, err
		}
		groups, err := sqliteLoadGroups(ctx, q, tenantID)
		if err != nil {
			return sync.DisconnectReport{}, err
		}
		return sync.NewDisconnectReport(tenantID, dryRun, users, groups, row.disconnectedAt), nil
	}
	if dryRun {
		return report(s.db)
	}
	var rep sync.DisconnectReport
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if rep, err = report(tx); err != nil {
			return err
		}
		now := time.Now().UTC()
		ts := sqliteTime(now)
		res, err := tx.ExecContext(ctx, `UPDATE users SET origin = 'manual', updated_at = ?
			WHERE tenant_id = ? AND origin = 'provisioned' AND status <> 'purged'`, ts, tenantID)
		if err != nil {
			return fmt.Errorf("store: disconnect %s: users: %w", tenantID, translateSQLite(err))
		}
		if n, _ := res.RowsAffected(); n != int64(rep.UserCount) {
			return sync.Errorf(sync.EINTERNAL, "store: disconnect %s: changed %d users, expected %d", tenantID, n, rep.UserCount)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE groups SET origin = 'manual', updated_at = ?
			WHERE tenant_id = ? AND origin = 'provisioned'`, ts, tenantID); err != nil {
			return fmt.Errorf("store: disconnect %s: groups: %w", tenantID, translateSQLite(err))
		}
		if rep.DisconnectedAt == nil {
			if _, err := tx.ExecContext(ctx, `UPDATE tenants SET disconnected_at = ?, updated_at = ? WHERE id = ?`,
				ts, ts, tenantID); err != nil {
				return fmt.Errorf("store: disconnect %s: %w", tenantID, translateSQLite(err))
			}
			rep.DisconnectedAt = &now
		}
		if !rep.Changes() {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, data, created_at) VALUES (?, 'tenant.disconnected', ?, ?)`,
			tenantID, string(sync.DisconnectEventData(rep)), ts); err != nil {
			return fmt.Errorf("store: disconnect %s: event: %w", tenantID, translateSQLite(err))
		}
		return nil
	})
	if err != nil {
		return sync.DisconnectReport{}, err
	}
	return rep, nil
}

// Reconnect clears the tenant's disconnected mark (see Admin).
func (s *SQLite) Reconnect(ctx context.Context, tenantID string) (bool, error) {
	was := false
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := sqliteTenant(ctx, tx, tenantID); err != nil {
			return err
		}
		ts := sqliteTime(time.Now())
		res, err := tx.ExecContext(ctx, `UPDATE tenants SET disconnected_at = NULL, updated_at = ?
			WHERE id = ? AND disconnected_at IS NOT NULL`, ts, tenantID)
		if err != nil {
			return fmt.Errorf("store: reconnect %s: %w", tenantID, translateSQLite(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		was = true
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (tenant_id, type, created_at) VALUES (?, 'tenant.reconnected', ?)`,
			tenantID, ts); err != nil {
			return fmt.Errorf("store: reconnect %s: event: %w", tenantID, translateSQLite(err))
		}
		return nil
	})
	return was, err
}
