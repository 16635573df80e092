package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// Delta state (sync.DeltaState): one row per tenant, read before a cycle
// and replaced in the cycle's transaction.

// DeltaState returns tenantID's delta state, nil when it has none.
func (s *DB) DeltaState(ctx context.Context, tenantID string) (*sync.DeltaState, error) {
	var r struct {
		Strategy   string `db:"strategy"`
		Note       string `db:"note"`
		Links      Text   `db:"links"`
		TakenAt    Time   `db:"taken_at"`
		FullAt     Time   `db:"full_at"`
		Scope      string `db:"scope"`
		Mirror     []byte `db:"mirror"`
		Generation int64  `db:"generation"`
		Directory  int64  `db:"directory_version"`
		Settings   string `db:"settings_hash"`
		Clean      bool   `db:"clean"`
		Summary    Text   `db:"summary"`
	}
	err := s.x.GetContext(ctx, &r, s.q(`SELECT strategy, note, links, taken_at, full_at, scope, mirror, generation,
		directory_version, settings_hash, clean, summary FROM delta_state WHERE tenant_id = ?`), tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: delta state of %s: %w", tenantID, s.d.Translate(err))
	}
	st := &sync.DeltaState{TenantID: tenantID, Strategy: r.Strategy, Note: r.Note, TakenAt: r.TakenAt.Time,
		FullAt: r.FullAt.Time, Scope: r.Scope, Mirror: r.Mirror, Generation: r.Generation,
		DirectoryVersion: r.Directory, SettingsHash: r.Settings, Clean: r.Clean}
	if err := json.Unmarshal(r.Links, &st.Links); err != nil {
		return nil, fmt.Errorf("store: delta state of %s: links: %w", tenantID, err)
	}
	if err := json.Unmarshal(r.Summary, &st.Summary); err != nil {
		return nil, fmt.Errorf("store: delta state of %s: summary: %w", tenantID, err)
	}
	return st, nil
}

// SaveDelta replaces the tenant's delta state with st on tx, if its stored
// generation is still st.Generation (0: none stored); st.Generation becomes
// the new one. A nil Mirror keeps the stored one (an incremental round
// that changed nothing). ECONFLICT when another save came between.
func (s *DB) SaveDelta(ctx context.Context, tx *sqlx.Tx, st *sync.DeltaState) error {
	links, err := json.Marshal(st.Links)
	if err != nil {
		return fmt.Errorf("store: delta links: %w", err)
	}
	summary, err := json.Marshal(st.Summary)
	if err != nil {
		return fmt.Errorf("store: delta summary: %w", err)
	}
	next := st.Generation + 1
	var mirror any = st.Mirror
	if st.Mirror == nil {
		mirror = nil // COALESCE keeps the stored one
	}
	// The directory's version after this transaction's writes (it holds the
	// tenant's lock, so no other write comes between).
	if err := tx.GetContext(ctx, &st.DirectoryVersion, s.q(`SELECT directory_version FROM tenants WHERE id = ?`), st.TenantID); err != nil {
		return fmt.Errorf("store: delta state of %s: %w", st.TenantID, s.d.Translate(err))
	}
	var res sql.Result
	switch {
	case st.Generation == 0 && st.Mirror == nil:
		return sync.Errorf(sync.EINTERNAL, "store: a first delta state of %s needs its mirror", st.TenantID)
	case st.Generation == 0:
		res, err = tx.ExecContext(ctx, s.q(`INSERT INTO delta_state (tenant_id, strategy, note, links, taken_at, full_at, scope, mirror, generation,
			settings_hash, clean, summary, directory_version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id) DO NOTHING`),
			st.TenantID, st.Strategy, st.Note, Text(links), s.d.Time(st.TakenAt), s.d.Time(st.FullAt), st.Scope, st.Mirror, next,
			st.SettingsHash, st.Clean, Text(summary), st.DirectoryVersion)
	default:
		res, err = tx.ExecContext(ctx, s.q(`UPDATE delta_state SET strategy = ?, note = ?, links = ?, taken_at = ?, full_at = ?,
			scope = ?, mirror = COALESCE(?, mirror), generation = ?, settings_hash = ?, clean = ?, summary = ?,
			directory_version = ? WHERE tenant_id = ? AND generation = ?`),
			st.Strategy, st.Note, Text(links), s.d.Time(st.TakenAt), s.d.Time(st.FullAt), st.Scope, mirror, next,
			st.SettingsHash, st.Clean, Text(summary), st.DirectoryVersion, st.TenantID, st.Generation)
	}
	if err != nil {
		return fmt.Errorf("store: save delta state of %s: %w", st.TenantID, s.d.Translate(err))
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return sync.Errorf(sync.ECONFLICT, "store: delta state of %s was saved by another cycle meanwhile", st.TenantID)
	}
	st.Generation = next
	return nil
}
