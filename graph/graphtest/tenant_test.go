package graphtest_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

func TestLoadTenantFile(t *testing.T) {
	tn, err := graphtest.LoadTenantFile("testdata/tenant.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(tn.Users) != 6 || len(tn.Groups) != 3 || len(tn.ServicePrincipals) != 1 || len(tn.Assignments) != 3 {
		t.Fatalf("loaded %d users, %d groups, %d SPs, %d assignments", len(tn.Users), len(tn.Groups), len(tn.ServicePrincipals), len(tn.Assignments))
	}
	for i, a := range tn.Assignments {
		if len(a.ID) != 43 || a.AppRoleID == "" {
			t.Errorf("assignment %d not normalized: %+v", i, a)
		}
	}
	if tn.Assignments[0].ID != "Hix2C3o9TYucXx0uP0pbYeJpxkuMvdWZt6bCKuuNpX4" || tn.Assignments[2].AppRoleID != "c4f1a2b3-d4e5-4f60-8a7b-9c0d1e2f3a4b" {
		t.Errorf("fixture values lost: %+v", tn.Assignments)
	}
	if tn.Users[3].AccountEnabled || !tn.Users[0].AccountEnabled {
		t.Error("accountEnabled not loaded")
	}

	// The fixture is served.
	s := graphtest.NewServer(tn)
	defer s.Close()
	form := tokenForm()
	form.Set("client_id", tn.ClientID)
	form.Set("client_secret", tn.ClientSecret)
	form.Set("scope", s.URL()+"/.default")
	status, body := postToken(t, s, tn.TenantID, form)
	if status != 200 {
		t.Fatalf("token: %d %v", status, body)
	}
	tok := body["access_token"].(string)
	r := get(t, s, tok, "/v1.0/servicePrincipals(appId='"+tn.Application.AppID+"')/appRoleAssignedTo")
	types := []string{}
	for _, it := range values(t, r) {
		types = append(types, it["principalType"].(string))
	}
	if !slices.Equal(types, []string{"User", "Group", "ServicePrincipal"}) {
		t.Errorf("principal types = %v", types)
	}

	if _, err := graphtest.LoadTenantFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestLoadTenantErrors(t *testing.T) {
	valid, err := os.ReadFile("testdata/tenant.json")
	if err != nil {
		t.Fatal(err)
	}
	const (
		ada      = "0b6f2c1e-7a3d-4e8b-9c5f-1d2e3f4a5b61"
		alan     = "1c7a3d2f-8b4e-4f9c-ad60-2e3f4a5b6c72"
		eng      = "6bcf8c7e-d093-4e41-b2b5-7d8e9fa0b1c7"
		robot    = "9e0a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
		robotApp = "e4c8b0f2-5a3d-4d7c-9f1b-2b6a8e0d4c31"
	)
	cases := []struct {
		name, old, new, want string
	}{
		{"unknown field", `"accountEnabled": false}`, `"accountEnabled": false, "department": "x"}`, `unknown field "department"`},
		{"trailing data", "", "", "unexpected data after the tenant object"},
		{"syntax", `"users": [`, `"users": [[`, "graphtest: decode tenant"},
		{"duplicate user id", alan, ada, `users[1] (id "` + ada + `"): duplicate id, already used by users[0]`},
		{"id shared across kinds", `{"id": "` + robot + `"`, `{"id": "` + eng + `"`, `servicePrincipals[0] (id "` + eng + `"): duplicate id, already used by groups[0]`},
		{"missing upn", `"userPrincipalName": "alan@contoso.example"`, `"userPrincipalName": ""`, `users[1] (id "` + alan + `"): userPrincipalName is required`},
		{"duplicate upn", `"userPrincipalName": "alan@contoso.example"`, `"userPrincipalName": "ADA@contoso.example"`, `duplicate userPrincipalName "ADA@contoso.example"`},
		{"dangling member", `"members": ["0b6f2c1e`, `"members": ["ghost", "0b6f2c1e`, `groups[2] (id "8de1ae90-f2b5-4063-94d7-9fa0b1c2d3e9"): member "ghost" does not exist`},
		{"self member", `"members": ["0b6f2c1e`, `"members": ["8de1ae90-f2b5-4063-94d7-9fa0b1c2d3e9", "0b6f2c1e`, "cannot be a member of itself"},
		{"dangling principal", `{"principalId": "` + eng + `"}`, `{"principalId": "ghost"}`, `assignments[1]: principal "ghost" does not exist`},
		{"duplicate assignment", `{"principalId": "` + eng + `"}`, `{"principalId": "` + ada + `"}`, `principal "` + ada + `" already has app role`},
		{"bad app role", `"appRoleId": "c4f1a2b3-d4e5-4f60-8a7b-9c0d1e2f3a4b"`, `"appRoleId": "admin"`, `appRoleId "admin" is not a GUID`},
		{"duplicate appId", `"appId": "` + robotApp + `"`, `"appId": "d3b7a9e1-4f2c-4c6b-8e0a-1a5f7d9c3b20"`, `duplicate appId`},
		{"no tenant id", `"tenantId": "8a1c7e52-3f0b-4d6a-9c2e-5b7d1f0a4e63"`, `"tenantId": ""`, "tenantId is required"},
		{"no secret", `"clientSecret": "graphtest~secret.value-0123456789"`, `"clientSecret": ""`, "clientSecret is required"},
		{"no application appId", `"appId": "d3b7a9e1-4f2c-4c6b-8e0a-1a5f7d9c3b20"`, `"appId": ""`, "application (id \"5c0e8a3d-1b7f-4e29-a6d4-9f2b0c7e1a58\"): appId is required"},
		{"id not a GUID", `{"id": "` + robot + `"`, `{"id": "robot"`, `servicePrincipals[0] (id "robot"): id is not a GUID`},
		{"assignment id with slash", `"id": "Hix2C3o9TYucXx0uP0pbYeJpxkuMvdWZt6bCKuuNpX4"`, `"id": "a/b"`, `assignments[0] (id "a/b"): id must not contain`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := string(valid)
			switch {
			case c.name == "trailing data":
				doc += `{}`
			case !strings.Contains(doc, c.old):
				t.Fatalf("fixture does not contain %q", c.old)
			default:
				doc = strings.Replace(doc, c.old, c.new, 1)
			}
			_, err := graphtest.LoadTenant(strings.NewReader(doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := graphtest.LoadTenant(strings.NewReader(string(valid))); err != nil {
		t.Errorf("valid fixture: %v", err)
	}
}

func TestCloneIsDeep(t *testing.T) {
	orig := testTenant()
	c := orig.Clone()
	c.Users[0].DisplayName = "changed"
	c.Groups[0].Members[0] = "changed"
	c.Groups[0].GroupTypes = append(c.Groups[0].GroupTypes, "Unified")
	c.Assignments[0].PrincipalID = "changed"
	if orig.Users[0].DisplayName == "changed" || orig.Groups[0].Members[0] == "changed" ||
		len(orig.Groups[0].GroupTypes) != 0 || orig.Assignments[0].PrincipalID == "changed" {
		t.Error("Clone shares memory with the original")
	}
	if (*graphtest.Tenant)(nil).Clone() != nil {
		t.Error("nil Clone is not nil")
	}
}

func TestNewServerNilTenant(t *testing.T) {
	s := graphtest.NewServer(nil)
	defer s.Close()
	if r := get(t, s, "", "/v1.0/users"); r.status != 401 {
		t.Errorf("status %d", r.status)
	}
	if r := get(t, s, "", "/x/v2.0/.well-known/openid-configuration"); r.status != 400 {
		t.Errorf("discovery on an empty tenant: %d", r.status)
	}
}
