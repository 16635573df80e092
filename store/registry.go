package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// The tenant registry (sync.Registry), once for both backends: the
// tenant_registry table of migration 0009.

var _ sync.Registry = (*DB)(nil)

// registryRow is a row of tenant_registry.
type registryRow struct {
	Name               string `db:"name"`
	EntraTenantID      string `db:"entra_tenant_id"`
	Credential         string `db:"credential"`
	ClientID           string `db:"client_id"`
	AppID              string `db:"app_id"`
	ServicePrincipalID string `db:"service_principal_id"`
	Schedule           string `db:"schedule"`
	Version            int64  `db:"version"`
	CreatedAt          Time   `db:"created_at"`
	UpdatedAt          Time   `db:"updated_at"`
}

func (r registryRow) tenant() sync.RegisteredTenant {
	return sync.RegisteredTenant{Name: r.Name, EntraTenantID: r.EntraTenantID, Credential: r.Credential, ClientID: r.ClientID,
		AppID: r.AppID, ServicePrincipalID: r.ServicePrincipalID, Schedule: r.Schedule, Version: r.Version,
		CreatedAt: r.CreatedAt.Time, UpdatedAt: r.UpdatedAt.Time}
}

const registryColumns = `name, entra_tenant_id, credential, client_id, app_id, service_principal_id, schedule, version, created_at, updated_at`

// registered reads the entry name on q; ENOTFOUND when there is none.
func (s *DB) registered(ctx context.Context, q sqlx.QueryerContext, name string) (sync.RegisteredTenant, error) {
	var r registryRow
	err := sqlx.GetContext(ctx, q, &r, s.q(`SELECT `+registryColumns+` FROM tenant_registry WHERE name = ?`), name)
	if errors.Is(err, sql.ErrNoRows) {
		return sync.RegisteredTenant{}, sync.Errorf(sync.ENOTFOUND, "registry: no tenant %q in the registry", name)
	}
	if err != nil {
		return sync.RegisteredTenant{}, fmt.Errorf("store: read registry entry %s: %w", name, s.d.Translate(err))
	}
	return r.tenant(), nil
}

// AddRegisteredTenant implements sync.Registry: ECONFLICT when the name is
// taken, EINVALID for an entry that fails Validate.
func (s *DB) AddRegisteredTenant(ctx context.Context, t sync.RegisteredTenant) (sync.RegisteredTenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	var out sync.RegisteredTenant
	err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		now := s.now()
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO tenant_registry (`+registryColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (name) DO NOTHING`),
			t.Name, t.EntraTenantID, t.Credential, t.ClientID, t.AppID, t.ServicePrincipalID, t.Schedule, now, now)
		if err != nil {
			return fmt.Errorf("store: add registry entry %s: %w", t.Name, s.d.Translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sync.Errorf(sync.ECONFLICT, "registry: tenant %q is already in the registry (change it with `entrasync tenant set`)", t.Name)
		}
		out, err = s.registered(ctx, tx, t.Name)
		return err
	})
	return out, err
}

// UpdateRegisteredTenant implements sync.Registry: ENOTFOUND when there is
// no entry t.Name, EINVALID for an entry that fails Validate.
func (s *DB) UpdateRegisteredTenant(ctx context.Context, t sync.RegisteredTenant) (sync.RegisteredTenant, error) {
	if err := t.Validate(); err != nil {
		return t, err
	}
	var out sync.RegisteredTenant
	err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE tenant_registry SET entra_tenant_id = ?, credential = ?, client_id = ?, app_id = ?,
			service_principal_id = ?, schedule = ?, version = version + 1, updated_at = ? WHERE name = ?`),
			t.EntraTenantID, t.Credential, t.ClientID, t.AppID, t.ServicePrincipalID, t.Schedule, s.now(), t.Name)
		if err != nil {
			return fmt.Errorf("store: update registry entry %s: %w", t.Name, s.d.Translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sync.Errorf(sync.ENOTFOUND, "registry: no tenant %q in the registry", t.Name)
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE tenants SET entra_tenant_id = ?, updated_at = ? WHERE id = ? AND entra_tenant_id <> ?`),
			t.EntraTenantID, s.now(), t.Name, t.EntraTenantID); err != nil {
			return fmt.Errorf("store: update tenant %s: %w", t.Name, s.d.Translate(err))
		}
		out, err = s.registered(ctx, tx, t.Name)
		return err
	})
	return out, err
}

// RemoveRegisteredTenant implements sync.Registry. The tenant's directory
// rows (the tenant and its schedule) are deleted in the same transaction
// when no user, group or run refers to the tenant; otherwise they stay.
// Its events stay in the outbox (the disconnection's included).
func (s *DB) RemoveRegisteredTenant(ctx context.Context, name string) (bool, error) {
	deleted := false
	err := s.WriteTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM tenant_registry WHERE name = ?`), name)
		if err != nil {
			return fmt.Errorf("store: remove registry entry %s: %w", name, s.d.Translate(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sync.Errorf(sync.ENOTFOUND, "registry: no tenant %q in the registry", name)
		}
		var refs int
		if err := sqlx.GetContext(ctx, tx, &refs, s.q(`SELECT
			(SELECT count(*) FROM users WHERE tenant_id = ?) + (SELECT count(*) FROM groups WHERE tenant_id = ?) +
			(SELECT count(*) FROM runs WHERE tenant_id = ?)`), name, name, name); err != nil {
			return fmt.Errorf("store: count what refers to tenant %s: %w", name, s.d.Translate(err))
		}
		if refs > 0 {
			return nil
		}
		for _, q := range []string{`DELETE FROM tenant_schedule WHERE tenant_id = ?`, `DELETE FROM tenants WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, s.q(q), name); err != nil {
				return fmt.Errorf("store: delete tenant %s: %w", name, s.d.Translate(err))
			}
		}
		deleted = true
		return nil
	})
	return deleted, err
}

// RegisteredTenants implements sync.Registry.
func (s *DB) RegisteredTenants(ctx context.Context) ([]sync.RegisteredTenant, error) {
	var rows []registryRow
	if err := sqlx.SelectContext(ctx, s.x, &rows, s.q(`SELECT `+registryColumns+` FROM tenant_registry ORDER BY name`)); err != nil {
		return nil, fmt.Errorf("store: list the tenant registry: %w", s.d.Translate(err))
	}
	out := make([]sync.RegisteredTenant, len(rows))
	for i, r := range rows {
		out[i] = r.tenant()
	}
	return out, nil
}
