package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/entrasync/entrasync/sync"
)

// Delta state (sync.DeltaState): one row per tenant, read before a cycle
// and replaced in the cycle's transaction.

// DeltaState returns tenantID's delta state, nil when it has none. The row
// and the mirror's parts are read in one snapshot (a save between the two
// reads would otherwise pair one generation's links with another's mirror).
func (s *DB) DeltaState(ctx context.Context, tenantID string) (*sync.DeltaState, error) {
	tx, err := s.beginSnapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: delta state of %s: %w", tenantID, err)
	}
	defer func() { _ = tx.Rollback() }()
	return s.deltaState(ctx, tx, tenantID)
}

// beginSnapshot begins a read-only transaction: on SQLite a deferred BEGIN,
// which holds one WAL snapshot and takes no lock (any other would wait
// behind every cycle's write transaction); on PostgreSQL one REPEATABLE
// READ snapshot for all its reads.
func (s *DB) beginSnapshot(ctx context.Context) (*sqlx.Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.d.Name == BackendPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.x.BeginTxx(ctx, opts)
	if err != nil {
		return nil, s.d.Translate(err)
	}
	return tx, nil
}

func (s *DB) deltaState(ctx context.Context, tx *sqlx.Tx, tenantID string) (*sync.DeltaState, error) {
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
	err := tx.GetContext(ctx, &r, s.q(`SELECT strategy, note, links, taken_at, full_at, scope, mirror, generation,
		directory_version, settings_hash, clean, summary FROM delta_state WHERE tenant_id = ?`), tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: delta state of %s: %w", tenantID, s.d.Translate(err))
	}
	// The column holds the mirror of a state saved without parts (before
	// migration 0015, or by a process that does not know them, meanwhile):
	// it wins. Every save with parts empties it.
	if len(r.Mirror) == 0 {
		var parts [][]byte
		if err := tx.SelectContext(ctx, &parts, s.q(`SELECT data FROM delta_mirror_parts WHERE tenant_id = ? ORDER BY idx`), tenantID); err != nil {
			return nil, fmt.Errorf("store: delta state of %s: mirror: %w", tenantID, s.d.Translate(err))
		}
		if len(parts) > 0 {
			r.Mirror = bytes.Join(parts, nil)
		}
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
	// The mirror goes to its parts (saveMirror); the column keeps nothing
	// once they exist, or, for a nil Mirror, what it holds (COALESCE).
	var mirror any
	if st.Mirror != nil {
		mirror = []byte{}
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
			st.TenantID, st.Strategy, st.Note, Text(links), s.d.Time(st.TakenAt), s.d.Time(st.FullAt), st.Scope, []byte{}, next,
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
	if st.Mirror != nil {
		if err := s.saveMirror(ctx, tx, st); err != nil {
			return err
		}
	}
	st.Generation = next
	return nil
}

// saveMirror stores st.Mirror as its parts (st.MirrorParts; one part when
// they do not add up to it), writing only those whose bytes differ from
// the part stored at the same place, and dropping stored parts past the
// last. It runs in the save's transaction, after the row's generation check.
func (s *DB) saveMirror(ctx context.Context, tx *sqlx.Tx, st *sync.DeltaState) error {
	parts := splitParts(st.Mirror, st.MirrorParts)
	var stored []struct {
		Idx int    `db:"idx"`
		Sum string `db:"sum"`
	}
	if err := tx.SelectContext(ctx, &stored, s.q(`SELECT idx, sum FROM delta_mirror_parts WHERE tenant_id = ?`), st.TenantID); err != nil {
		return fmt.Errorf("store: save delta mirror of %s: %w", st.TenantID, s.d.Translate(err))
	}
	had := make(map[int]string, len(stored))
	for _, p := range stored {
		had[p.Idx] = p.Sum
	}
	for i, p := range parts {
		h := sha256.Sum256(p)
		sum := hex.EncodeToString(h[:])
		if had[i] == sum {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO delta_mirror_parts (tenant_id, idx, sum, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id, idx) DO UPDATE SET sum = excluded.sum, data = excluded.data`), st.TenantID, i, sum, p); err != nil {
			return fmt.Errorf("store: save delta mirror of %s, part %d: %w", st.TenantID, i, s.d.Translate(err))
		}
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM delta_mirror_parts WHERE tenant_id = ? AND idx >= ?`), st.TenantID, len(parts)); err != nil {
		return fmt.Errorf("store: save delta mirror of %s: %w", st.TenantID, s.d.Translate(err))
	}
	return nil
}

// splitParts cuts b into parts of the given lengths; b whole when they do
// not add up to its length. An empty b has no parts.
func splitParts(b []byte, lens []int) [][]byte {
	if len(b) == 0 {
		return nil
	}
	total := 0
	for _, n := range lens {
		if n <= 0 {
			return [][]byte{b}
		}
		total += n
	}
	if total != len(b) {
		return [][]byte{b}
	}
	out := make([][]byte, 0, len(lens))
	for _, n := range lens {
		out, b = append(out, b[:n]), b[n:]
	}
	return out
}
