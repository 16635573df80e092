package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph"
	"github.com/entrasync/entrasync/graph/graphtest"
)

// oddlyNamedTenant is directTenant(n) with user principal names that start
// with every kind of character: letters of both cases, digits, the symbols
// Entra allows, and characters no partition names (a tenant's older or
// synced exceptions).
func oddlyNamedTenant(n int) *graphtest.Tenant {
	t := directTenant(n)
	starts := []string{"a", "B", "c", "D", "e", "j", "K", "m", "o", "p", "r", "s", "T", "w", "z", "0", "7",
		"'", "-", "_", "!", "#", "^", "~", "Ωmega", "élise", "ß"}
	for i := range t.Users {
		t.Users[i].UserPrincipalName = fmt.Sprintf("%s%d@t.test", starts[i%len(starts)], i)
	}
	return t
}

// TestPartitionedUserListingReadsWhatOneChainReads: 20,000 directly
// assigned users (21 pages of /users, so the listing is split) read with
// the partitions and, on a Graph that refuses the filter, in one chain: the
// same users. The users no partition names (three of the 27 first
// characters here) are looked up by id; the critical path is the longest
// partition's chain, not the 21 pages.
func TestPartitionedUserListingReadsWhatOneChainReads(t *testing.T) {
	const n = 20000
	srv := graphtest.NewServer(oddlyNamedTenant(n))
	defer srv.Close()
	split := mustSnapshot(t, source(t, srv, nil))
	req := srv.Requests()

	one := graphtest.NewServer(oddlyNamedTenant(n), graphtest.WithoutUserFilter())
	defer one.Close()
	src := source(t, one, nil)
	chain := mustSnapshot(t, src)
	sameRead(t, split, chain)
	users := oddlyNamedTenant(n).Users // the n direct users and the base tenant's two
	if len(split.Users) != len(users) || len(split.Skipped) != 0 {
		t.Fatalf("read %d users, skipped %d; want %d, 0", len(split.Users), len(split.Skipped), len(users))
	}
	for i, u := range users {
		if got := split.Users[u.ID]; got.UserPrincipalName != u.UserPrincipalName {
			t.Fatalf("user %d read as %q, want %q", i, got.UserPrincipalName, u.UserPrincipalName)
		}
	}

	// Three first characters of 27 are in no partition: about 2,200 direct
	// users looked up 20 to a $batch; the partitions' pages are at most one
	// more each than one chain's.
	unnamed := 0
	for i, u := range users {
		if i%27 >= 24 && u.ID != id(1) { // the base tenant's group member is read from its group
			unnamed++
		}
	}
	if got := req["GET /v1.0/users/{id}"]; got != unnamed {
		t.Fatalf("looked up %d users by id, want the %d no partition names", got, unnamed)
	}
	listed := (len(users) - unnamed + 998) / 999
	if got := req["GET /v1.0/users"]; got < listed || got > listed+8 {
		t.Fatalf("%d pages of /users for %d listed users, want %d to %d", got, len(users)-unnamed, listed, listed+8)
	}
	// Refused: each partition's first request (sent side by side), then 21.
	if oneReq := one.Requests(); oneReq["GET /v1.0/users"] != 8+21 || oneReq["GET /v1.0/users/{id}"] != 0 {
		t.Fatalf("one chain: %d pages of /users (8 refused and 21), %d look-ups; want 29, 0",
			oneReq["GET /v1.0/users"], oneReq["GET /v1.0/users/{id}"])
	}
	// Split: the service principal, 21 assignment pages (longer than any
	// partition's chain), then the look-up of the unnamed users. One chain:
	// the service principal, the first assignment page, the counts, the
	// refused first pages, 21 pages of users.
	if split.CriticalPath != 1+21+1 || chain.CriticalPath != 1+1+1+1+21 {
		t.Fatalf("critical path %d split (want 23), %d in one chain (want 25)", split.CriticalPath, chain.CriticalPath)
	}

	// The refusal is remembered: the next read lists in one chain at once.
	before := one.Requests()["GET /v1.0/users"]
	again := mustSnapshot(t, src)
	if got := one.Requests()["GET /v1.0/users"] - before; got != 21 {
		t.Fatalf("after a refusal the next read made %d requests of /users, want 21", got)
	}
	sameRead(t, chain, again)
}

// TestSmallListingIsOneChain: below partitionFrom pages the listing is not
// split (its partitions would cost more requests than their chains save).
func TestSmallListingIsOneChain(t *testing.T) {
	srv := graphtest.NewServer(oddlyNamedTenant(2500))
	defer srv.Close()
	snap := mustSnapshot(t, source(t, srv, nil))
	if req := srv.Requests(); req["GET /v1.0/users"] != 3 || req["GET /v1.0/users/{id}"] != 0 || len(snap.Users) != 2502 {
		t.Fatalf("%d pages of /users, %d look-ups, %d users; want 3, 0, 2502", req["GET /v1.0/users"], req["GET /v1.0/users/{id}"], len(snap.Users))
	}
}

// TestPartitionedUserListingFailures: a partition that fails after its
// first page, or with an error that is not a refusal, fails the read (C4),
// as one chain would; a refusal of only some partitions lists in one chain
// this time, and the next read partitions again.
func TestPartitionedUserListingFailures(t *testing.T) {
	const n = 20000
	for _, f := range []graphtest.Fault{
		{Endpoint: "GET /v1.0/users", Page: 2, Times: 1, Status: 400},
		{Endpoint: "GET /v1.0/users", Page: 1, Times: 1, Status: 500},
		{Endpoint: "GET /v1.0/users", Page: 3, Times: 1, Truncate: true},
	} {
		srv := graphtest.NewServer(oddlyNamedTenant(n))
		srv.InjectFault(f)
		_, err := source(t, srv, func(c *graph.Config) { c.MaxRetries = 1 }).Snapshot(context.Background())
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "partition") {
			t.Fatalf("fault %+v: read gave %v, want a failed read of a partition", f, err)
		}
	}

	srv := graphtest.NewServer(oddlyNamedTenant(n))
	defer srv.Close()
	srv.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users", Page: 1, Times: 1, Status: 400})
	src := source(t, srv, nil)
	once := mustSnapshot(t, src)
	req := srv.Requests()
	if req["GET /v1.0/users"] < 8+21 || req["GET /v1.0/users/{id}"] != 0 {
		t.Fatalf("one partition refused: %d requests of /users, %d look-ups; want the partitions' and 21 of one chain, none",
			req["GET /v1.0/users"], req["GET /v1.0/users/{id}"])
	}
	// Partitioned again: the users no partition names are looked up by id.
	again := mustSnapshot(t, src)
	if got := srv.Requests()["GET /v1.0/users/{id}"]; got == 0 {
		t.Fatalf("after one refused partition the next read listed in one chain again")
	}
	sameRead(t, once, again)
}
