package graph

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// TestSDKParsesDeltaPages reads graphtest's users/delta and groups/delta
// with msgraph-sdk-go's delta request builders: the pages, nextLinks and
// deltaLinks parse (GetAsDeltaGetResponse uses the delta response factory,
// see graph-facts.md), and so do @removed and members@delta, which the SDK
// keeps in the items' additional data.
func TestSDKParsesDeltaPages(t *testing.T) {
	const tenantID, clientID, secret = "7e000000-0000-4000-8000-000000000001", "c1000000-0000-4000-8000-000000000001", "s3cret-value"
	uid := func(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }
	tn := &graphtest.Tenant{TenantID: tenantID, ClientID: clientID, ClientSecret: secret,
		Application: graphtest.ServicePrincipal{ID: uid(900), AppID: uid(901), DisplayName: "App"}}
	g := graphtest.Group{ID: uid(800), DisplayName: "Big", SecurityEnabled: true}
	for i := 1; i <= 5; i++ {
		tn.Users = append(tn.Users, graphtest.User{ID: uid(i), UserPrincipalName: fmt.Sprintf("u%d@t.test", i), DisplayName: fmt.Sprint("U", i), AccountEnabled: true})
		g.Members = append(g.Members, uid(i))
	}
	tn.Groups = []graphtest.Group{g}
	srv := graphtest.NewServer(tn, graphtest.WithDeltaMemberChunk(3))
	defer srv.Close()
	src, err := New(Config{TenantID: tenantID, ClientID: clientID, ClientSecret: secret, ServicePrincipalID: uid(900),
		GraphEndpoint: srv.GraphEndpoint(), LoginEndpoint: srv.LoginEndpoint(), Transport: srv.Client().Transport}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pageSize := func() *abstractions.RequestHeaders {
		h := abstractions.NewRequestHeaders()
		h.Add("Prefer", "odata.maxpagesize=2")
		return h
	}

	// users/delta: three pages, then a deltaLink.
	var names []string
	var deltaLink string
	page, err := src.users().Delta().GetAsDeltaGetResponse(ctx, &users.DeltaRequestBuilderGetRequestConfiguration{
		Headers:         pageSize(),
		QueryParameters: &users.DeltaRequestBuilderGetQueryParameters{Select: []string{"displayName", "accountEnabled"}},
	})
	for pages := 1; ; pages++ {
		if err != nil {
			t.Fatalf("users delta page %d: %v", pages, err)
		}
		for _, u := range page.GetValue() {
			names = append(names, *u.GetDisplayName())
		}
		if next := page.GetOdataNextLink(); next != nil {
			page, err = users.NewDeltaRequestBuilder(*next, src.adapter).GetAsDeltaGetResponse(ctx,
				&users.DeltaRequestBuilderGetRequestConfiguration{Headers: pageSize()})
			continue
		}
		if page.GetOdataDeltaLink() == nil || pages != 3 {
			t.Fatalf("users delta: %d pages, deltaLink %v", pages, page.GetOdataDeltaLink())
		}
		deltaLink = *page.GetOdataDeltaLink()
		break
	}
	if !slices.Equal(names, []string{"U1", "U2", "U3", "U4", "U5"}) {
		t.Errorf("users %v", names)
	}

	srv.DeleteUser(uid(2))
	page, err = users.NewDeltaRequestBuilder(deltaLink, src.adapter).GetAsDeltaGetResponse(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := page.GetValue(); len(v) != 1 || *v[0].GetId() != uid(2) || v[0].GetAdditionalData()["@removed"] == nil ||
		page.GetOdataDeltaLink() == nil {
		t.Errorf("users delta after a deletion: %d items, deltaLink %v", len(v), page.GetOdataDeltaLink())
	}

	// groups/delta: the group's 4 remaining members come in two items.
	gpage, err := src.groups().Delta().GetAsDeltaGetResponse(ctx, &groups.DeltaRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.DeltaRequestBuilderGetQueryParameters{Select: []string{"displayName", "members"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	items := gpage.GetValue()
	if len(items) != 2 || gpage.GetOdataDeltaLink() == nil || items[0].GetDisplayName() == nil || *items[0].GetDisplayName() != "Big" {
		t.Fatalf("groups delta: %d items, deltaLink %v", len(items), gpage.GetOdataDeltaLink())
	}
	var members []string
	for _, it := range items {
		if *it.GetId() != uid(800) {
			t.Errorf("item of group %s", *it.GetId())
		}
		md, ok := it.GetAdditionalData()["members@delta"].([]any)
		if !ok {
			t.Fatalf("members@delta not in additional data: %#v", it.GetAdditionalData())
		}
		for _, m := range md {
			members = append(members, refID(t, m))
		}
	}
	sort.Strings(members)
	if want := []string{uid(1), uid(3), uid(4), uid(5)}; !slices.Equal(members, want) {
		t.Errorf("members %v, want %v", members, want)
	}
}

// refID returns the id of a member reference as the SDK's JSON parse node
// hands additional data over: a map of string pointers.
func refID(t *testing.T, m any) string {
	t.Helper()
	ref, ok := m.(map[string]any)
	if !ok {
		t.Fatalf("member ref is %T", m)
	}
	switch id := ref["id"].(type) {
	case *string:
		return *id
	case string:
		return id
	}
	t.Fatalf("member ref id is %T", ref["id"])
	return ""
}
