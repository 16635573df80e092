package graphtest_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

func assignedPrincipals(t *testing.T, s *graphtest.Server, tok string) []string {
	t.Helper()
	var out []string
	for _, it := range values(t, get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID+"/appRoleAssignedTo")) {
		out = append(out, it["principalId"].(string))
	}
	return out
}

func memberIDs(t *testing.T, s *graphtest.Server, tok, group string) []string {
	t.Helper()
	return ids(values(t, get(t, s, tok, "/v1.0/groups/"+group+"/members?$select=id")))
}

func TestMutators(t *testing.T) {
	orig := testTenant()
	s := graphtest.NewServer(orig)
	defer s.Close()
	tok := token(t, s)

	// The server keeps its own copy.
	orig.Users[0].DisplayName = "mutated outside"
	if r := get(t, s, tok, "/v1.0/users/"+u1); r.body["displayName"] != "User 1" {
		t.Errorf("server shares the caller's tenant: %v", r.body["displayName"])
	}

	s.Assign(u4)
	s.Assign(u4) // idempotent
	if got := assignedPrincipals(t, s, tok); !slices.Equal(got, []string{u1, groupEng, robotID, u4}) {
		t.Errorf("after Assign: %v", got)
	}
	s.Unassign(groupEng)
	if got := assignedPrincipals(t, s, tok); !slices.Equal(got, []string{u1, robotID, u4}) {
		t.Errorf("after Unassign: %v", got)
	}

	s.AddMember(groupOps, u5)
	s.AddMember(groupOps, u5)
	s.AddMember("no-such-group", u5)
	if got := memberIDs(t, s, tok, groupOps); !slices.Equal(got, []string{u3, u5}) {
		t.Errorf("after AddMember: %v", got)
	}
	s.RemoveMember(groupOps, u3)
	if got := memberIDs(t, s, tok, groupOps); !slices.Equal(got, []string{u5}) {
		t.Errorf("after RemoveMember: %v", got)
	}

	// SetUser replaces (rename, disable, change e-mail) and adds.
	s.SetUser(graphtest.User{ID: u1, UserPrincipalName: "user1@contoso.example", DisplayName: "Renamed", Mail: "new@contoso.example"})
	r := get(t, s, tok, "/v1.0/users/"+u1+"?$select=displayName,mail,accountEnabled")
	if r.body["displayName"] != "Renamed" || r.body["mail"] != "new@contoso.example" || r.body["accountEnabled"] != false {
		t.Errorf("after SetUser: %s", r.raw)
	}
	s.SetUser(graphtest.User{ID: "u-new", UserPrincipalName: "new@contoso.example", AccountEnabled: true})
	if r := get(t, s, tok, "/v1.0/users/u-new"); r.status != 200 {
		t.Errorf("added user: %d", r.status)
	}
	if r := get(t, s, tok, "/v1.0/users"); len(values(t, r)) != 8 {
		t.Errorf("users after SetUser: %s", r.raw)
	}
	// The principal display name of assignments follows renames.
	for _, it := range values(t, get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID+"/appRoleAssignedTo")) {
		if it["principalId"] == u1 && it["principalDisplayName"] != "Renamed" {
			t.Errorf("principalDisplayName = %v", it["principalDisplayName"])
		}
	}

	// DeleteUser removes the user, its assignments and memberships.
	s.DeleteUser(u1)
	if r := get(t, s, tok, "/v1.0/users/"+u1); r.status != 404 {
		t.Errorf("deleted user: %d", r.status)
	}
	if got := assignedPrincipals(t, s, tok); slices.Contains(got, u1) {
		t.Errorf("deleted user still assigned: %v", got)
	}
	if got := memberIDs(t, s, tok, groupEng); slices.Contains(got, u1) {
		t.Errorf("deleted user still a member: %v", got)
	}
	tn := s.Tenant()
	if slices.ContainsFunc(tn.Assignments, func(a graphtest.Assignment) bool { return a.PrincipalID == u1 }) {
		t.Error("Tenant() still has the assignment of the deleted user")
	}

	// SetGroup, DeleteGroup.
	s.SetGroup(graphtest.Group{ID: "g-new", DisplayName: "New", SecurityEnabled: true, Members: []string{u2}})
	s.Assign("g-new")
	s.AddMember(groupEng, "g-new")
	if got := memberIDs(t, s, tok, "g-new"); !slices.Equal(got, []string{u2}) {
		t.Errorf("new group members: %v", got)
	}
	s.SetGroup(graphtest.Group{ID: "g-new", DisplayName: "Renamed group", Members: []string{u3}})
	if r := get(t, s, tok, "/v1.0/groups/g-new"); r.body["displayName"] != "Renamed group" || r.body["securityEnabled"] != false {
		t.Errorf("replaced group: %s", r.raw)
	}
	s.DeleteGroup("g-new")
	if r := get(t, s, tok, "/v1.0/groups/g-new"); r.status != 404 {
		t.Errorf("deleted group: %d", r.status)
	}
	if slices.Contains(assignedPrincipals(t, s, tok), "g-new") || slices.Contains(memberIDs(t, s, tok, groupEng), "g-new") {
		t.Error("deleted group still referenced")
	}

	// Update: any change, assignments get ids.
	s.Update(func(tn *graphtest.Tenant) {
		tn.Users[0].AccountEnabled = false
		tn.Application.DisplayName = "Renamed App"
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: u6})
		// A dangling assignment is not listed.
		tn.Assignments = append(tn.Assignments, graphtest.Assignment{PrincipalID: "ghost"})
	})
	items := values(t, get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID+"/appRoleAssignedTo"))
	last := items[len(items)-1]
	if last["principalId"] != u6 || last["resourceDisplayName"] != "Renamed App" || len(last["id"].(string)) != 43 {
		t.Errorf("after Update: %v", last)
	}
	tn = s.Tenant()
	if a := tn.Assignments[len(tn.Assignments)-2]; a.ID == "" || a.AppRoleID != graphtest.DefaultAppRoleID {
		t.Errorf("Update did not normalize the assignment: %+v", a)
	}
	// Tenant() is a copy.
	tn.Users[0].DisplayName = "copy"
	if s.Tenant().Users[0].DisplayName == "copy" {
		t.Error("Tenant() returned the live tenant")
	}
}

func TestRequestCounts(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	get(t, s, tok, "/v1.0/users/"+u1)
	get(t, s, tok, "/v1.0/users/"+u2)
	get(t, s, tok, "/v1.0/users?$top=5")
	get(t, s, tok, "/v1.0/groups/"+groupEng)
	get(t, s, tok, "/v1.0/groups/"+groupEng+"/members")
	get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID+"/appRoleAssignedTo")
	want := map[string]int{
		"POST /token":                   1,
		"GET /v1.0/users/{id}":          2,
		"GET /v1.0/users":               1,
		"GET /v1.0/groups/{id}":         1,
		"GET /v1.0/groups/{id}/members": 1,
		"GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo": 1,
	}
	got := s.Requests()
	if len(got) != len(want) {
		t.Errorf("Requests() = %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("Requests()[%q] = %d, want %d", k, got[k], n)
		}
	}
	if s.GraphRequests() != 6 {
		t.Errorf("GraphRequests = %d, want 6", s.GraphRequests())
	}
	got["POST /token"] = 100 // a copy
	if s.Requests()["POST /token"] != 1 {
		t.Error("Requests() returned the live map")
	}
	s.ResetCounts()
	if len(s.Requests()) != 0 || s.GraphRequests() != 0 {
		t.Errorf("after ResetCounts: %v %d", s.Requests(), s.GraphRequests())
	}
}

func TestConcurrentRequestsAndUpdates(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	const workers, rounds = 8, 24
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				var path string
				switch i % 4 {
				case 0:
					path = "/v1.0/users?$top=2"
				case 1:
					path = "/v1.0/groups/" + groupEng + "/members"
				case 2:
					path = "/v1.0/servicePrincipals/" + appObjID + "/appRoleAssignedTo"
				default:
					path = "/v1.0/users/" + u2
				}
				if r := get(t, s, tok, path); r.status != 200 {
					errs <- fmt.Errorf("worker %d: %s: %d %s", w, path, r.status, r.raw)
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			id := fmt.Sprintf("extra-%d", i)
			s.SetUser(graphtest.User{ID: id, UserPrincipalName: id + "@contoso.example"})
			s.Assign(id)
			s.AddMember(groupEng, id)
			if i%2 == 0 {
				s.DeleteUser(id)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Requests()["GET /v1.0/users/{id}"]; got != workers*rounds/4 {
		t.Errorf("GET /v1.0/users/{id} counted %d times, want %d", got, workers*rounds/4)
	}
	tn := s.Tenant()
	if len(tn.Users) != 7+rounds/2 {
		t.Errorf("%d users after concurrent updates", len(tn.Users))
	}
}
