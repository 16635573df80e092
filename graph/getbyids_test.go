package graph_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
	"github.com/entrasync/entrasync/sync"
)

const getByIDs = "POST /v1.0/directoryObjects/getByIds"

// directTenant is tenant(1) with n more directly assigned users in no
// group (every fifth disabled), granting perms (nil: the least-privileged
// three, without Directory.Read.All).
func directTenant(n int, perms ...string) *graphtest.Tenant {
	t := tenant(1)
	for i := 1; i <= n; i++ {
		u := graphtest.User{ID: id(10000 + i), UserPrincipalName: fmt.Sprintf("d%d@t.test", i), Mail: fmt.Sprintf("d%d@t.test", i),
			DisplayName: fmt.Sprintf("D %d", i), AccountEnabled: i%5 != 0}
		t.Users = append(t.Users, u)
		t.Assignments = append(t.Assignments, graphtest.Assignment{PrincipalID: u.ID})
	}
	t.Permissions = perms
	return t
}

func mustSnapshot(t *testing.T, src *graph.Source) *sync.Snapshot {
	t.Helper()
	snap, err := src.Snapshot(context.Background())
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return snap
}

// sameRead fails unless two snapshots read the same users and skipped the
// same principals.
func sameRead(t *testing.T, a, b *sync.Snapshot) {
	t.Helper()
	if !reflect.DeepEqual(a.Users, b.Users) || !reflect.DeepEqual(a.Skipped, b.Skipped) || !reflect.DeepEqual(a.DirectUsers, b.DirectUsers) {
		t.Fatalf("the reads differ: %d users, %d skipped vs %d users, %d skipped", len(a.Users), len(a.Skipped), len(b.Users), len(b.Skipped))
	}
}

// TestGetByIDsReplacesListingWherePermitted: 2,502 assignments make listing
// /users cheaper than $batch look-ups; with Directory.Read.All the direct
// users are read by getByIds instead (one permission request, then ⌈2,501/1,000⌉).
func TestGetByIDsReplacesListingWherePermitted(t *testing.T) {
	srv := graphtest.NewServer(directTenant(2500, "Directory.Read.All"))
	defer srv.Close()
	snap := mustSnapshot(t, source(t, srv, nil))
	req := srv.Requests()
	if req[getByIDs] != 1+3 || req["GET /v1.0/users"] != 0 || req["GET /v1.0/users/{id}"] != 0 {
		t.Fatalf("getByIds %d, /users pages %d, look-ups %d; want 4, 0, 0", req[getByIDs], req["GET /v1.0/users"], req["GET /v1.0/users/{id}"])
	}
	// The SP, 3 assignment pages, a group batch, a member batch, 3 getByIds.
	if snap.LowerBound != 9 || snap.RoundTrips > snap.LowerBound+4 {
		t.Fatalf("lower bound %d (want 9), %d round trips", snap.LowerBound, snap.RoundTrips)
	}
	if u := snap.Users[id(10005)]; u.AccountEnabled || u.Mail != "d5@t.test" || u.DisplayName != "D 5" {
		t.Fatalf("user read by getByIds = %+v", u)
	}

	// The same tenant without Directory.Read.All: refused once, listed
	// alongside; the same read.
	least := graphtest.NewServer(directTenant(2500))
	defer least.Close()
	src := source(t, least, nil)
	fallback := mustSnapshot(t, src)
	req = least.Requests()
	if req[getByIDs] != 1 || req["GET /v1.0/users"] != 3 {
		t.Fatalf("without Directory.Read.All: getByIds %d, /users pages %d; want 1 (refused), 3", req[getByIDs], req["GET /v1.0/users"])
	}
	sameRead(t, snap, fallback)
	if fallback.LowerBound != 6+3 {
		t.Fatalf("lower bound without getByIds = %d, want 9 (⌈2502/999⌉ user pages)", fallback.LowerBound)
	}
	// The Source remembers the refusal: the next cycle does not ask again.
	again := mustSnapshot(t, src)
	if n := least.Requests()[getByIDs]; n != 1 {
		t.Fatalf("getByIds asked again after a refusal: %d requests", n)
	}
	sameRead(t, fallback, again)
}

// TestGetByIDsFallsBackToBatchesInTheSameCycle: one assignment page, 101
// missing users: getByIds is tried, refused, and the users are looked up 20
// to a $batch in the same cycle.
func TestGetByIDsFallsBackToBatchesInTheSameCycle(t *testing.T) {
	srv := graphtest.NewServer(directTenant(100, "Directory.Read.All"))
	defer srv.Close()
	snap := mustSnapshot(t, source(t, srv, nil))
	if req := srv.Requests(); req[getByIDs] != 1 || req["GET /v1.0/users/{id}"] != 0 {
		t.Fatalf("permitted: getByIds %d, look-ups %d; want 1, 0", req[getByIDs], req["GET /v1.0/users/{id}"])
	}
	if snap.LowerBound != 1+1+1+1+1 {
		t.Fatalf("lower bound %d, want 5", snap.LowerBound)
	}

	least := graphtest.NewServer(directTenant(100))
	defer least.Close()
	fallback := mustSnapshot(t, source(t, least, nil))
	if req := least.Requests(); req[getByIDs] != 1 || req["GET /v1.0/users/{id}"] != 101 || req["POST /v1.0/$batch"] != 1+1+6 {
		t.Fatalf("refused: getByIds %d, look-ups %d, batches %d; want 1, 101, 8", req[getByIDs], req["GET /v1.0/users/{id}"], req["POST /v1.0/$batch"])
	}
	sameRead(t, snap, fallback)
	if fallback.LowerBound != 4+6 {
		t.Fatalf("lower bound without getByIds = %d, want 10", fallback.LowerBound)
	}
}

// TestGetByIDsWithoutSelectedFieldsFallsBack: a Graph that ignores $select
// and returns users without accountEnabled is not used; the cycle reads
// the users another way, and the Source stops asking.
func TestGetByIDsWithoutSelectedFieldsFallsBack(t *testing.T) {
	srv := graphtest.NewServer(directTenant(30, "Directory.Read.All"))
	defer srv.Close()
	srv.InjectFault(graphtest.Fault{Endpoint: getByIDs, Body: fmt.Sprintf(
		`{"value":[{"@odata.type":"#microsoft.graph.user","id":%q,"displayName":"D 1","userPrincipalName":"d1@t.test"}]}`, id(10001))})
	src := source(t, srv, nil)
	snap := mustSnapshot(t, src)
	if u := snap.Users[id(10001)]; !u.AccountEnabled || u.Mail != "d1@t.test" {
		t.Fatalf("user = %+v, want it read in full by the fallback", u)
	}
	if len(snap.Users) != 32 || len(snap.Skipped) != 0 {
		t.Fatalf("%d users, skipped %+v", len(snap.Users), snap.Skipped)
	}
	mustSnapshot(t, src)
	if n := srv.Requests()[getByIDs]; n != 1 {
		t.Fatalf("getByIds asked %d times, want once", n)
	}
}

// TestGetByIDsUnknownIDsAreSkipped: ids getByIds leaves out are users Graph
// does not know, skipped as a 404 look-up is.
func TestGetByIDsUnknownIDsAreSkipped(t *testing.T) {
	srv := graphtest.NewServer(directTenant(25, "Directory.Read.All"))
	defer srv.Close()
	srv.InjectFault(graphtest.Fault{Endpoint: getByIDs, Body: `{"value":[]}`, Times: 1})
	snap := mustSnapshot(t, source(t, srv, nil))
	if len(snap.Skipped) != 26 || !strings.Contains(snap.Skipped[0].Reason, "assigned user not found in Entra") {
		t.Fatalf("skipped %d: %+v", len(snap.Skipped), snap.Skipped[:min(1, len(snap.Skipped))])
	}
	if _, ok := snap.Users[id(10001)]; ok || len(snap.Users) != 1 {
		t.Fatalf("users %d; a user Graph did not return was kept", len(snap.Users))
	}
}

func TestUserLookUpBound(t *testing.T) {
	for _, c := range []struct {
		missing, tenantUsers int
		byIDs                bool
		want                 int
	}{
		{0, 0, true, 0}, {1, 0, false, 1}, {21, 0, false, 2}, {2500, 0, true, 3}, {60000, 100000, true, 60},
		{60000, 100000, false, 101}, {60000, 0, false, 3000}, {1000, 0, true, 1}, {1001, 0, true, 2},
	} {
		if got := graph.UserLookUpBound(c.missing, c.tenantUsers, c.byIDs); got != c.want {
			t.Errorf("UserLookUpBound(%d, %d, %v) = %d, want %d", c.missing, c.tenantUsers, c.byIDs, got, c.want)
		}
	}
}
