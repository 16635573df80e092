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

// The administrators' writes (sync.Admin), once for both backends. Every
// write is one transaction that holds the tenant's lock (tenantTx), so it
// never interleaves with a cycle's apply. The rules that need no database
// are sync's (sync/admin.go).

// userSettingColumns and groupSettingColumns map override names to columns.
var (
	userSettingColumns  = map[string]string{sync.SettingRequireMobileAuth: "require_mobile_auth"}
	groupSettingColumns = map[string]string{sync.SettingMembersMayStoreData: "members_may_store_data",
		sync.SettingRequireMobileAuth: "require_mobile_auth"}
)

// tenantRow is the tenant row's administration columns.
type tenantRow struct {
	Settings       Text `db:"settings"`
	Overrides      Text `db:"settings_overrides"`
	DisconnectedAt Time `db:"disconnected_at"`
}

// tenant reads the tenant row on q, locking it when lock (inside a write
// transaction); ErrTenantNotFound if there is none.
func (s *DB) tenant(ctx context.Context, q sqlx.QueryerContext, tenantID string, lock bool) (tenantRow, error) {
	var r tenantRow
	query := `SELECT settings, settings_overrides, disconnected_at FROM tenants WHERE id = ?`
	if lock {
		query += s.d.LockRow
	}
	err := sqlx.GetContext(ctx, q, &r, s.q(query), tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("store: tenant %q: %w", tenantID, sync.ErrTenantNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("store: read tenant %s: %w", tenantID, s.d.Translate(err))
	}
	return r, nil
}

// tenantTx runs f in a write transaction that holds tenantID's lock, and
// counts it as a write to the tenant's directory (BumpDirectory).
func (s *DB) tenantTx(ctx context.Context, tenantID string, f func(tx *sqlx.Tx, row tenantRow) error) error {
	return s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		row, err := s.tenant(ctx, tx, tenantID, true)
		if err != nil {
			return err
		}
		if err := f(tx, row); err != nil {
			return err
		}
		return s.BumpDirectory(ctx, tx, tenantID)
	})
}

// ResolveUser finds a user by local id, e-mail or UPN, or Entra object id
// (see sync.Admin).
func (s *DB) ResolveUser(ctx context.Context, tenantID, ref string) (sync.User, error) {
	ref = strings.TrimSpace(ref)
	kind, id, err := sync.ParseRef("user", ref)
	if err != nil {
		return sync.User{}, err
	}
	if _, err := s.tenant(ctx, s.x, tenantID, false); err != nil {
		return sync.User{}, err
	}
	var users []sync.User
	switch kind {
	case sync.RefLocalID:
		users, err = s.loadUsers(ctx, s.x, tenantID, "id = ?", id)
	case sync.RefEmail:
		key := sync.EmailKey(ref)
		users, err = s.loadUsers(ctx, s.x, tenantID, "(email_key = ? OR lower(user_principal_name) = ?)", key, key)
	default:
		users, err = s.loadUsers(ctx, s.x, tenantID, "lower(entra_id) = lower(?)", ref)
	}
	if err != nil {
		return sync.User{}, err
	}
	return sync.PickUser(tenantID, ref, users)
}

// ResolveGroup finds a group by local id, Entra object id or display name
// (see sync.Admin).
func (s *DB) ResolveGroup(ctx context.Context, tenantID, ref string) (sync.Group, error) {
	if _, err := s.tenant(ctx, s.x, tenantID, false); err != nil {
		return sync.Group{}, err
	}
	groups, err := s.loadGroups(ctx, s.x, tenantID)
	if err != nil {
		return sync.Group{}, err
	}
	return sync.PickGroup(tenantID, ref, groups)
}

// chunk is how many rows one statement of an administrative bulk write
// names: well below both backends' limits on parameters.
const chunk = 500

// inChunks calls f with successive slices of at most chunk ids.
func inChunks[T any](ids []T, f func(part []T) error) error {
	return inChunksOf(chunk, ids, f)
}

// inChunksOf calls f with successive slices of at most size ids.
func inChunksOf[T any](size int, ids []T, f func(part []T) error) error {
	for len(ids) > 0 {
		n := min(len(ids), size)
		if err := f(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// usersByID loads the tenant's users whose local ids are ids.
func (s *DB) usersByID(ctx context.Context, q sqlx.QueryerContext, tenantID string, ids []int64) ([]sync.User, error) {
	var out []sync.User
	err := inChunks(ids, func(part []int64) error {
		where, args, err := sqlx.In(`id IN (?)`, part)
		if err != nil {
			return fmt.Errorf("store: load users: %w", err)
		}
		users, err := s.loadUsers(ctx, q, tenantID, where, args...)
		out = append(out, users...)
		return err
	})
	return out, err
}

// InviteUsers moves staged users to invited and queues their user.invited
// events in one transaction (see sync.Admin).
func (s *DB) InviteUsers(ctx context.Context, tenantID string, userIDs []int64, allStaged bool) ([]sync.User, error) {
	if len(userIDs) == 0 && !allStaged {
		return nil, sync.Errorf(sync.EINVALID, "store: invite: name the users, or ask for all staged users")
	}
	users := []sync.User{}
	err := s.tenantTx(ctx, tenantID, func(tx *sqlx.Tx, _ tenantRow) error {
		var picked []sync.User
		if len(userIDs) > 0 {
			loaded, err := s.usersByID(ctx, tx, tenantID, userIDs)
			if err != nil {
				return err
			}
			if picked, err = sync.Invitable(tenantID, userIDs, loaded); err != nil {
				return err
			}
		}
		if allStaged {
			staged, err := s.loadUsers(ctx, tx, tenantID, "status = 'staged'")
			if err != nil {
				return err
			}
			picked = sync.UnionByID(picked, staged)
		}
		ids := make([]int64, len(picked))
		for i, u := range picked {
			ids[i] = u.ID
		}
		now := s.now()
		if err := inChunks(ids, func(part []int64) error {
			q, args, err := sqlx.In(`UPDATE users SET status = 'invited', updated_at = ?
				WHERE tenant_id = ? AND status = 'staged' AND id IN (?)`, now, tenantID, part)
			if err != nil {
				return fmt.Errorf("store: invite: %w", err)
			}
			res, err := tx.ExecContext(ctx, s.q(q), args...)
			if err != nil {
				return fmt.Errorf("store: invite %d users: %w", len(part), s.d.Translate(err))
			}
			if n, _ := res.RowsAffected(); n != int64(len(part)) {
				return sync.Errorf(sync.ECONFLICT, "store: invite: %d of %d users changed meanwhile", int64(len(part))-n, len(part))
			}
			return nil
		}); err != nil {
			return err
		}
		events := make([]adminEvent, len(picked))
		for i, u := range picked {
			// The data has the shape the sync writes: {"email": …}.
			data, _ := json.Marshal(map[string]string{"email": u.Email})
			events[i] = adminEvent{typ: "user.invited", entraID: u.EntraID, data: data}
			u.Status = sync.StatusInvited
			users = append(users, u)
		}
		return s.insertEvents(ctx, tx, tenantID, events)
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// SetUserSetting sets or clears a live user's overrides (see sync.Admin).
func (s *DB) SetUserSetting(ctx context.Context, tenantID string, userID int64, changes ...sync.SettingChange) (sync.User, error) {
	var out sync.User
	err := s.setOverrides(ctx, "user", tenantID, userID, userSettingColumns, changes, func(tx *sqlx.Tx) error {
		users, err := s.loadUsers(ctx, tx, tenantID, "id = ?", userID)
		if err != nil {
			return err
		}
		out = users[0]
		return nil
	})
	return out, err
}

// SetGroupSetting sets or clears a group's overrides (see sync.Admin).
func (s *DB) SetGroupSetting(ctx context.Context, tenantID string, groupID int64, changes ...sync.SettingChange) (sync.Group, error) {
	var out sync.Group
	err := s.setOverrides(ctx, "group", tenantID, groupID, groupSettingColumns, changes, func(tx *sqlx.Tx) error {
		groups, err := s.loadGroups(ctx, tx, tenantID)
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

// setOverrides checks changes against the override columns of kind ("user"
// or "group"), writes them on the row id (a live user, or any group) under
// the tenant's lock, then calls reread in the same transaction. ENOTFOUND
// when there is no such row.
func (s *DB) setOverrides(ctx context.Context, kind, tenantID string, id int64, columns map[string]string,
	changes []sync.SettingChange, reread func(tx *sqlx.Tx) error) error {
	names := make([]string, 0, len(columns))
	for n := range columns {
		names = append(names, n)
	}
	checked, err := sync.CheckOverrides(kind, names, changes)
	if err != nil {
		return err
	}
	table, extra, missing := "groups", "", fmt.Sprintf("store: no group %d in tenant %s", id, tenantID)
	if kind == "user" {
		table, extra, missing = "users", " AND status <> 'purged'", fmt.Sprintf("store: no live user %d in tenant %s", id, tenantID)
	}
	sets := make([]string, len(checked))
	args := make([]any, 0, len(checked)+3)
	for i, o := range checked {
		sets[i] = columns[o.Name] + " = ?" // columns come from a fixed map
		v := sql.NullBool{}
		if o.Value != nil {
			v = sql.NullBool{Bool: *o.Value, Valid: true}
		}
		args = append(args, v)
	}
	args = append(args, s.now(), tenantID, id)
	return s.tenantTx(ctx, tenantID, func(tx *sqlx.Tx, _ tenantRow) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE `+table+` SET `+strings.Join(sets, ", ")+`, updated_at = ?
			WHERE tenant_id = ? AND id = ?`+extra), args...)
		if err != nil {
			return fmt.Errorf("store: set %s overrides: %w", kind, s.d.Translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sync.Errorf(sync.ENOTFOUND, "%s", missing)
		}
		return reread(tx)
	})
}

// SetTenantSetting sets or clears tenant-level overrides (see sync.Admin).
func (s *DB) SetTenantSetting(ctx context.Context, tenantID string, changes ...sync.SettingChange) (sync.TenantSettingsReport, error) {
	var row tenantRow
	var overrides []byte
	err := s.tenantTx(ctx, tenantID, func(tx *sqlx.Tx, r tenantRow) error {
		row = r
		var err error
		if overrides, err = sync.ApplyTenantSettingChanges(r.Overrides, changes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tenants SET settings_overrides = ?, updated_at = ? WHERE id = ?`),
			Text(overrides), s.now(), tenantID); err != nil {
			return fmt.Errorf("store: set tenant %s overrides: %w", tenantID, s.d.Translate(err))
		}
		return nil
	})
	if err != nil {
		return sync.TenantSettingsReport{}, err
	}
	return sync.NewTenantSettingsReport(tenantID, row.Settings, overrides, row.DisconnectedAt.Ptr())
}

// TenantSettings returns the tenant's configured, overridden and effective
// settings (see sync.Admin).
func (s *DB) TenantSettings(ctx context.Context, tenantID string) (sync.TenantSettingsReport, error) {
	row, err := s.tenant(ctx, s.x, tenantID, false)
	if err != nil {
		return sync.TenantSettingsReport{}, err
	}
	return sync.NewTenantSettingsReport(tenantID, row.Settings, row.Overrides, row.DisconnectedAt.Ptr())
}

// EffectiveSettings returns the tenant's settings with its overrides applied.
func (s *DB) EffectiveSettings(ctx context.Context, tenantID string) (sync.TenantSettings, error) {
	row, err := s.tenant(ctx, s.x, tenantID, false)
	if err != nil {
		return sync.TenantSettings{}, err
	}
	return sync.MergeSettings(row.Settings, row.Overrides)
}

// disconnectReport reads what a disconnect of tenantID changes, on q.
func (s *DB) disconnectReport(ctx context.Context, q sqlx.QueryerContext, tenantID string, row tenantRow, dryRun bool) (sync.DisconnectReport, error) {
	users, err := s.loadUsers(ctx, q, tenantID, "origin = 'provisioned' AND status <> 'purged'")
	if err != nil {
		return sync.DisconnectReport{}, err
	}
	groups, err := s.loadGroups(ctx, q, tenantID)
	if err != nil {
		return sync.DisconnectReport{}, err
	}
	return sync.NewDisconnectReport(tenantID, dryRun, users, groups, row.DisconnectedAt.Ptr()), nil
}

// Disconnect makes the tenant's provisioned users and groups manual and
// marks it disconnected, in one transaction (see sync.Admin). A dry run only
// reads, so it takes no lock.
func (s *DB) Disconnect(ctx context.Context, tenantID string, dryRun bool) (sync.DisconnectReport, error) {
	if dryRun {
		row, err := s.tenant(ctx, s.x, tenantID, false)
		if err != nil {
			return sync.DisconnectReport{}, err
		}
		return s.disconnectReport(ctx, s.x, tenantID, row, true)
	}
	var rep sync.DisconnectReport
	err := s.tenantTx(ctx, tenantID, func(tx *sqlx.Tx, row tenantRow) error {
		var err error
		if rep, err = s.disconnectReport(ctx, tx, tenantID, row, false); err != nil {
			return err
		}
		// Microseconds: what PostgreSQL keeps, so the report says what a
		// later read returns.
		at := time.Now().UTC().Truncate(time.Microsecond)
		now := s.d.Time(at)
		res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET origin = 'manual', updated_at = ?
			WHERE tenant_id = ? AND origin = 'provisioned' AND status <> 'purged'`), now, tenantID)
		if err != nil {
			return fmt.Errorf("store: disconnect %s: users: %w", tenantID, s.d.Translate(err))
		}
		if n, _ := res.RowsAffected(); n != int64(rep.UserCount) {
			return sync.Errorf(sync.EINTERNAL, "store: disconnect %s: changed %d users, expected %d", tenantID, n, rep.UserCount)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE groups SET origin = 'manual', updated_at = ?
			WHERE tenant_id = ? AND origin = 'provisioned'`), now, tenantID); err != nil {
			return fmt.Errorf("store: disconnect %s: groups: %w", tenantID, s.d.Translate(err))
		}
		if rep.DisconnectedAt == nil {
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE tenants SET disconnected_at = ?, updated_at = ? WHERE id = ?`),
				now, now, tenantID); err != nil {
				return fmt.Errorf("store: disconnect %s: %w", tenantID, s.d.Translate(err))
			}
			rep.DisconnectedAt = &at
		}
		if !rep.Changes() {
			return nil
		}
		return s.insertEvent(ctx, tx, tenantID, "tenant.disconnected", "", sync.DisconnectEventData(rep))
	})
	if err != nil {
		return sync.DisconnectReport{}, err
	}
	return rep, nil
}

// Reconnect clears the tenant's disconnected mark (see sync.Admin).
func (s *DB) Reconnect(ctx context.Context, tenantID string) (bool, error) {
	was := false
	err := s.tenantTx(ctx, tenantID, func(tx *sqlx.Tx, _ tenantRow) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tenants SET disconnected_at = NULL, updated_at = ?
			WHERE id = ? AND disconnected_at IS NOT NULL`), s.now(), tenantID)
		if err != nil {
			return fmt.Errorf("store: reconnect %s: %w", tenantID, s.d.Translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		was = true
		return s.insertEvent(ctx, tx, tenantID, "tenant.reconnected", "", nil)
	})
	return was, err
}
