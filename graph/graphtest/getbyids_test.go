package graphtest_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// postIDs posts a getByIds body to the server, with query (may be "").
func postIDs(t testing.TB, s *graphtest.Server, tok, query, body string) response {
	t.Helper()
	return do(t, s, tok, http.MethodPost, "/v1.0/directoryObjects/getByIds"+query, strings.NewReader(body), "Content-Type", "application/json")
}

func directoryReader(t testing.TB, opts ...graphtest.Option) (*graphtest.Server, string) {
	t.Helper()
	tn := testTenant()
	tn.Permissions = []string{"Directory.Read.All"}
	s := graphtest.NewServer(tn, opts...)
	t.Cleanup(s.Close)
	return s, token(t, s)
}

func TestGetByIDsShape(t *testing.T) {
	s, tok := directoryReader(t)
	unknown := "00000000-0000-4000-8000-0000000fffff"
	// Default properties: users' default subset has no accountEnabled.
	r := postIDs(t, s, tok, "", fmt.Sprintf(`{"ids":[%q,%q,%q,%q],"types":["User"]}`, u2, unknown, groupEng, u1))
	vs := values(t, r)
	if got := ids(vs); !slices.Equal(got, []string{u2, u1}) {
		t.Fatalf("users of [u2 unknown group u1] = %v, want [u2 u1] (unknown ids and other types left out)", got)
	}
	if vs[0]["@odata.type"] != "#microsoft.graph.user" || vs[0]["userPrincipalName"] != "user2@contoso.example" {
		t.Errorf("user item = %v", vs[0])
	}
	if _, ok := vs[0]["accountEnabled"]; ok {
		t.Errorf("accountEnabled is not among the default properties: %v", vs[0])
	}
	if ctx, _ := r.body["@odata.context"].(string); !strings.HasSuffix(ctx, "$metadata#directoryObjects") {
		t.Errorf("@odata.context = %q", ctx)
	}

	// $select is honoured; no types: every directory object.
	r = postIDs(t, s, tok, "?$select=id,displayName,accountEnabled", fmt.Sprintf(`{"ids":[%q,%q,%q]}`, u7, groupEng, robotID))
	vs = values(t, r)
	if got := ids(vs); !slices.Equal(got, []string{u7, groupEng, robotID}) {
		t.Fatalf("all types = %v", got)
	}
	if vs[0]["accountEnabled"] != false || len(vs[0]) != 4 || vs[1]["@odata.type"] != "#microsoft.graph.group" ||
		vs[2]["@odata.type"] != "#microsoft.graph.servicePrincipal" {
		t.Errorf("selected items = %v", vs)
	}
	if n := s.Requests()["POST /v1.0/directoryObjects/getByIds"]; n != 2 {
		t.Errorf("counted %d getByIds requests, want 2", n)
	}
}

func TestGetByIDsLimitsAndBadBodies(t *testing.T) {
	s, tok := directoryReader(t)
	var many []string
	for i := range 1001 {
		many = append(many, fmt.Sprintf("%q", userID(i)))
	}
	if r := postIDs(t, s, tok, "", `{"ids":[`+strings.Join(many[:1000], ",")+`]}`); r.status != 200 {
		t.Errorf("1000 ids: %d %s", r.status, r.raw)
	}
	for name, body := range map[string]string{
		"1001 ids":     `{"ids":[` + strings.Join(many, ",") + `]}`,
		"no ids":       `{"types":["user"]}`,
		"empty ids":    `{"ids":[]}`,
		"not a GUID":   `{"ids":["nope"]}`,
		"unknown type": fmt.Sprintf(`{"ids":[%q],"types":["planet"]}`, u1),
		"not JSON":     `ids=1`,
	} {
		r := postIDs(t, s, tok, "", body)
		if code, _ := graphError(t, r); r.status != 400 || code != "Request_BadRequest" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := get(t, s, tok, "/v1.0/directoryObjects/getByIds"); r.status != 405 {
		t.Errorf("GET getByIds: %d", r.status)
	}
}

func TestGetByIDsNeedsDirectoryReadAll(t *testing.T) {
	s := newServer(t) // Permissions nil: the least-privileged three
	tok := token(t, s)
	body := fmt.Sprintf(`{"ids":[%q]}`, u1)
	r := postIDs(t, s, tok, "", body)
	if code, _ := graphError(t, r); r.status != 403 || code != "Authorization_RequestDenied" {
		t.Fatalf("getByIds without Directory.Read.All: %d %s", r.status, r.raw)
	}
	if r := get(t, s, tok, "/v1.0/users/"+u1); r.status != 200 {
		t.Fatalf("the least-privileged three still read users: %d", r.status)
	}
	s.Update(func(tn *graphtest.Tenant) { tn.Permissions = []string{"Directory.Read.All"} })
	if r := postIDs(t, s, tok, "", body); r.status != 200 {
		t.Fatalf("getByIds with Directory.Read.All: %d %s", r.status, r.raw)
	}
	if r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members"); r.status != 200 {
		t.Fatalf("Directory.Read.All covers the member reads: %d", r.status)
	}
}

func TestGroupsDeltaNeedingGroupRead(t *testing.T) {
	tn := testTenant()
	tn.Permissions = []string{"Application.Read.All", "GroupMember.Read.All", "User.Read.All"}
	s := graphtest.NewServer(tn, graphtest.WithGroupsDeltaNeedingGroupRead())
	defer s.Close()
	tok := token(t, s)
	if r := get(t, s, tok, "/v1.0/groups/delta?$select=id&$deltatoken=latest"); r.status != 403 {
		t.Fatalf("groups/delta without Group.Read.All: %d %s", r.status, r.raw)
	}
	if r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members"); r.status != 200 {
		t.Fatalf("the other group reads still work: %d", r.status)
	}
	s.Update(func(tn *graphtest.Tenant) { tn.Permissions = append(tn.Permissions, "Group.Read.All") })
	if r := get(t, s, tok, "/v1.0/groups/delta?$select=id&$deltatoken=latest"); r.status != 200 {
		t.Fatalf("groups/delta with Group.Read.All: %d %s", r.status, r.raw)
	}
}
