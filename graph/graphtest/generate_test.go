package graphtest_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/entrasync/entrasync/graph/graphtest"
)

var (
	lowerGUID    = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	assignmentID = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// tenantShape classifies the objects of a generated tenant.
type tenantShape struct {
	userIdx      map[string]int
	groupIdx     map[string]int
	spIdx        map[string]int
	assigned     map[string]bool
	secAssigned  []int // indices of assigned non-Unified groups
	m365Assigned []int
	nested       []int
	parents      map[string][]int // group or SP id -> indices of the groups holding it
}

func shapeOf(tn *graphtest.Tenant) tenantShape {
	sh := tenantShape{userIdx: map[string]int{}, groupIdx: map[string]int{}, spIdx: map[string]int{},
		assigned: map[string]bool{}, parents: map[string][]int{}}
	for i, u := range tn.Users {
		sh.userIdx[u.ID] = i
	}
	for i, g := range tn.Groups {
		sh.groupIdx[g.ID] = i
	}
	for i, sp := range tn.ServicePrincipals {
		sh.spIdx[sp.ID] = i
	}
	for _, a := range tn.Assignments {
		sh.assigned[a.PrincipalID] = true
	}
	for i, g := range tn.Groups {
		unified := slices.Contains(g.GroupTypes, "Unified")
		switch {
		case sh.assigned[g.ID] && unified:
			sh.m365Assigned = append(sh.m365Assigned, i)
		case sh.assigned[g.ID]:
			sh.secAssigned = append(sh.secAssigned, i)
		default:
			sh.nested = append(sh.nested, i)
		}
		for _, m := range g.Members {
			if _, ok := sh.userIdx[m]; !ok {
				sh.parents[m] = append(sh.parents[m], i)
			}
		}
	}
	return sh
}

func (sh tenantShape) userMembers(g graphtest.Group) int {
	n := 0
	for _, m := range g.Members {
		if _, ok := sh.userIdx[m]; ok {
			n++
		}
	}
	return n
}

func TestGenerate(t *testing.T) {
	spec := graphtest.GenSpec{Seed: 42, Users: 5000, DirectlyAssigned: 300, Groups: 40, MaxGroupSize: 2000,
		NestedGroups: 10, M365Groups: 8, DisabledPercent: 7, ServicePrincipals: 12}
	tn := graphtest.Generate(spec)
	if err := tn.Validate(); err != nil {
		t.Fatalf("generated tenant is invalid: %v", err)
	}
	sh := shapeOf(tn)

	// Counts.
	if len(tn.Users) != 5000 || len(tn.Groups) != 58 || len(tn.ServicePrincipals) != 12 {
		t.Errorf("%d users, %d groups, %d service principals", len(tn.Users), len(tn.Groups), len(tn.ServicePrincipals))
	}
	if len(sh.secAssigned) != 40 || len(sh.m365Assigned) != 8 || len(sh.nested) != 10 {
		t.Errorf("%d assigned security groups, %d assigned M365 groups, %d nested", len(sh.secAssigned), len(sh.m365Assigned), len(sh.nested))
	}
	byType := map[string]int{}
	for _, a := range tn.Assignments {
		if _, ok := sh.userIdx[a.PrincipalID]; ok {
			byType["User"]++
		} else if _, ok := sh.groupIdx[a.PrincipalID]; ok {
			byType["Group"]++
		} else if _, ok := sh.spIdx[a.PrincipalID]; ok {
			byType["ServicePrincipal"]++
		}
	}
	if want := map[string]int{"User": 300, "Group": 48, "ServicePrincipal": 12}; !reflect.DeepEqual(byType, want) {
		t.Errorf("assignments by type %v, want %v", byType, want)
	}
	disabled, noMail, guests, nonASCII, capital := 0, 0, 0, 0, 0
	for _, u := range tn.Users {
		if !u.AccountEnabled {
			disabled++
		}
		if u.Mail == "" {
			noMail++
		}
		if strings.Contains(u.UserPrincipalName, "#EXT#@") {
			guests++
		}
		if !isASCII(u.DisplayName) {
			nonASCII++
		}
		if u.UserPrincipalName != strings.ToLower(u.UserPrincipalName) {
			capital++
		}
		if !strings.HasSuffix(u.UserPrincipalName, "@contoso.example") || u.DisplayName == "" {
			t.Fatalf("user %+v", u)
		}
	}
	if disabled != 350 {
		t.Errorf("%d disabled users, want 7%% of 5000", disabled)
	}
	for what, n := range map[string]int{"without mail": noMail, "guests": guests, "with non-ASCII names": nonASCII, "with capitals in the UPN": capital} {
		if n == 0 || n > 2500 {
			t.Errorf("%d users %s", n, what)
		}
	}

	// Ids are GUIDs (the SDK parses principalId as a UUID).
	for _, id := range []string{tn.TenantID, tn.ClientID, tn.Application.ID, tn.Application.AppID} {
		if !lowerGUID.MatchString(id) {
			t.Errorf("tenant id %q is not a GUID", id)
		}
	}
	for _, u := range tn.Users {
		if !lowerGUID.MatchString(u.ID) {
			t.Fatalf("user id %q", u.ID)
		}
	}
	for _, g := range tn.Groups {
		if !lowerGUID.MatchString(g.ID) {
			t.Fatalf("group id %q", g.ID)
		}
	}
	for _, a := range tn.Assignments {
		if !lowerGUID.MatchString(a.PrincipalID) || !assignmentID.MatchString(a.ID) || !guidOrDefault(a.AppRoleID) {
			t.Fatalf("assignment %+v", a)
		}
	}

	// Sizes are skewed: one group of MaxGroupSize users, most much smaller.
	var sizes []int
	for _, i := range sh.secAssigned {
		sizes = append(sizes, sh.userMembers(tn.Groups[i]))
	}
	slices.Sort(sizes)
	if sizes[len(sizes)-1] != 2000 || sizes[0] < 1 {
		t.Errorf("sizes from %d to %d, want up to 2000", sizes[0], sizes[len(sizes)-1])
	}
	if median := sizes[len(sizes)/2]; median > 2000/5 {
		t.Errorf("median size %d: sizes are not skewed: %v", median, sizes)
	}
	if sizes[len(sizes)-2] > 1500 {
		t.Errorf("second largest group has %d members", sizes[len(sizes)-2])
	}
	// Membership overlaps.
	inGroups := map[string]int{}
	for _, i := range sh.secAssigned {
		for _, m := range tn.Groups[i].Members {
			inGroups[m]++
		}
	}
	overlap := 0
	for _, n := range inGroups {
		if n > 1 {
			overlap++
		}
	}
	if overlap < 100 {
		t.Errorf("only %d users are in more than one assigned group", overlap)
	}

	// Nested groups sit in assigned security groups or deeper, and have members.
	deep := 0
	for _, i := range sh.nested {
		g := tn.Groups[i]
		ps := sh.parents[g.ID]
		if len(ps) != 1 || sh.userMembers(g) == 0 {
			t.Errorf("nested group %s: parents %v, %d user members", g.DisplayName, ps, sh.userMembers(g))
			continue
		}
		if slices.Contains(sh.nested, ps[0]) {
			deep++
		} else if !slices.Contains(sh.secAssigned, ps[0]) {
			t.Errorf("nested group %s is inside %s, not an assigned security group", g.DisplayName, tn.Groups[ps[0]].DisplayName)
		}
	}
	if deep == 0 {
		t.Error("no group is nested more than one level deep")
	}
	for _, i := range sh.m365Assigned {
		if g := tn.Groups[i]; !g.MailEnabled || sh.userMembers(g) == 0 || sh.userMembers(g) != len(g.Members) {
			t.Errorf("M365 group %+v", g.DisplayName)
		}
	}
	spMembers := 0
	for _, sp := range tn.ServicePrincipals {
		spMembers += len(sh.parents[sp.ID])
	}
	if spMembers == 0 {
		t.Error("no service principal is a group member")
	}

	// Deterministic for a seed, different for another.
	if again := graphtest.Generate(spec); !reflect.DeepEqual(tn, again) {
		t.Error("Generate is not deterministic")
	}
	spec.Seed++
	if other := graphtest.Generate(spec); other.Users[0].ID == tn.Users[0].ID || reflect.DeepEqual(other.Groups, tn.Groups) {
		t.Error("another seed gives the same tenant")
	}
}

func isASCII(s string) bool {
	return utf8.RuneCountInString(s) == len(s)
}

func guidOrDefault(s string) bool {
	return s == graphtest.DefaultAppRoleID || lowerGUID.MatchString(s)
}

func TestGenerateEdgeCases(t *testing.T) {
	for _, spec := range []graphtest.GenSpec{
		{},
		{Users: 3, DirectlyAssigned: 10, Groups: 4, MaxGroupSize: 50, DisabledPercent: 200},
		{Users: 10, NestedGroups: 3, M365Groups: 2}, // nested groups without assigned groups
		{Groups: 2, ServicePrincipals: 10},          // groups without users
		{Users: -5, Groups: -1, MaxGroupSize: -3},
	} {
		tn := graphtest.Generate(spec)
		if err := tn.Validate(); err != nil {
			t.Errorf("%+v: %v", spec, err)
		}
		if spec.Users == 3 {
			disabled := 0
			for _, u := range tn.Users {
				if !u.AccountEnabled {
					disabled++
				}
			}
			if len(tn.Assignments) != 3+4 || disabled != 3 {
				t.Errorf("%+v: %d assignments, %d disabled", spec, len(tn.Assignments), disabled)
			}
		}
	}
}

// TestGenerateServed serves a generated tenant and reads it back.
func TestGenerateServed(t *testing.T) {
	tn := graphtest.Generate(graphtest.GenSpec{Seed: 7, Users: 3000, DirectlyAssigned: 50, Groups: 10,
		MaxGroupSize: 2500, NestedGroups: 3, M365Groups: 2, DisabledPercent: 5, ServicePrincipals: 5})
	s := graphtest.NewServer(tn)
	defer s.Close()
	form := tokenForm()
	form.Set("client_id", tn.ClientID)
	form.Set("client_secret", tn.ClientSecret)
	form.Set("scope", s.GraphEndpoint()+"/.default")
	status, body := postToken(t, s, tn.TenantID, form)
	if status != 200 {
		t.Fatalf("token: %d %v", status, body)
	}
	tok := body["access_token"].(string)

	big := slices.MaxFunc(tn.Groups, func(a, b graphtest.Group) int { return len(a.Members) - len(b.Members) })
	got, pages := listAll(t, s, tok, "/v1.0/groups/"+big.ID+"/members?$top=999&$select=id,userPrincipalName")
	if !slices.Equal(got, big.Members) || pages != (len(big.Members)+998)/999 {
		t.Errorf("listed %d members in %d pages, want %d", len(got), pages, len(big.Members))
	}
	assigned, _ := listAll(t, s, tok, "/v1.0/servicePrincipals(appId='"+tn.Application.AppID+"')/appRoleAssignedTo?$select=id,principalId")
	if len(assigned) != len(tn.Assignments) {
		t.Errorf("%d assignments listed, want %d", len(assigned), len(tn.Assignments))
	}

	// memberOf of a user in several groups, in tenant order.
	var want []string
	user := big.Members[0]
	for _, g := range tn.Groups {
		if slices.Contains(g.Members, user) {
			want = append(want, g.ID)
		}
	}
	if got, _ := listAll(t, s, tok, "/v1.0/users/"+user+"/memberOf?$select=id"); !slices.Equal(got, want) {
		t.Errorf("memberOf = %v, want %v", got, want)
	}

	// Membership changes are seen by the next listing (the cached member
	// lists are dropped).
	s.RemoveMember(big.ID, user)
	if got := get(t, s, tok, "/v1.0/users/"+user+"/memberOf?$select=id"); len(values(t, got)) != len(want)-1 {
		t.Errorf("memberOf after RemoveMember: %s", got.raw)
	}
	first := values(t, get(t, s, tok, "/v1.0/groups/"+big.ID+"/members?$top=1&$select=id"))
	if first[0]["id"] == user {
		t.Error("removed member still listed")
	}
}

func TestGenerateLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large tenant")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tn := graphtest.Generate(largeSpec)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 200<<20 {
		t.Errorf("Generate allocated %d MiB", alloc>>20)
	}
	if len(tn.Users) != 100000 || len(tn.Groups) != 500+50+40 {
		t.Errorf("%d users, %d groups", len(tn.Users), len(tn.Groups))
	}
	sh := shapeOf(tn)
	largest := 0
	for _, i := range sh.secAssigned {
		largest = max(largest, sh.userMembers(tn.Groups[i]))
	}
	if largest != 20000 {
		t.Errorf("largest group has %d users", largest)
	}
	if err := tn.Validate(); err != nil {
		t.Fatal(err)
	}
}

var largeSpec = graphtest.GenSpec{Seed: 1, Users: 100000, DirectlyAssigned: 5000, Groups: 500, MaxGroupSize: 20000,
	NestedGroups: 50, M365Groups: 40, DisabledPercent: 5, ServicePrincipals: 30}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		tn := graphtest.Generate(largeSpec)
		if len(tn.Users) != largeSpec.Users {
			b.Fatal(len(tn.Users))
		}
	}
}

// BenchmarkMembersPages20k lists a 20,000-member group of a 100,000-user
// tenant, 999 members a page, as a sync worker does.
func BenchmarkMembersPages20k(b *testing.B) {
	tn := graphtest.Generate(graphtest.GenSpec{Seed: 3, Users: 100000, Groups: 1, MaxGroupSize: 20000})
	s := graphtest.NewServer(tn)
	defer s.Close()
	form := tokenForm()
	form.Set("client_id", tn.ClientID)
	form.Set("client_secret", tn.ClientSecret)
	form.Set("scope", s.GraphEndpoint()+"/.default")
	_, body := postToken(b, s, tn.TenantID, form)
	tok := body["access_token"].(string)
	client := s.Client()
	first := s.URL() + "/v1.0/groups/" + tn.Groups[0].ID + "/members?$top=999&$select=id,userPrincipalName"
	pages := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for next := first; next != ""; pages++ {
			req, _ := http.NewRequest(http.MethodGet, next, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var page struct {
				Next  string            `json:"@odata.nextLink"`
				Value []json.RawMessage `json:"value"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			n += len(page.Value)
			next = page.Next
		}
		if n != 20000 {
			b.Fatalf("listed %d members", n)
		}
	}
	b.ReportMetric(float64(pages)/float64(b.N), "pages/op")
	b.ReportMetric(float64(s.ResourceUnits())/float64(b.N), "RU/op")
}
