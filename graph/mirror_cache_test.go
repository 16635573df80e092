package graph

import (
	"fmt"
	"testing"

	"github.com/entrasync/entrasync/sync"
)

// The mirror cache and the background encode: what a full read begins
// after must not come back into the cache.

// cacheTestMirror is a mirror of n users in one supported group, and the users
// in scope as a snapshot has them.
func cacheTestMirror(n int) (*mirror, map[string]sync.EntraUser) {
	m := newMirror()
	m.SP = sync.Ref{ID: "sp", Name: "App"}
	m.Assign["a1"] = massign{P: "g1", T: "Group", N: "Staff"}
	g := &mgroup{Found: true, Name: "Staff", Sec: true, Read: true}
	users := make(map[string]sync.EntraUser, n)
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		u := sync.EntraUser{ID: id, UserPrincipalName: id + "@x.test", Mail: id + "@x.test", DisplayName: "User " + id, AccountEnabled: true}
		users[id] = u
		m.users[id] = &u
		g.Members = append(g.Members, id)
	}
	m.Groups["g1"] = g
	return m, users
}

// TestBackgroundEncodeOvertakenByAFullReadIsNotKept: an incremental read's
// background encode that a full read overtakes (the full cycle after an
// incremental picture found short, or after a dry run whose encode nobody
// waited for) does not put its decoded mirror in the cache: the full cycle
// would hold it through its apply, and its bytes were never saved.
func TestBackgroundEncodeOvertakenByAFullReadIsNotKept(t *testing.T) {
	s := &Source{}
	m, users := cacheTestMirror(50_000) // tens of ms to encode: dropMirror comes first
	wait := s.encodeAside(m, users, false)
	s.dropMirror() // SnapshotDelta begins
	if _, _, err := wait(); err != nil {
		t.Fatal(err)
	}
	s.mirrors.mu.Lock()
	kept := s.mirrors.m
	s.mirrors.mu.Unlock()
	if kept != nil {
		t.Fatalf("the cache holds the overtaken incremental read's decoded mirror (%d users) after a full read began", len(kept.users))
	}
}
