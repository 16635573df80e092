package graph

import (
	"fmt"
	"testing"

	"github.com/entrasync/entrasync/sync"
)

// benchMirror is a mirror the size of the large bench tenant's: 100,000
// users in scope, 60,000 direct assignments, 500 groups of 200 members.
func benchMirror() (*mirror, map[string]sync.EntraUser) {
	m := newMirror()
	m.SP = sync.Ref{ID: "00000000-0000-4000-8000-00000000ffff", Name: "App"}
	users := map[string]sync.EntraUser{}
	id := func(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", i*2654435761%(1<<32), i) }
	for i := range 100_000 {
		u := sync.EntraUser{ID: id(i), UserPrincipalName: fmt.Sprintf("user%d@contoso.test", i), Mail: fmt.Sprintf("user%d@contoso.test", i),
			DisplayName: fmt.Sprintf("User %d", i), GivenName: "User", Surname: fmt.Sprint(i), AccountEnabled: i%30 != 0}
		users[u.ID] = u
		m.users[u.ID] = &u
		if i < 60_000 {
			m.Assign[fmt.Sprintf("assignment-%d-AAAAAAAAAAAAAAAAAAAAAAAAAA", i)] = massign{P: u.ID, T: "User", N: u.DisplayName}
		}
	}
	for g := range 500 {
		gid := fmt.Sprintf("%08x-1111-4000-8000-%012x", g, g)
		grp := &mgroup{Found: true, Name: fmt.Sprintf("Group %d", g), Sec: true, Read: true}
		for j := range 200 {
			grp.Members = append(grp.Members, id(60_000+(g*200+j)%40_000))
		}
		m.Groups[gid] = grp
		m.Assign["group-assignment-"+gid] = massign{P: gid, T: "Group", N: grp.Name}
	}
	return m, users
}

func BenchmarkMirrorEncode(b *testing.B) {
	m, users := benchMirror()
	b.ResetTimer()
	var n int
	for range b.N {
		out, err := m.encode(users)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n)/1e6, "MB")
}

func BenchmarkMirrorSnapshot(b *testing.B) {
	m, _ := benchMirror()
	b.ResetTimer()
	for range b.N {
		if snap := m.snapshot(); len(snap.Users) != 100_000 {
			b.Fatalf("%d users", len(snap.Users))
		}
	}
}
