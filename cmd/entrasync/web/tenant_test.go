package web_test

import (
	"strings"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// Object ids of apiTenant's users and groups.
const (
	alice       = "a11ce000-0000-4000-8000-000000000001"
	bob         = "b0b00000-0000-4000-8000-000000000002"
	carol       = "ca401000-0000-4000-8000-000000000003"
	dave        = "da7e0000-0000-4000-8000-000000000004"
	erin        = "e4140000-0000-4000-8000-000000000005"
	heidi       = "4e1d1000-0000-4000-8000-000000000008"
	engineering = "e4900000-0000-4000-8000-0000000000e1"
	sales       = "5a1e5000-0000-4000-8000-0000000000e2"
	contractors = "c0470000-0000-4000-8000-0000000000e3"
)

// apiTenant is a small tenant whose first cycle provisions five users:
// alice and heidi (direct; heidi has no mail), bob (direct and through
// Engineering), carol (Engineering and Sales) and dave (Sales); erin is in
// Contractors, nested in Engineering, so she gets no path.
func apiTenant() *graphtest.Tenant {
	t := &graphtest.Tenant{
		TenantID: "0d3e1a2b-0000-4000-8000-00000000d3e0", ClientID: "c11e4700-0000-4000-8000-0000000000c1",
		ClientSecret: "api-test-secret",
		Application:  graphtest.ServicePrincipal{ID: "5e0a1c2b-0000-4000-8000-000000000001", AppID: "5e0a1c2b-0000-4000-8000-0000000000a1", DisplayName: "Vault"},
		Groups: []graphtest.Group{
			{ID: engineering, DisplayName: "Engineering", SecurityEnabled: true, Members: []string{bob, carol, contractors}},
			{ID: sales, DisplayName: "Sales", SecurityEnabled: true, Members: []string{carol, dave}},
			{ID: contractors, DisplayName: "Contractors", SecurityEnabled: true, Members: []string{erin}},
		},
	}
	for _, p := range []struct{ id, name string }{{alice, "alice"}, {bob, "bob"}, {carol, "carol"}, {dave, "dave"}, {erin, "erin"}, {heidi, "heidi"}} {
		id, name := p.id, p.name
		u := graphtest.User{ID: id, UserPrincipalName: name + "@contoso.test", Mail: name + "@contoso.test",
			DisplayName: strings.ToUpper(name[:1]) + name[1:], AccountEnabled: true}
		if id == heidi {
			u.Mail = ""
		}
		t.Users = append(t.Users, u)
	}
	for _, id := range []string{alice, bob, heidi, engineering, sales} {
		t.Assignments = append(t.Assignments, graphtest.Assignment{PrincipalID: id})
	}
	return t
}
