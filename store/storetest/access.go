package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

// accessCases are the sync.Access and sync.LogPager cases every backend must
// pass: scoped, labelled tokens, the audit trail, the paged log.
var accessCases = []struct {
	name string
	test func(t *testing.T, dir store.Store)
}{
	{"TokenScopesAndLabels", testTokenScopes},
	{"AdminActionsNewestFirstByTenant", testAdminActions},
	{"RunLogFiltersAndPages", testRunLogPaging},
	{"RunLogPagesALargeRun", testRunLogLargeRun},
}

// testTokenScopes: a token's scope and label come back from its hash;
// issuing a label's token revokes that label's older token only; a reused
// hash, a bad scope or label is refused and changes nothing; RotateAPIToken
// tokens are admin tokens labelled admin.
func testTokenScopes(t *testing.T, dir store.Store) {
	ctx := context.Background()
	mustIssue := func(token, scope, label string) {
		t.Helper()
		if err := dir.IssueAPIToken(ctx, tokenHash(token), scope, label); err != nil {
			t.Fatalf("IssueAPIToken(%s, %s): %v", scope, label, err)
		}
	}
	lookup := func(token string) (sync.APIToken, error) { return dir.LookupAPIToken(ctx, tokenHash(token)) }
	mustIssue("r1", sync.ScopeRead, "viewer")
	mustIssue("a1", sync.ScopeAdmin, "ops")
	if tok, err := lookup("r1"); err != nil || tok.Scope != sync.ScopeRead || tok.Label != "viewer" || tok.CreatedAt.IsZero() {
		t.Fatalf("read token = %+v, %v", tok, err)
	}
	mustIssue("r2", sync.ScopeRead, "viewer")
	if _, err := lookup("r1"); !errors.Is(err, sync.ErrTokenNotFound) {
		t.Fatalf("viewer's older token after a new one: %v, want ErrTokenNotFound", err)
	}
	if tok, err := lookup("a1"); err != nil || tok.Scope != sync.ScopeAdmin {
		t.Fatalf("another label's token was revoked: %+v, %v", tok, err)
	}
	if err := dir.IssueAPIToken(ctx, tokenHash("a1"), sync.ScopeRead, "again"); sync.ErrorCode(err) != sync.ECONFLICT {
		t.Fatalf("reused hash: %v, want ECONFLICT", err)
	}
	for _, bad := range [][2]string{{"write", "x"}, {"", "x"}, {sync.ScopeRead, ""}, {sync.ScopeRead, "a b"}, {sync.ScopeRead, string(make([]byte, 65))}} {
		if err := dir.IssueAPIToken(ctx, tokenHash("bad"+bad[0]+bad[1]), bad[0], bad[1]); sync.ErrorCode(err) != sync.EINVALID {
			t.Fatalf("IssueAPIToken(%q, %q) = %v, want EINVALID", bad[0], bad[1], err)
		}
	}
	if tok, err := lookup("r2"); err != nil || tok.Label != "viewer" {
		t.Fatalf("refused issues changed the live tokens: %+v, %v", tok, err)
	}
	if err := dir.RotateAPIToken(ctx, tokenHash("legacy")); err != nil {
		t.Fatal(err)
	}
	if tok, err := lookup("legacy"); err != nil || tok.Scope != sync.ScopeAdmin || tok.Label != sync.ScopeAdmin {
		t.Fatalf("rotated token = %+v, %v, want admin labelled admin", tok, err)
	}
	if _, err := lookup("never"); !errors.Is(err, sync.ErrTokenNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

// testAdminActions: actions come back newest first with their actor and
// time, by tenant or all.
func testAdminActions(t *testing.T, dir store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i, a := range []sync.AdminAction{
		{Actor: "ops", Action: sync.ActionPauseTenant, TenantID: "t1"},
		{Actor: "cli", Action: sync.ActionRotateToken, Target: "viewer", Detail: "read"},
		{Actor: "ops", Action: sync.ActionApproveRun, TenantID: "t1", Target: "run 7", Detail: "applied"},
		{Actor: "ops", Action: sync.ActionRejectRun, TenantID: "t2", Target: "run 9"},
	} {
		a.At = at.Add(time.Duration(i) * time.Minute)
		if err := dir.RecordAdminAction(ctx, a); err != nil {
			t.Fatalf("RecordAdminAction: %v", err)
		}
	}
	t1, err := dir.AdminActions(ctx, "t1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(t1) != 2 || t1[0].Action != sync.ActionApproveRun || t1[0].Actor != "ops" || t1[0].Target != "run 7" ||
		t1[0].Detail != "applied" || !t1[0].At.Equal(at.Add(2*time.Minute)) || t1[1].Action != sync.ActionPauseTenant {
		t.Fatalf("t1's actions = %+v", t1)
	}
	all, err := dir.AdminActions(ctx, "", 3)
	if err != nil || len(all) != 3 || all[0].TenantID != "t2" || all[2].Action != sync.ActionRotateToken {
		t.Fatalf("all actions (limit 3) = %+v, %v", all, err)
	}
}

// testRunLogPaging: filters by action, status, entity and text (case and
// LIKE wildcards taken literally) and pages in id order, with the total.
func testRunLogPaging(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	ctx := context.Background()
	var users []sync.EntraUser
	var ids []string
	for i := range 25 {
		id := fmt.Sprintf("u%02d", i)
		users, ids = append(users, user(id, id+"@x.test")), append(ids, id)
	}
	cycle(t, dir, snapshot(users, ids, secGroup("g1", "Fifty%Off_Group", "u01", "u02")), time.Now())
	runs, err := dir.Runs(ctx, "t1", 1)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	id := runs[0].ID
	page := runLogPages(t, ctx, dir, id)
	all := page(sync.LogQuery{Limit: 1000})
	if all.Total != 28 || len(all.Entries) != 28 { // 25 users, 1 group, 2 memberships
		t.Fatalf("whole log: total %d, %d entries", all.Total, len(all.Entries))
	}
	p := page(sync.LogQuery{Entity: sync.EntityUser, Offset: 20, Limit: 10})
	if p.Total != 25 || len(p.Entries) != 5 || p.Offset != 20 || p.Entries[0].ID <= all.Entries[0].ID {
		t.Fatalf("users from 20: total %d, %d entries", p.Total, len(p.Entries))
	}
	for i := 1; i < len(p.Entries); i++ {
		if p.Entries[i].ID <= p.Entries[i-1].ID {
			t.Fatalf("page not in id order: %+v", p.Entries)
		}
	}
	if p := page(sync.LogQuery{Action: sync.ActionAdd}); p.Total != 2 || p.Entries[0].Entity != sync.EntityMembership {
		t.Fatalf("memberships added: %+v", p)
	}
	if p := page(sync.LogQuery{Status: "applied", Entity: sync.EntityGroup}); p.Total != 1 || p.Entries[0].EntraID != "g1" {
		t.Fatalf("groups applied: %+v", p)
	}
	if p := page(sync.LogQuery{Status: "conflict"}); p.Total != 0 || p.Entries == nil {
		t.Fatalf("conflicts: %+v (want none, as an empty page)", p)
	}
	if p := page(sync.LogQuery{Text: "fifty%off_", Entity: sync.EntityGroup}); p.Total != 1 || p.Entries[0].EntraID != "g1" {
		t.Fatalf("text with wildcards: %+v", p)
	}
	if p := page(sync.LogQuery{Text: "y%o"}); p.Total != 3 { // the group and its two memberships
		t.Fatalf("%% is literal: %+v", p)
	}
	if p := page(sync.LogQuery{Text: "u1_"}); p.Total != 0 {
		t.Fatalf("_ is literal: total %d", p.Total)
	}
	if p := page(sync.LogQuery{Text: "U2"}); p.Total != 5 { // u20…u24
		t.Fatalf("text U2: total %d", p.Total)
	}
	if _, err := dir.RunLog(ctx, 999999, sync.LogQuery{}); !errors.Is(err, sync.ErrRunNotFound) {
		t.Fatalf("RunLog(missing) = %v", err)
	}
}

// LargeRun is how many changes MustLargeRun's run has: the size of the
// largest runs the console pages through.
const LargeRun = 100_000

// MustLargeRun records a run of tenantID (registered already) with n log
// entries written by one statement: user creates, every tenth an update
// with a field diff, labelled userN@contoso.test in id order. It returns
// the run's id.
func MustLargeRun(tb testing.TB, dir store.Store, tenantID string, n int) int64 {
	tb.Helper()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	run := &sync.Run{TenantID: tenantID, Trigger: "test", StartedAt: now, FinishedAt: now, Outcome: sync.OutcomeSucceeded}
	if err := dir.RecordRun(context.Background(), run); err != nil {
		tb.Fatalf("record run: %v", err)
	}
	rawExec(tb, dir, fmt.Sprintf(`INSERT INTO provisioning_log (run_id, tenant_id, status, action, entity, entra_id, label, reason)
		SELECT %d, '%s', 'applied', CASE WHEN i %% 10 = 0 THEN 'update' ELSE 'create' END, 'user', 'id-' || i, 'user' || i || '@contoso.test',
			CASE WHEN i %% 10 = 0 THEN 'changed in Entra' ELSE 'assigned directly' END
		FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) SELECT i FROM s) AS g ORDER BY i`, run.ID, tenantID, n))
	rawExec(tb, dir, fmt.Sprintf(`UPDATE provisioning_log SET fields = '[{"name":"displayName","old":"a","new":"b"}]'
		WHERE run_id = %d AND action = 'update'`, run.ID))
	return run.ID
}

// testRunLogLargeRun: a run of LargeRun changes pages from its first to its
// last page and filters, counting every match, without reading the log whole.
func testRunLogLargeRun(t *testing.T, dir store.Store) {
	mustRegister(t, dir)
	id := MustLargeRun(t, dir, "t1", LargeRun)
	ctx := context.Background()
	page := runLogPages(t, ctx, dir, id)
	if p := page(sync.LogQuery{}); p.Total != LargeRun || len(p.Entries) != sync.DefaultLogPage || p.Entries[0].Label != "user1@contoso.test" {
		t.Fatalf("first page: total %d, %d entries", p.Total, len(p.Entries))
	}
	last := page(sync.LogQuery{Offset: LargeRun - 50})
	if len(last.Entries) != 50 || last.Entries[49].Label != fmt.Sprintf("user%d@contoso.test", LargeRun) {
		t.Fatalf("last page: %d entries", len(last.Entries))
	}
	if p := page(sync.LogQuery{Action: sync.ActionUpdate, Offset: 9_999}); p.Total != LargeRun/10 || len(p.Entries) != 1 ||
		len(p.Entries[0].Fields) != 1 || p.Entries[0].Fields[0].New != "b" {
		t.Fatalf("updates from 9,999: total %d, %+v", p.Total, p.Entries)
	}
	if p := page(sync.LogQuery{Text: "USER99999@"}); p.Total != 1 || p.Entries[0].EntraID != "id-99999" {
		t.Fatalf("text: %+v", p)
	}
	if p := page(sync.LogQuery{Offset: LargeRun}); p.Total != LargeRun || len(p.Entries) != 0 {
		t.Fatalf("past the end: total %d, %d entries", p.Total, len(p.Entries))
	}
}

// BenchRunLog measures RunLog's pages of a LargeRun-change run on dir: the
// first, the middle and the last page of 100, a filter by action and a text
// search (each counts the matches too).
func BenchRunLog(b *testing.B, dir store.Store) {
	mustRegister(b, dir)
	id := MustLargeRun(b, dir, "t1", LargeRun)
	for _, c := range []struct {
		name string
		q    sync.LogQuery
	}{
		{"first", sync.LogQuery{}},
		{"middle", sync.LogQuery{Offset: LargeRun / 2}},
		{"last", sync.LogQuery{Offset: LargeRun - 100}},
		{"action", sync.LogQuery{Action: sync.ActionUpdate, Offset: 5_000}},
		{"text", sync.LogQuery{Text: "user4242"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := dir.RunLog(context.Background(), id, c.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// runLogPages returns a function reading pages of run id's log, failing t
// on an error.
func runLogPages(t *testing.T, ctx context.Context, dir store.Store, id int64) func(sync.LogQuery) sync.LogPage {
	return func(q sync.LogQuery) sync.LogPage {
		t.Helper()
		p, err := dir.RunLog(ctx, id, q)
		if err != nil {
			t.Fatalf("RunLog(%+v): %v", q, err)
		}
		return p
	}
}
