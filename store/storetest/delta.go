package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// testDeltaState: a tenant's delta state is saved only with a committed
// cycle, comes back as saved (links, times, scope, the mirror's bytes), and
// a save over a state that moved meanwhile is refused.
func testDeltaState(t *testing.T, dir store.Store) {
	ctx := context.Background()
	mustRegister(t, dir)
	if st, err := dir.DeltaState(ctx, "t1"); err != nil || st != nil {
		t.Fatalf("before any cycle: %+v, %v; want none", st, err)
	}
	at := time.Date(2026, 12, 1, 9, 30, 0, 123000, time.UTC)
	mirror := bytes.Repeat([]byte{0, 1, 0xff, 'x'}, 100_000) // binary, 400 KB
	save := func(st *sync.DeltaState, commit bool) error {
		tx, _ := mustBegin(t, ctx, dir, "t1")
		defer func() { _ = tx.Rollback() }()
		if err := tx.(sync.DeltaTx).SaveDelta(ctx, st); err != nil {
			return err
		}
		if commit {
			return tx.Commit()
		}
		return nil
	}
	first := &sync.DeltaState{TenantID: "t1", Strategy: sync.StrategyDelta, Links: map[string]string{"users": "https://g/u?$deltatoken=1"},
		TakenAt: at, FullAt: at, Scope: "s1", Mirror: mirror, SettingsHash: "h1", Clean: true}
	if err := save(first, false); err != nil {
		t.Fatal(err)
	}
	if st, _ := dir.DeltaState(ctx, "t1"); st != nil {
		t.Fatalf("a rolled back save kept %+v", st)
	}
	first.Generation = 0
	if err := save(first, true); err != nil || first.Generation != 1 {
		t.Fatalf("save: %v, generation %d", err, first.Generation)
	}
	got, err := dir.DeltaState(ctx, "t1")
	if err != nil || got.Strategy != sync.StrategyDelta || got.Links["users"] != first.Links["users"] || !got.TakenAt.Equal(at) ||
		!got.FullAt.Equal(at) || got.Scope != "s1" || !bytes.Equal(got.Mirror, mirror) || got.Generation != 1 ||
		got.SettingsHash != "h1" || !got.Clean {
		t.Fatalf("read back %+v (mirror %d bytes), %v", got, len(got.Mirror), err)
	}
	// Two cycles read generation 1; the second save is refused.
	a, b := *got, *got
	a.Links = map[string]string{"users": "2"}
	b.Links = map[string]string{"users": "3"}
	if err := save(&a, true); err != nil {
		t.Fatal(err)
	}
	err = save(&b, true)
	var se *sync.Error
	if !errors.As(err, &se) || se.Code != sync.ECONFLICT {
		t.Fatalf("save over a moved state: %v, want ECONFLICT", err)
	}
	if got, _ := dir.DeltaState(ctx, "t1"); got.Links["users"] != "2" || got.Generation != 2 {
		t.Fatalf("after the refused save: %+v", got)
	}
	// An incremental round that changed nothing saves no mirror: the
	// stored one stands.
	c := sync.DeltaState{TenantID: "t1", Strategy: sync.StrategyDelta, Links: map[string]string{"users": "4"}, TakenAt: at, FullAt: at,
		Scope: "s1", Generation: 2}
	if err := save(&c, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := dir.DeltaState(ctx, "t1"); got.Links["users"] != "4" || got.Generation != 3 || !bytes.Equal(got.Mirror, mirror) {
		t.Fatalf("after a save without a mirror: %+v (mirror %d bytes)", got, len(got.Mirror))
	}
}

// testDeltaMirrorParts: a mirror saved with its parts comes back whole; a
// later save rewrites only the parts whose bytes changed (a part tampered
// with in the table, but whose bytes the save brings again, is left as it
// is: the proof it was not rewritten), drops parts past the last, and a
// save without a mirror keeps them; lengths that do not add up store one
// part; a state saved before parts existed reads from its column.
func testDeltaMirrorParts(t *testing.T, dir store.Store) {
	ctx := context.Background()
	mustRegister(t, dir)
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	gen := int64(0)
	save := func(mirror []byte, parts []int) {
		t.Helper()
		tx, _ := mustBegin(t, ctx, dir, "t1")
		defer func() { _ = tx.Rollback() }()
		st := &sync.DeltaState{TenantID: "t1", Strategy: sync.StrategyDelta, Links: map[string]string{"users": "u"},
			TakenAt: at, FullAt: at, Scope: "s1", Mirror: mirror, MirrorParts: parts, Generation: gen}
		if err := tx.(sync.DeltaTx).SaveDelta(ctx, st); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		gen = st.Generation
	}
	load := func() []byte {
		t.Helper()
		st, err := dir.DeltaState(ctx, "t1")
		if err != nil || st == nil {
			t.Fatalf("load: %+v, %v", st, err)
		}
		return st.Mirror
	}
	a, b, c := bytes.Repeat([]byte{1, 0xff}, 5000), bytes.Repeat([]byte{2, 0}, 7000), bytes.Repeat([]byte{3}, 3000)
	join := func(ps ...[]byte) []byte { return bytes.Join(ps, nil) }

	save(join(a, b, c), []int{len(a), len(b), len(c)})
	if !bytes.Equal(load(), join(a, b, c)) {
		t.Fatal("three parts do not read back as the mirror")
	}
	rawExec(t, dir, `UPDATE delta_mirror_parts SET data = data || data WHERE idx = 0`)
	b2 := bytes.Repeat([]byte{9}, len(b))
	save(join(a, b2, c), []int{len(a), len(b2), len(c)})
	if got := load(); !bytes.Equal(got, join(a, a, b2, c)) {
		t.Fatalf("after a save that changed part 1: %d bytes; want part 0 left as it was (tampered), part 1 new", len(got))
	}
	save(join(a, b2), []int{len(a), len(b2)}) // a part fewer
	if got := load(); !bytes.Equal(got, join(a, a, b2)) {
		t.Fatalf("after a save of two parts: %d bytes, want the third dropped", len(got))
	}
	save(nil, nil) // a round that changed nothing
	if got := load(); !bytes.Equal(got, join(a, a, b2)) {
		t.Fatalf("after a save without a mirror: %d bytes, want the parts kept", len(got))
	}
	save(join(c, b), []int{1, 2}) // lengths that do not add up: one part
	if got := load(); !bytes.Equal(got, join(c, b)) {
		t.Fatalf("after a save whose parts do not add up: %d bytes", len(got))
	}
	// A save refused for its generation writes no part.
	tx, _ := mustBegin(t, ctx, dir, "t1")
	stale := &sync.DeltaState{TenantID: "t1", Strategy: sync.StrategyDelta, Links: map[string]string{"users": "u"},
		TakenAt: at, FullAt: at, Scope: "s1", Mirror: join(b, a), MirrorParts: []int{len(b), len(a)}, Generation: gen - 1}
	var se *sync.Error
	if err := tx.(sync.DeltaTx).SaveDelta(ctx, stale); !errors.As(err, &se) || se.Code != sync.ECONFLICT {
		t.Fatalf("a stale save: %v, want ECONFLICT", err)
	}
	_ = tx.Rollback()
	if got := load(); !bytes.Equal(got, join(c, b)) {
		t.Fatalf("after a refused save: %d bytes, want the mirror as it was", len(got))
	}

	// A mirror in the column (a state saved before parts, or by a process
	// that does not know them, after a save with parts) wins over the
	// parts; a save without a mirror keeps it; the next save with one
	// empties the column again.
	column := func(b string) string {
		if dir.Backend() == store.BackendPostgres {
			return `UPDATE delta_state SET mirror = '\x` + b + `'::bytea`
		}
		return `UPDATE delta_state SET mirror = X'` + b + `'`
	}
	rawExec(t, dir, column("0102030405"))
	if got := load(); !bytes.Equal(got, []byte{1, 2, 3, 4, 5}) {
		t.Fatalf("a mirror in the column beside parts reads back as %d bytes, want the column's", len(got))
	}
	save(nil, nil)
	if got := load(); !bytes.Equal(got, []byte{1, 2, 3, 4, 5}) {
		t.Fatalf("a save without a mirror over the column's: %d bytes, want the column's", len(got))
	}
	save(join(a, b), []int{len(a), len(b)})
	if got := load(); !bytes.Equal(got, join(a, b)) {
		t.Fatalf("a save with parts over the column's: %d bytes, want the parts", len(got))
	}
	save([]byte{}, nil) // no strategy: an empty mirror
	if got := load(); len(got) != 0 {
		t.Fatalf("after an empty mirror: %d bytes", len(got))
	}
}

// testDeltaStateReadDuringACycle: the delta state is read while another
// cycle's write transaction is open (any tenant: on SQLite the writer holds
// the whole database) without waiting for it.
func testDeltaStateReadDuringACycle(t *testing.T, dir store.Store) {
	ctx := context.Background()
	mustRegister(t, dir)
	tx, _ := mustBegin(t, ctx, dir, "t1")
	st := &sync.DeltaState{TenantID: "t1", Strategy: sync.StrategyDelta, Links: map[string]string{"users": "u"},
		TakenAt: time.Now(), FullAt: time.Now(), Scope: "s1", Mirror: []byte("m")}
	if err := tx.(sync.DeltaTx).SaveDelta(ctx, st); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	got, err := dir.DeltaState(rctx, "t1")
	if err != nil || got != nil {
		t.Fatalf("the delta state read during an open cycle: %+v, %v after %s; want none yet, at once", got, err, time.Since(start))
	}
}

// testDirectoryVersion: every write to a tenant's directory — a cycle that
// changes something, an administrator's write — counts; a cycle that
// changes nothing does not.
func testDirectoryVersion(t *testing.T, dir store.Store) {
	ctx := context.Background()
	mustRegister(t, dir)
	version := func() int64 {
		tx, _ := mustBegin(t, ctx, dir, "t1")
		defer func() { _ = tx.Rollback() }()
		return tx.(sync.DeltaTx).Tenant().DirectoryVersion
	}
	v0 := version()
	snap := snapshot([]sync.EntraUser{user("a", "a@x.test")}, []string{"a"})
	cycle(t, dir, snap, time.Now())
	v1 := version()
	cycle(t, dir, snap, time.Now()) // nothing to change
	v2 := version()
	if _, err := dir.SetTenantSetting(ctx, "t1", sync.SettingChange{Name: sync.SettingAutoInvite, Value: "true"}); err != nil {
		t.Fatal(err)
	}
	v3 := version()
	if v1 != v0+1 || v2 != v1 || v3 != v2+1 {
		t.Fatalf("directory versions %d → %d (a change) → %d (none) → %d (a setting); want +1, +0, +1", v0, v1, v2, v3)
	}
}
