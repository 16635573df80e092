package graphtest_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

func TestUnauthorized(t *testing.T) {
	s := newServer(t)
	for _, c := range []struct{ tok, msg string }{
		{"", "Access token is empty."},
		{"not-a-token-of-this-server", "Access token validation failure. Invalid audience."},
	} {
		r := get(t, s, c.tok, "/v1.0/users")
		code, msg := graphError(t, r)
		if r.status != 401 || code != "InvalidAuthenticationToken" || msg != c.msg {
			t.Errorf("token %q: %d %s %q", c.tok, r.status, code, msg)
		}
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
	}
	// A token issued by another server is not accepted either.
	other := newServer(t)
	r := get(t, s, token(t, other), "/v1.0/users/"+u1)
	if r.status != 401 {
		t.Errorf("foreign token: %d", r.status)
	}
	// client-request-id is echoed in the error.
	r = do(t, s, "", http.MethodGet, "/v1.0/users", nil, "client-request-id", "my-correlation")
	inner := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["client-request-id"] != "my-correlation" || r.header.Get("client-request-id") != "my-correlation" {
		t.Errorf("client-request-id not echoed: %s", r.raw)
	}
	if got := s.GraphRequests(); got != 4 {
		t.Errorf("GraphRequests = %d, want 4 (unauthorized requests count)", got)
	}
}

func TestUsersPaging(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	next := "/v1.0/users?$top=3&$select=id,displayName"
	var got []string
	pages := 0
	for next != "" {
		r := get(t, s, tok, next)
		items := values(t, r)
		pages++
		if pages < 3 && len(items) != 3 {
			t.Fatalf("page %d has %d items", pages, len(items))
		}
		for _, it := range items {
			if len(it) != 2 || it["displayName"] == nil {
				t.Errorf("page %d: item %v, want exactly id and displayName", pages, it)
			}
		}
		got = append(got, ids(items)...)
		if ctx, _ := r.body["@odata.context"].(string); ctx != s.URL()+"/v1.0/$metadata#users(id,displayName)" {
			t.Errorf("@odata.context = %q", ctx)
		}
		link, _ := r.body["@odata.nextLink"].(string)
		if link != "" {
			if !strings.HasPrefix(link, s.URL()+"/v1.0/users?") || !strings.Contains(link, "$top=3") ||
				!strings.Contains(link, "$select=id%2CdisplayName") || !strings.Contains(link, "$skiptoken=") {
				t.Fatalf("nextLink = %q", link)
			}
		}
		next = link
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	want := []string{u1, u2, u3, u4, u5, u6, u7}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("got %d pages with %v, want 3 pages with %v", pages, got, want)
	}

	// Default page size: everything in one page, no nextLink.
	r := get(t, s, tok, "/v1.0/users")
	if items := values(t, r); len(items) != 7 || r.body["@odata.nextLink"] != nil {
		t.Errorf("default page: %d items, nextLink %v", len(items), r.body["@odata.nextLink"])
	}
	// Exactly fitting pages do not end with an empty page.
	r = get(t, s, tok, "/v1.0/users?$top=7")
	if r.body["@odata.nextLink"] != nil {
		t.Errorf("nextLink on a complete page: %v", r.body["@odata.nextLink"])
	}
	// A skip token belongs to its listing.
	link := get(t, s, tok, "/v1.0/users?$top=2").body["@odata.nextLink"].(string)
	_, query, _ := strings.Cut(link, "?")
	r = get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?"+query)
	if code, _ := graphError(t, r); r.status != 400 || code != "Directory_ExpiredPageToken" {
		t.Errorf("foreign skip token: %d %s", r.status, r.raw)
	}
	r = get(t, s, tok, "/v1.0/users?$skiptoken=garbage")
	if r.status != 400 {
		t.Errorf("garbage skip token: %d", r.status)
	}
}

func TestTopValidation(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	for _, c := range []struct {
		top, code, msg string
	}{
		{"1000", "Request_UnsupportedQuery", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."},
		{"0", "Request_UnsupportedQuery", "Invalid page size specified: '0'. Must be between 1 and 999 inclusive."},
		{"abc", "BadRequest", "Invalid value 'abc' for query option '$top'."},
	} {
		for _, path := range []string{"/v1.0/users", "/v1.0/groups/" + groupEng + "/members", "/v1.0/servicePrincipals/" + appObjID + "/appRoleAssignedTo"} {
			r := get(t, s, tok, path+"?$top="+c.top)
			code, msg := graphError(t, r)
			if r.status != 400 || code != c.code || msg != c.msg {
				t.Errorf("%s $top=%s: %d %s %q", path, c.top, r.status, code, msg)
			}
		}
	}
	if r := get(t, s, tok, "/v1.0/users?$top=999"); r.status != 200 {
		t.Errorf("$top=999: %d", r.status)
	}
	// The SDK percent-encodes the dollar sign.
	if r := get(t, s, tok, "/v1.0/users?%24top=1"); len(values(t, r)) != 1 {
		t.Errorf("%%24top=1: %s", r.raw)
	}
	r := get(t, s, tok, "/v1.0/users?$filter=accountEnabled%20eq%20true")
	if code, _ := graphError(t, r); r.status != 400 || code != "Request_UnsupportedQuery" {
		t.Errorf("$filter: %d %s", r.status, r.raw)
	}
}

func TestUserSelectAndDefaults(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)

	r := get(t, s, tok, "/v1.0/users/"+u7)
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	for _, k := range []string{"@odata.context", "businessPhones", "displayName", "givenName", "jobTitle", "mail",
		"mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("default user lacks %s: %s", k, r.raw)
		}
	}
	if _, ok := r.body["accountEnabled"]; ok || len(r.body) != 12 {
		t.Errorf("default user has %v", keys(r.body))
	}
	if r.body["@odata.context"] != s.URL()+"/v1.0/$metadata#users/$entity" || r.body["jobTitle"] != nil {
		t.Errorf("default user: %s", r.raw)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("request-id") == "" {
		t.Errorf("headers: %v", r.header)
	}

	r = get(t, s, tok, "/v1.0/users/"+u7+"?$select=id,accountEnabled,mail,department")
	if len(r.body) != 5 || r.body["accountEnabled"] != false || r.body["mail"] != "user7@contoso.example" ||
		r.body["id"] != u7 || r.body["department"] != nil {
		t.Errorf("selected user: %s", r.raw)
	}
	if _, ok := r.body["department"]; !ok {
		t.Errorf("department (unset) should be null, not absent: %s", r.raw)
	}
	if r.body["@odata.context"] != s.URL()+"/v1.0/$metadata#users(id,accountEnabled,mail,department)/$entity" {
		t.Errorf("@odata.context = %v", r.body["@odata.context"])
	}
	// By user principal name, case-insensitive property names.
	r = get(t, s, tok, "/v1.0/users/USER3@contoso.example?$select=ID,userprincipalname")
	if r.body["id"] != u3 || r.body["userPrincipalName"] != "user3@contoso.example" {
		t.Errorf("by UPN: %s", r.raw)
	}
	r = get(t, s, tok, "/v1.0/users/"+u1+"?$select=id,favouriteColour")
	if code, msg := graphError(t, r); r.status != 400 || code != "BadRequest" ||
		msg != "Could not find a property named 'favouriteColour' on type 'microsoft.graph.user'." {
		t.Errorf("unknown property: %d %s %q", r.status, code, msg)
	}
}

func TestGroupsAndMembers(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)

	r := get(t, s, tok, "/v1.0/groups/"+groupEng)
	if r.status != 200 || r.body["displayName"] != "Engineering" || r.body["securityEnabled"] != true ||
		r.body["mailEnabled"] != false || r.body["@odata.context"] != s.URL()+"/v1.0/$metadata#groups/$entity" {
		t.Errorf("group: %d %s", r.status, r.raw)
	}
	if gt, ok := r.body["groupTypes"].([]any); !ok || len(gt) != 0 {
		t.Errorf("groupTypes = %v, want []", r.body["groupTypes"])
	}
	if _, ok := r.body["members"]; ok {
		t.Error("group exposes members as a property")
	}

	r = get(t, s, tok, "/v1.0/groups/"+groupEng+"/members")
	items := values(t, r)
	wantTypes := map[string]string{
		u1:       "#microsoft.graph.user",
		u2:       "#microsoft.graph.user",
		groupOps: "#microsoft.graph.group",
		robotID:  "#microsoft.graph.servicePrincipal",
	}
	if !slices.Equal(ids(items), []string{u1, u2, groupOps, robotID}) {
		t.Fatalf("members = %v", ids(items))
	}
	for _, it := range items {
		if it["@odata.type"] != wantTypes[it["id"].(string)] {
			t.Errorf("member %v: @odata.type %v", it["id"], it["@odata.type"])
		}
	}
	if items[0]["userPrincipalName"] != "user1@contoso.example" || items[2]["securityEnabled"] != true || items[3]["appId"] != robotApp {
		t.Errorf("members lack their default properties: %s", r.raw)
	}
	if r.body["@odata.context"] != s.URL()+"/v1.0/$metadata#directoryObjects" {
		t.Errorf("@odata.context = %v", r.body["@odata.context"])
	}

	r = get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$select=id,userPrincipalName")
	for _, it := range values(t, r) {
		want := 2
		if it["@odata.type"] == "#microsoft.graph.user" {
			want = 3
		}
		if len(it) != want || it["@odata.type"] == nil {
			t.Errorf("selected member %v", it)
		}
	}
	// Direct members only: u3 is in groupOps, not in groupEng.
	r = get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$top=2")
	if items := values(t, r); len(items) != 2 || r.body["@odata.nextLink"] == nil {
		t.Errorf("members page: %s", r.raw)
	}
	r = get(t, s, tok, r.body["@odata.nextLink"].(string))
	if got := ids(values(t, r)); !slices.Equal(got, []string{groupOps, robotID}) {
		t.Errorf("members page 2 = %v", got)
	}
}

// TestMembershipOfTheWrongKind: members are listed of groups only, memberOf
// of users only; any other object is not found, as in Graph.
func TestMembershipOfTheWrongKind(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	for _, path := range []string{"/v1.0/users/" + u1 + "/memberOf", "/v1.0/groups/" + groupEng + "/members"} {
		if r := get(t, s, tok, path); r.status != 200 {
			t.Errorf("%s: %d %s", path, r.status, r.raw)
		}
	}
	for _, path := range []string{"/v1.0/users/" + groupEng + "/memberOf", "/v1.0/groups/" + u1 + "/members",
		"/v1.0/groups/" + robotID + "/members", "/v1.0/users/" + robotID + "/memberOf"} {
		if r := get(t, s, tok, path); r.status != 404 {
			t.Errorf("%s: %d, want 404", path, r.status)
		} else if code, _ := graphError(t, r); code != "Request_ResourceNotFound" {
			t.Errorf("%s: code %q", path, code)
		}
	}
	// memberOf lists groups only, and $select may name group properties only.
	r := get(t, s, tok, "/v1.0/users/"+u3+"/memberOf?$select=id,securityEnabled")
	for _, it := range values(t, r) {
		if it["@odata.type"] != "#microsoft.graph.group" || it["securityEnabled"] == nil {
			t.Errorf("memberOf item %v", it)
		}
	}
	if r := get(t, s, tok, "/v1.0/users/"+u3+"/memberOf?$select=userPrincipalName"); r.status != 400 {
		t.Errorf("memberOf $select=userPrincipalName: %d, want 400", r.status)
	}
}

func TestServicePrincipals(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)

	for _, path := range []string{
		"/v1.0/servicePrincipals/" + appObjID,
		"/v1.0/servicePrincipals(appId='" + appAppID + "')",
		"/v1.0/servicePrincipals(appId=%27" + appAppID + "%27)",
		"/v1.0/servicePrincipals%28appId=%27" + appAppID + "%27%29",
	} {
		r := get(t, s, tok, path)
		if r.status != 200 || r.body["id"] != appObjID || r.body["appId"] != appAppID || r.body["displayName"] != "Demo App" {
			t.Errorf("%s: %d %s", path, r.status, r.raw)
		}
	}
	r := get(t, s, tok, "/v1.0/servicePrincipals(appId='"+robotApp+"')?$select=id")
	if r.body["id"] != robotID || len(r.body) != 2 {
		t.Errorf("robot by appId: %s", r.raw)
	}
	r = get(t, s, tok, "/v1.0/servicePrincipals(appId='00000000-1111-2222-3333-444444444444')")
	if code, _ := graphError(t, r); r.status != 404 || code != "Request_ResourceNotFound" {
		t.Errorf("unknown appId: %d %s", r.status, r.raw)
	}
	counts := s.Requests()
	if counts["GET /v1.0/servicePrincipals(appId='{appId}')"] != 5 || counts["GET /v1.0/servicePrincipals/{id}"] != 1 {
		t.Errorf("counts = %v", counts)
	}
}

func TestAppRoleAssignedTo(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	r := get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID+"/appRoleAssignedTo")
	items := values(t, r)
	if len(items) != 3 {
		t.Fatalf("%d assignments: %s", len(items), r.raw)
	}
	if r.body["@odata.context"] != s.URL()+"/v1.0/$metadata#servicePrincipals('"+appObjID+"')/appRoleAssignedTo" {
		t.Errorf("@odata.context = %v", r.body["@odata.context"])
	}
	want := []struct{ principal, typ, name, role string }{
		{u1, "User", "User 1", "00000000-0000-0000-0000-000000000000"},
		{groupEng, "Group", "Engineering", "00000000-0000-0000-0000-000000000000"},
		{robotID, "ServicePrincipal", "Robot", "c4f1a2b3-d4e5-4f60-8a7b-9c0d1e2f3a4b"},
	}
	for i, w := range want {
		it := items[i]
		if it["principalId"] != w.principal || it["principalType"] != w.typ || it["principalDisplayName"] != w.name ||
			it["appRoleId"] != w.role || it["resourceId"] != appObjID || it["resourceDisplayName"] != "Demo App" {
			t.Errorf("assignment %d = %v", i, it)
		}
		if v, ok := it["deletedDateTime"]; !ok || v != nil {
			t.Errorf("assignment %d: deletedDateTime = %v, %v", i, v, ok)
		}
		if c, _ := it["createdDateTime"].(string); !strings.HasSuffix(c, "Z") {
			t.Errorf("assignment %d: createdDateTime %q", i, it["createdDateTime"])
		}
		id, _ := it["id"].(string)
		if i != 1 && len(id) != 43 {
			t.Errorf("generated assignment id %q is not 43 characters", id)
		}
	}
	if items[1]["id"] != "fixed-assignment-id" {
		t.Errorf("fixed id not kept: %v", items[1]["id"])
	}
	// Ids are stable between requests.
	again := values(t, get(t, s, tok, "/v1.0/servicePrincipals/"+appObjID+"/appRoleAssignedTo"))
	if !slices.Equal(ids(items), ids(again)) {
		t.Errorf("assignment ids changed: %v then %v", ids(items), ids(again))
	}
	// By appId, with $select, and on a service principal without assignments.
	r = get(t, s, tok, "/v1.0/servicePrincipals(appId='"+appAppID+"')/appRoleAssignedTo?$select=principalId,principalType")
	for _, it := range values(t, r) {
		if len(it) != 2 {
			t.Errorf("selected assignment = %v", it)
		}
	}
	if items := values(t, get(t, s, tok, "/v1.0/servicePrincipals/"+robotID+"/appRoleAssignedTo")); len(items) != 0 {
		t.Errorf("robot has %d assignments", len(items))
	}
}

func TestNotFoundAndBadPaths(t *testing.T) {
	s := newServer(t)
	tok := token(t, s)
	for _, path := range []string{
		"/v1.0/users/nobody",
		"/v1.0/groups/nogroup",
		"/v1.0/groups/" + u1, // a user is not a group
		"/v1.0/groups/nogroup/members",
		"/v1.0/servicePrincipals/nosp",
		"/v1.0/servicePrincipals/nosp/appRoleAssignedTo",
	} {
		r := get(t, s, tok, path)
		code, msg := graphError(t, r)
		if r.status != 404 || code != "Request_ResourceNotFound" || !strings.Contains(msg, "does not exist") {
			t.Errorf("%s: %d %s %q", path, r.status, code, msg)
		}
	}
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1.0/widgets", 400, "BadRequest"},
		{"GET", "/v1.0/users/" + u1 + "/widgets", 400, "BadRequest"},
		{"GET", "/v1.0/servicePrincipals(id='x')", 400, "BadRequest"},
		{"DELETE", "/v1.0/users/" + u1, 405, "Request_BadRequest"},
		{"GET", "/v1.0/$batch", 405, "Request_BadRequest"},
		{"GET", "/v1.0/groups", 501, "NotImplemented"},
	} {
		r := do(t, s, tok, c.method, c.path, nil)
		if code, _ := graphError(t, r); r.status != c.status || code != c.code {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.status, r.raw)
		}
	}
	if got := s.Requests()["GET /v1.0/widgets"]; got != 1 {
		t.Errorf("unknown path counted %d times", got)
	}
	if r := get(t, s, "", "/nowhere"); r.status != 404 {
		t.Errorf("/nowhere: %d", r.status)
	}
}

func TestUsersCountNeedsEventualConsistency(t *testing.T) {
	s := graphtest.NewServer(&graphtest.Tenant{TenantID: tenantID, ClientID: clientID, ClientSecret: secret,
		Users: []graphtest.User{{ID: "00000000-0000-4000-8000-000000000001", UserPrincipalName: "a@x.test"},
			{ID: "00000000-0000-4000-8000-000000000002", UserPrincipalName: "b@x.test"}}})
	defer s.Close()
	tok := token(t, s)
	for _, h := range []map[string]string{nil, {"ConsistencyLevel": "eventual"}} {
		req, _ := http.NewRequest("GET", s.URL()+"/v1.0/users/$count", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if h == nil && resp.StatusCode != 400 {
			t.Fatalf("$count without ConsistencyLevel = %d", resp.StatusCode)
		}
		if h != nil && (resp.StatusCode != 200 || string(body) != "2") {
			t.Fatalf("$count = %d %q, want 200 \"2\"", resp.StatusCode, body)
		}
	}
}
