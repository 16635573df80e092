package sync_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestL9_AdoptionOfManualUser(t *testing.T) {
	st := &sync.State{Tenant: sync.Tenant{ID: "t", Settings: sync.DefaultTenantSettings()}, Users: []sync.User{
		{ID: 7, Origin: sync.OriginManual, Email: "Ann@X.test", Status: sync.StatusActive},
	}}
	snap := &sync.Snapshot{DirectUsers: []string{"a"}, Users: map[string]sync.EntraUser{"a": {ID: "a", UserPrincipalName: "ann@x.test", AccountEnabled: true}}}
	p := sync.Diff(snap, st, t0)
	if len(p.Changes) != 1 || p.Changes[0].Action != sync.ActionAdopt || p.Changes[0].Before.ID != 7 || p.Changes[0].After.Status != sync.StatusActive {
		t.Fatalf("plan = %+v, want the manual user adopted with its status", p.Changes)
	}
}

// TestRenderGolden pins the rendered plan (regenerate with -update).
func TestRenderGolden(t *testing.T) {
	archived := t0.Add(-time.Hour)
	st := &sync.State{Tenant: sync.Tenant{ID: "acme", Settings: sync.DefaultTenantSettings()},
		Users: []sync.User{
			{ID: 1, EntraID: "u1", Origin: sync.OriginProvisioned, UserPrincipalName: "ann@acme.test", Mail: "ann@acme.test", Email: "ann@acme.test", DisplayName: "Ann", AccountEnabled: true, Status: sync.StatusActive, Paths: []string{"direct"}},
			{ID: 2, EntraID: "u2", Origin: sync.OriginProvisioned, UserPrincipalName: "bo@acme.test", Email: "bo@acme.test", DisplayName: "Bo", AccountEnabled: true, Status: sync.StatusArchived, PreviousStatus: sync.StatusInvited, ArchivedAt: &archived, ArchiveReason: "no assignment path left"},
			{ID: 3, EntraID: "u3", Origin: sync.OriginProvisioned, UserPrincipalName: "cy@acme.test", Email: "cy@acme.test", DisplayName: "Cy", AccountEnabled: true, Status: sync.StatusStaged, Paths: []string{"group:g1"}},
			{ID: 4, Origin: sync.OriginManual, Email: "dee@acme.test", Status: sync.StatusActive},
		},
		Groups: []sync.Group{{ID: 1, EntraID: "g1", Origin: sync.OriginProvisioned, DisplayName: "Staff", Members: []string{"u3"}}},
	}
	snap := &sync.Snapshot{
		DirectUsers: []string{"u1", "u2", "u5"},
		Users: map[string]sync.EntraUser{
			"u1": {ID: "u1", UserPrincipalName: "ann@acme.test", Mail: "ann.new@acme.test", DisplayName: "Ann", AccountEnabled: true},
			"u2": {ID: "u2", UserPrincipalName: "bo@acme.test", DisplayName: "Bo", AccountEnabled: true},
			"u4": {ID: "u4", UserPrincipalName: "eve@acme.test", DisplayName: "Eve", AccountEnabled: true},
			"u5": {ID: "u5", UserPrincipalName: "fay@acme.test", Mail: "ANN.NEW@acme.test", DisplayName: "Fay", AccountEnabled: true},
		},
		Groups: []sync.EntraGroup{
			{ID: "g1", DisplayName: "All Staff", SecurityEnabled: true, Found: true, Members: []string{"u4"}, Nested: []sync.Ref{{ID: "g9", Name: "Interns"}}},
			{ID: "g2", DisplayName: "Everyone", SecurityEnabled: true, MailEnabled: true, GroupTypes: []string{"Unified"}, Found: true},
		},
		ServicePrincipalAssignments: 1,
	}
	p := sync.Diff(snap, st, t0)
	var buf bytes.Buffer
	if err := p.Render(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "plan.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./sync -run TestRenderGolden -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("rendered plan differs from %s:\n%s", golden, buf.String())
	}
	var round sync.Plan
	if err := json.Unmarshal([]byte(jsonOf(t, p)), &round); err != nil || !reflect.DeepEqual(round.Counts(), p.Counts()) {
		t.Fatalf("plan JSON does not round-trip: %v", err)
	}
}

// TestL10_DroppedConflictDoesNotBreakLabels: a conflicted adoption of a
// detached member is dropped; labelling the membership changes that follow
// must not use its stale index (it once panicked).
func TestL10_DroppedConflictDoesNotBreakLabels(t *testing.T) {
	st := &sync.State{Tenant: sync.Tenant{ID: "t", Settings: sync.DefaultTenantSettings()},
		Users: []sync.User{
			{ID: 1, EntraID: "b", Origin: sync.OriginProvisioned, Email: "taken@x.test", UserPrincipalName: "b@x.test", Status: sync.StatusStaged, AccountEnabled: true, Paths: []string{"direct"}},
			{ID: 2, EntraID: "d", Origin: sync.OriginManual, Email: "d@x.test", UserPrincipalName: "d@x.test", Status: sync.StatusActive, AccountEnabled: true, Paths: []string{"group:g"}},
		},
		Groups: []sync.Group{{ID: 3, EntraID: "g", Origin: sync.OriginManual, DisplayName: "G", Members: []string{"d"}}},
	}
	snap := &sync.Snapshot{DirectUsers: []string{"a", "b"}, Users: map[string]sync.EntraUser{
		"a": {ID: "a", UserPrincipalName: "a@x.test", Mail: "TAKEN@x.test", AccountEnabled: true},
		"b": {ID: "b", UserPrincipalName: "b@x.test", Mail: "taken@x.test", AccountEnabled: true},
		"d": {ID: "d", UserPrincipalName: "d@x.test", Mail: "taken@x.test", AccountEnabled: true},
	}, Groups: []sync.EntraGroup{{ID: "g", DisplayName: "G", SecurityEnabled: true, Found: true, Members: []string{"d"}}}}
	p := sync.Diff(snap, st, t0)
	if len(p.Conflicts) != 2 {
		t.Fatalf("conflicts = %+v, want a and d", p.Conflicts)
	}
	for _, ch := range p.Changes {
		if ch.Entity == sync.EntityMembership && !strings.HasPrefix(ch.Label, "d@x.test") {
			t.Fatalf("membership change labelled %q", ch.Label)
		}
	}
}
