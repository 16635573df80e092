package graphtest_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// deltaRound follows a delta round from u (a path or an absolute URL) to its
// deltaLink and returns every item, the deltaLink and the number of pages.
func deltaRound(t *testing.T, s *graphtest.Server, tok, u string, hdr ...string) ([]map[string]any, string, int) {
	t.Helper()
	var items []map[string]any
	for pages := 1; ; pages++ {
		if pages > 1000 {
			t.Fatalf("delta round does not end")
		}
		r := do(t, s, tok, http.MethodGet, u, nil, hdr...)
		items = append(items, values(t, r)...)
		next, _ := r.body["@odata.nextLink"].(string)
		dl, _ := r.body["@odata.deltaLink"].(string)
		switch {
		case next != "" && dl != "":
			t.Fatalf("page carries both nextLink and deltaLink: %s", r.raw)
		case next != "":
			if !strings.Contains(next, "$skiptoken=") {
				t.Fatalf("nextLink without $skiptoken: %s", next)
			}
			u = next
		case dl != "":
			if !strings.Contains(dl, "$deltatoken=") {
				t.Fatalf("deltaLink without $deltatoken: %s", dl)
			}
			return items, dl, pages
		default:
			t.Fatalf("page carries neither nextLink nor deltaLink: %s", r.raw)
		}
	}
}

// byID indexes items by id; several items of one object are kept in order.
func byID(items []map[string]any) map[string][]map[string]any {
	m := map[string][]map[string]any{}
	for _, it := range items {
		id, _ := it["id"].(string)
		m[id] = append(m[id], it)
	}
	return m
}

func sortedIDs(items []map[string]any) []string {
	out := ids(items)
	sort.Strings(out)
	return slices.Compact(out)
}

func removedReason(it map[string]any) string {
	r, _ := it["@removed"].(map[string]any)
	reason, _ := r["reason"].(string)
	return reason
}

func TestUsersDeltaRoundTrip(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	items, dl, pages := deltaRound(t, s, tok, "/v1.0/users/delta?$select=displayName,mail,accountEnabled",
		"Prefer", "odata.maxpagesize=3")
	if pages != 3 || len(items) != 7 {
		t.Fatalf("initial round: %d items on %d pages, want 7 on 3", len(items), pages)
	}
	for _, it := range items {
		got := keys(it)
		sort.Strings(got)
		if !slices.Equal(got, []string{"accountEnabled", "displayName", "id", "mail"}) {
			t.Errorf("initial item properties %v", got)
		}
	}

	// Nothing changed: an empty round and a new deltaLink.
	items, dl2, _ := deltaRound(t, s, tok, dl)
	if len(items) != 0 {
		t.Errorf("unchanged round returned %v", items)
	}

	s.SetUser(graphtest.User{ID: u2, UserPrincipalName: "user2@contoso.example", Mail: "user2@contoso.example",
		DisplayName: "Renamed 2", GivenName: "User", Surname: "2", AccountEnabled: true})
	s.SetUser(graphtest.User{ID: u3, UserPrincipalName: "user3@contoso.example", Mail: "user3@contoso.example",
		DisplayName: "User 3", GivenName: "User", Surname: "3", AccountEnabled: false})
	s.DeleteUser(u4)
	s.SetUser(graphtest.User{ID: userID(8), UserPrincipalName: "user8@contoso.example", AccountEnabled: true})
	s.AddMember(groupOps, u5) // not a change of the user
	s.Assign(u6)              // nor is this

	items, dl3, _ := deltaRound(t, s, tok, dl2)
	if got, want := sortedIDs(items), []string{u2, u3, u4, userID(8)}; !slices.Equal(got, want) {
		t.Fatalf("delta round ids %v, want %v", got, want)
	}
	m := byID(items)
	if it := m[u2][0]; it["displayName"] != "Renamed 2" || it["mail"] != "user2@contoso.example" || it["accountEnabled"] != true {
		t.Errorf("renamed user %v", it)
	}
	if it := m[u3][0]; it["accountEnabled"] != false {
		t.Errorf("disabled user %v", it)
	}
	if it := m[u4][0]; removedReason(it) != "changed" || len(it) != 2 {
		t.Errorf("deleted user %v, want only id and @removed changed", it)
	}
	if it := m[userID(8)][0]; it["displayName"] != nil || it["accountEnabled"] != true {
		t.Errorf("new user %v", it)
	}

	// The old deltaLink still replays the same changes; the new one is empty.
	if again, _, _ := deltaRound(t, s, tok, dl2); len(again) != 4 {
		t.Errorf("old deltaLink returned %d items, want 4", len(again))
	}
	if items, _, _ := deltaRound(t, s, tok, dl3); len(items) != 0 {
		t.Errorf("round after the changes returned %v", items)
	}
}

func TestUsersDeltaSelectLimitsTracking(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	_, dl, _ := deltaRound(t, s, tok, "/v1.0/users/delta?$select=displayName")
	s.Update(func(tn *graphtest.Tenant) { tn.Users[0].GivenName = "Changed" })
	if items, _, _ := deltaRound(t, s, tok, dl); len(items) != 0 {
		t.Errorf("a change of an unselected property was reported: %v", items)
	}
	s.Update(func(tn *graphtest.Tenant) { tn.Users[0].DisplayName = "Changed" })
	if items, _, _ := deltaRound(t, s, tok, dl); !slices.Equal(ids(items), []string{u1}) {
		t.Errorf("rename reported as %v", items)
	}
}

func TestUsersDeltaLatest(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	r := get(t, s, tok, "/v1.0/users/delta?$select=displayName&$deltatoken=latest")
	if v := values(t, r); len(v) != 0 {
		t.Fatalf("latest returned data: %s", r.raw)
	}
	dl, _ := r.body["@odata.deltaLink"].(string)
	if dl == "" || r.body["@odata.nextLink"] != nil {
		t.Fatalf("latest: %s", r.raw)
	}
	s.Update(func(tn *graphtest.Tenant) { tn.Users[4].DisplayName = "Five" })
	items, _, _ := deltaRound(t, s, tok, dl)
	if !slices.Equal(ids(items), []string{u5}) || items[0]["displayName"] != "Five" {
		t.Errorf("round after latest: %v", items)
	}
}

// membership merges the members@delta of a groups/delta round into state.
func mergeMembership(state map[string]map[string]bool, items []map[string]any) {
	for _, it := range items {
		id := it["id"].(string)
		if removedReason(it) != "" {
			delete(state, id)
			continue
		}
		if state[id] == nil {
			state[id] = map[string]bool{}
		}
		md, _ := it["members@delta"].([]any)
		for _, x := range md {
			m := x.(map[string]any)
			if removedReason(m) != "" {
				delete(state[id], m["id"].(string))
			} else {
				state[id][m["id"].(string)] = true
			}
		}
	}
}

func wantMembership(t *testing.T, s *graphtest.Server) map[string]map[string]bool {
	t.Helper()
	tn := s.Tenant()
	exists := map[string]bool{tn.Application.ID: true}
	for _, u := range tn.Users {
		exists[u.ID] = true
	}
	for _, g := range tn.Groups {
		exists[g.ID] = true
	}
	for _, sp := range tn.ServicePrincipals {
		exists[sp.ID] = true
	}
	want := map[string]map[string]bool{}
	for _, g := range tn.Groups {
		want[g.ID] = map[string]bool{}
		for _, m := range g.Members {
			if exists[m] { // Graph lists no member that does not exist
				want[g.ID][m] = true
			}
		}
	}
	return want
}

func equalMembership(a, b map[string]map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for g, ms := range a {
		if len(ms) != len(b[g]) {
			return false
		}
		for m := range ms {
			if !b[g][m] {
				return false
			}
		}
	}
	return true
}

func TestGroupsDeltaMembers(t *testing.T) {
	s := newServer(t, graphtest.WithDeltaMemberChunk(2))
	tok := token(t, s)
	items, dl, pages := deltaRound(t, s, tok, "/v1.0/groups/delta?$select=displayName,securityEnabled,members",
		"Prefer", "odata.maxpagesize=1")
	// groupEng's 4 members come in two items, on two pages.
	if len(byID(items)[groupEng]) != 2 || pages != 3 {
		t.Fatalf("initial round: %d pages, items %v", pages, items)
	}
	first := byID(items)[groupEng][0]
	if first["displayName"] != "Engineering" || first["securityEnabled"] != true {
		t.Errorf("first item of the group %v", first)
	}
	for _, x := range first["members@delta"].([]any) {
		m := x.(map[string]any)
		if typ, _ := m["@odata.type"].(string); !strings.HasPrefix(typ, "#microsoft.graph.") || len(m) != 2 {
			t.Errorf("member ref %v", m)
		}
	}
	state := map[string]map[string]bool{}
	mergeMembership(state, items)
	if want := wantMembership(t, s); !equalMembership(state, want) {
		t.Fatalf("merged initial membership %v, want %v", state, want)
	}

	s.AddMember(groupOps, u5)
	s.RemoveMember(groupEng, u2)
	s.DeleteUser(u1) // leaves groupEng too
	s.SetGroup(graphtest.Group{ID: "00000000-0000-4000-8000-0000000a0003", DisplayName: "New", SecurityEnabled: true,
		Members: []string{u6}})
	items, dl, _ = deltaRound(t, s, tok, dl, "Prefer", "odata.maxpagesize=1")
	var removed []string
	for _, it := range byID(items)[groupEng] {
		for _, x := range it["members@delta"].([]any) {
			if m := x.(map[string]any); removedReason(m) == "deleted" {
				removed = append(removed, m["id"].(string))
			}
		}
	}
	sort.Strings(removed)
	if !slices.Equal(removed, []string{u1, u2}) {
		t.Errorf("removed members of groupEng %v, want u1 and u2 (%v)", removed, items)
	}
	mergeMembership(state, items)
	if want := wantMembership(t, s); !equalMembership(state, want) {
		t.Fatalf("merged membership %v, want %v", state, want)
	}

	s.DeleteGroup(groupOps)
	items, _, _ = deltaRound(t, s, tok, dl)
	m := byID(items)
	if len(m[groupOps]) != 1 || removedReason(m[groupOps][0]) != "deleted" {
		t.Errorf("deleted security group: %v", items)
	}
	mergeMembership(state, items)
	if want := wantMembership(t, s); !equalMembership(state, want) {
		t.Fatalf("merged membership after deletion %v, want %v", state, want)
	}
}

func TestGroupsDeltaMinimal(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	_, dl, _ := deltaRound(t, s, tok, "/v1.0/groups/delta?$select=displayName,securityEnabled,members")
	s.Update(func(tn *graphtest.Tenant) { tn.Groups[1].DisplayName = "Operations" })
	s.AddMember(groupEng, u7)

	r := do(t, s, tok, http.MethodGet, dl, nil, "Prefer", "return=minimal")
	if got := r.header.Get("Preference-Applied"); got != "return=minimal" {
		t.Errorf("Preference-Applied = %q", got)
	}
	m := byID(values(t, r))
	ops := m[groupOps][0]
	if got := keys(ops); len(got) != 2 || ops["displayName"] != "Operations" {
		t.Errorf("minimal renamed group %v, want only id and displayName", ops)
	}
	eng := m[groupEng][0]
	if _, ok := eng["displayName"]; ok || len(eng["members@delta"].([]any)) != 1 {
		t.Errorf("minimal group with a new member %v, want id and members@delta", eng)
	}

	// Without the preference the changed groups come whole.
	r = get(t, s, tok, dl)
	if ops := byID(values(t, r))[groupOps][0]; ops["securityEnabled"] != true {
		t.Errorf("full item %v", ops)
	}
}

func TestGroupsDeltaFilter(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	f := url.QueryEscape(fmt.Sprintf("id eq '%s'", groupOps))
	items, dl, _ := deltaRound(t, s, tok, "/v1.0/groups/delta?$select=displayName,members&$filter="+f)
	if !slices.Equal(ids(items), []string{groupOps}) {
		t.Fatalf("filtered round %v", items)
	}
	s.AddMember(groupEng, u7)
	s.AddMember(groupOps, u7)
	if items, _, _ := deltaRound(t, s, tok, dl); !slices.Equal(ids(items), []string{groupOps}) {
		t.Errorf("filtered delta round %v", items)
	}

	var terms []string
	for i := range 51 {
		terms = append(terms, fmt.Sprintf("id eq '%s'", userID(100+i)))
	}
	r := get(t, s, tok, "/v1.0/groups/delta?$filter="+url.QueryEscape(strings.Join(terms, " or ")))
	if code, _ := graphError(t, r); r.status != 400 || code != "Request_UnsupportedQuery" {
		t.Errorf("51 ids: %d %s", r.status, r.raw)
	}
	r = get(t, s, tok, "/v1.0/groups/delta?$filter="+url.QueryEscape(strings.Join(terms[:50], " or ")))
	if r.status != 200 {
		t.Errorf("50 ids: %d %s", r.status, r.raw)
	}
	for _, q := range []string{"$top=5", "$expand=members", "$orderby=displayName", "$filter=" + url.QueryEscape("displayName eq 'x'")} {
		if r := get(t, s, tok, "/v1.0/groups/delta?"+q); r.status != 400 {
			t.Errorf("%s: %d, want 400", q, r.status)
		}
	}
}

func TestDeltaReplay(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	_, dl, _ := deltaRound(t, s, tok, "/v1.0/users/delta?$select=displayName")
	s.ReplayDelta(u1, groupEng)
	items, dl, _ := deltaRound(t, s, tok, dl)
	if !slices.Equal(ids(items), []string{u1}) || items[0]["displayName"] != "User 1" {
		t.Errorf("replayed round %v", items)
	}
	if items, _, _ := deltaRound(t, s, tok, dl); len(items) != 0 {
		t.Errorf("round after the replay %v", items)
	}
}

// TestDeltaChangeDuringRound changes objects between the pages of a round:
// every object is still served, the changed ones again later, and the
// deltaLink does not report them once more.
func TestDeltaChangeDuringRound(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	r := do(t, s, tok, http.MethodGet, "/v1.0/users/delta?$select=displayName", nil, "Prefer", "odata.maxpagesize=3")
	first := values(t, r)
	s.Update(func(tn *graphtest.Tenant) {
		tn.Users[0].DisplayName = "Changed 1"
		tn.Users[6].DisplayName = "Changed 7"
	})
	rest, dl, _ := deltaRound(t, s, tok, r.body["@odata.nextLink"].(string), "Prefer", "odata.maxpagesize=3")
	all := append(first, rest...)
	seen := map[string]any{}
	for _, it := range all {
		seen[it["id"].(string)] = it["displayName"]
	}
	if len(seen) != 7 || seen[u1] != "Changed 1" || seen[u7] != "Changed 7" {
		t.Errorf("round with changes in flight: %v", seen)
	}
	if items, _, _ := deltaRound(t, s, tok, dl); len(items) != 0 {
		t.Errorf("next round %v", items)
	}
}

func TestDeltaExpiry(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	_, dl, _ := deltaRound(t, s, tok, "/v1.0/users/delta?$select=displayName,mail")
	s.ExpireDeltaTokens(graphtest.DeltaGone)
	r := get(t, s, tok, dl)
	loc := r.header.Get("Location")
	if r.status != http.StatusGone || !strings.Contains(loc, "/v1.0/users/delta?") || !strings.Contains(loc, "$deltatoken=") {
		t.Fatalf("expired token: %d Location %q %s", r.status, loc, r.raw)
	}
	items, dl, _ := deltaRound(t, s, tok, loc)
	if len(items) != 7 || len(items[0]) != 3 {
		t.Fatalf("resync from Location: %v", items)
	}

	s.ExpireDeltaTokens(graphtest.DeltaSyncStateNotFound)
	r = get(t, s, tok, dl)
	if code, _ := graphError(t, r); r.status != 400 || code != "syncStateNotFound" {
		t.Errorf("expired token: %d %s", r.status, r.raw)
	}
	// Skip tokens of a round in flight expire too.
	r = do(t, s, tok, http.MethodGet, "/v1.0/users/delta", nil, "Prefer", "odata.maxpagesize=2")
	s.ExpireDeltaTokens(graphtest.DeltaSyncStateNotFound)
	if r2 := get(t, s, tok, r.body["@odata.nextLink"].(string)); r2.status != 400 {
		t.Errorf("expired skip token: %d", r2.status)
	}
	if r := get(t, s, tok, "/v1.0/users/delta?$deltatoken=bm9wZQ"); r.status != 400 {
		t.Errorf("garbage token: %d", r.status)
	}
}

func TestDeltaFaults(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	const path = "/v1.0/users/delta?$select=displayName"
	pref := []string{"Prefer", "odata.maxpagesize=3"}

	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Page: 2, Status: 503, Times: 1})
	r := do(t, s, tok, http.MethodGet, path, nil, pref...)
	next := r.body["@odata.nextLink"].(string)
	if r2 := do(t, s, tok, http.MethodGet, next, nil, pref...); r2.status != 503 {
		t.Errorf("page 2 with a fault: %d", r2.status)
	}
	if items, _, _ := deltaRound(t, s, tok, next, pref...); len(items) != 4 {
		t.Errorf("retried page 2 and 3: %d items", len(items))
	}

	s.ClearFaults()
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Page: 1, DropPage: true, Times: 1})
	if items, _, _ := deltaRound(t, s, tok, path, pref...); len(items) != 4 {
		t.Errorf("round with a dropped page: %d items, want 4", len(items))
	}

	s.ClearFaults()
	s.InjectFault(graphtest.Fault{Endpoint: "GET /v1.0/users/delta", Page: 1, Truncate: true, Times: 1})
	if r := do(t, s, tok, http.MethodGet, path, nil, pref...); r.status != 200 || r.body != nil {
		t.Errorf("truncated page: %d %s", r.status, r.raw)
	}
	if n := s.Requests()["GET /v1.0/users/delta"]; n < 7 {
		t.Errorf("delta requests counted %d", n)
	}
}

func TestDirectoryObjectsDelta(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	f := url.QueryEscape("isof('microsoft.graph.appRoleAssignment') or isof('microsoft.graph.user')")
	items, dl, _ := deltaRound(t, s, tok, "/v1.0/directoryObjects/delta?$filter="+f)
	var assigned []string
	users := 0
	for _, it := range items {
		switch it["@odata.type"] {
		case "#microsoft.graph.appRoleAssignment":
			if it["resourceId"] != appObjID || it["appRoleId"] == nil {
				t.Errorf("assignment item %v", it)
			}
			assigned = append(assigned, it["principalId"].(string))
		case "#microsoft.graph.user":
			users++
		default:
			t.Errorf("item %v", it)
		}
	}
	sort.Strings(assigned)
	want := []string{u1, groupEng, robotID}
	sort.Strings(want)
	if users != 7 || !slices.Equal(assigned, want) {
		t.Errorf("initial round: %d users, assignments of %v", users, assigned)
	}

	s.Assign(u4)
	s.Unassign(groupEng)
	items, _, _ = deltaRound(t, s, tok, dl)
	var added, removed int
	for _, it := range items {
		if it["@odata.type"] != "#microsoft.graph.appRoleAssignment" {
			t.Errorf("unexpected item %v", it)
			continue
		}
		switch {
		case removedReason(it) == "deleted":
			removed++
		case it["principalId"] == u4:
			added++
		}
	}
	if added != 1 || removed != 1 || len(items) != 2 {
		t.Errorf("assignment delta %v", items)
	}

	for _, q := range []string{"", "?$filter=" + url.QueryEscape("isof('microsoft.graph.appRoleAssignment')"),
		"?$filter=" + url.QueryEscape("id eq '"+u1+"'")} {
		if r := get(t, s, tok, "/v1.0/directoryObjects/delta"+q); r.status != 400 {
			t.Errorf("%q: %d, want 400", q, r.status)
		}
	}
	s.SetAssignmentDelta(false)
	if r := get(t, s, tok, "/v1.0/directoryObjects/delta?$filter="+f); r.status != 400 {
		t.Errorf("switched off: %d", r.status)
	}
	off := newServer(t, graphtest.WithoutAssignmentDelta())
	if r := get(t, off, token(t, off), "/v1.0/directoryObjects/delta?$filter="+f); r.status != 400 {
		t.Errorf("WithoutAssignmentDelta: %d", r.status)
	}
}

// TestDeltaMergeEqualsTenant applies random mutations (some between the
// pages of a round), merges every users/delta and groups/delta round into a
// client-side copy, and checks after each round that the copy equals the
// served tenant: a tracked round misses nothing and invents nothing.
func TestDeltaMergeEqualsTenant(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newServer(t, graphtest.WithDeltaMemberChunk(2))
			tok := token(t, s)
			rng := rand.New(rand.NewPCG(seed, 42))
			// Odd seeds ask for return=minimal: items carry only what changed.
			pref := []string{"Prefer", "odata.maxpagesize=2"}
			if seed%2 == 1 {
				pref[1] += ", return=minimal"
			}
			users := map[string]map[string]any{} // id -> displayName, accountEnabled
			groups := map[string]map[string]bool{}
			userDL := "/v1.0/users/delta?$select=displayName,accountEnabled"
			groupDL := "/v1.0/groups/delta?$select=displayName,members"
			pick := func(n int) string { return userID(1 + rng.IntN(n)) }
			groupIDs := []string{groupEng, groupOps, "00000000-0000-4000-8000-0000000a0009"}
			mutate := func() {
				switch rng.IntN(7) {
				case 0:
					id := pick(12)
					s.SetUser(graphtest.User{ID: id, UserPrincipalName: id + "@contoso.example",
						DisplayName: fmt.Sprint("N", rng.IntN(100)), AccountEnabled: rng.IntN(2) == 0})
				case 1:
					s.DeleteUser(pick(12))
				case 2, 3:
					s.AddMember(groupIDs[rng.IntN(3)], pick(12))
				case 4:
					s.RemoveMember(groupIDs[rng.IntN(3)], pick(12))
				case 5:
					s.SetGroup(graphtest.Group{ID: groupIDs[rng.IntN(3)], DisplayName: fmt.Sprint("G", rng.IntN(100)),
						SecurityEnabled: true, Members: []string{pick(12), pick(12)}})
				case 6:
					s.DeleteGroup(groupIDs[rng.IntN(3)])
				}
			}
			round := func(u string, merge func([]map[string]any)) string {
				r := do(t, s, tok, http.MethodGet, u, nil, pref...)
				items := values(t, r)
				if next, _ := r.body["@odata.nextLink"].(string); next != "" {
					mutate() // a change while the round is in flight
					rest, dl, _ := deltaRound(t, s, tok, next, pref...)
					merge(append(items, rest...))
					return dl
				}
				merge(items)
				return r.body["@odata.deltaLink"].(string)
			}
			for step := range 30 {
				for range rng.IntN(4) {
					mutate()
				}
				userDL = round(userDL, func(items []map[string]any) {
					for _, it := range items {
						id := it["id"].(string)
						if removedReason(it) != "" {
							delete(users, id)
							continue
						}
						if users[id] == nil {
							users[id] = map[string]any{}
						}
						for _, k := range []string{"displayName", "accountEnabled"} {
							if v, ok := it[k]; ok {
								users[id][k] = v
							}
						}
					}
				})

				tn := s.Tenant()
				want := map[string]string{}
				for _, u := range tn.Users {
					var name any = u.DisplayName
					if u.DisplayName == "" {
						name = nil
					}
					want[u.ID] = fmt.Sprint(name, u.AccountEnabled)
				}
				got := map[string]string{}
				for id, u := range users {
					got[id] = fmt.Sprint(u["displayName"], u["accountEnabled"])
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("step %d: merged users %v, tenant %v", step, got, want)
				}
				groupDL = round(groupDL, func(items []map[string]any) { mergeMembership(groups, items) })
				if w := wantMembership(t, s); !equalMembership(groups, w) {
					t.Fatalf("step %d: merged membership %v, tenant %v", step, groups, w)
				}
			}
		})
	}
}

// TestDeltaBadInput: tokens of another endpoint or not ours, bad
// preferences and filters answer 400, never 5xx.
func TestDeltaBadInput(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	r := get(t, s, tok, "/v1.0/users/delta?$deltatoken=latest")
	usersLink := r.body["@odata.deltaLink"].(string)
	_, userTok, _ := strings.Cut(usersLink, "$deltatoken=")
	for _, c := range []struct{ path, prefer string }{
		{"/v1.0/groups/delta?$deltatoken=" + userTok, ""},
		{"/v1.0/users/delta?$skiptoken=" + userTok, ""},
		{"/v1.0/users/delta?$skiptoken=%%%", ""},
		{"/v1.0/users/delta?$deltatoken=" + strings.Repeat("A", 300), ""},
		{"/v1.0/users/delta?$select=nosuchproperty", ""},
		{"/v1.0/users/delta", "odata.maxpagesize=0"},
		{"/v1.0/users/delta", "odata.maxpagesize=x"},
		{"/v1.0/users/delta?$filter=" + url.QueryEscape("id eq x"), ""},
		{"/v1.0/directoryObjects/delta?$filter=" + url.QueryEscape("isof('microsoft.graph.device')"), ""},
		{"/v1.0/directoryObjects/delta?$filter=" + url.QueryEscape("isof("), ""},
	} {
		r := do(t, s, tok, http.MethodGet, c.path, nil, "Prefer", c.prefer)
		if r.status != 400 {
			t.Errorf("%s (Prefer %q): %d %s, want 400", c.path, c.prefer, r.status, r.raw)
		}
	}
	// A $select with a NUL does not break the tokens it is carried in.
	r = do(t, s, tok, http.MethodGet, "/v1.0/users/delta?$select=displayName%00x", nil)
	if r.status >= 500 {
		t.Errorf("NUL in $select: %d", r.status)
	}
}

func TestDeltaPermissions(t *testing.T) {
	tn := testTenant()
	tn.Permissions = []string{"Application.Read.All"}
	s := graphtest.NewServer(tn)
	defer s.Close()
	tok := token(t, s)
	f := url.QueryEscape("isof('microsoft.graph.appRoleAssignment') or isof('microsoft.graph.user')")
	for _, p := range []string{"/v1.0/users/delta", "/v1.0/groups/delta", "/v1.0/directoryObjects/delta?$filter=" + f} {
		if r := get(t, s, tok, p); r.status != 403 {
			t.Errorf("%s without its permission: %d", p, r.status)
		}
	}
	s.Update(func(tn *graphtest.Tenant) {
		tn.Permissions = append(tn.Permissions, "User.Read.All", "GroupMember.Read.All")
	})
	for _, p := range []string{"/v1.0/users/delta", "/v1.0/groups/delta", "/v1.0/directoryObjects/delta?$filter=" + f} {
		if r := get(t, s, tok, p); r.status != 200 {
			t.Errorf("%s with User.Read.All and GroupMember.Read.All: %d %s", p, r.status, r.raw)
		}
	}
}
