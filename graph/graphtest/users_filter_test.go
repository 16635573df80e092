package graphtest_test

import (
	"net/url"
	"sort"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// upnsOf lists the userPrincipalNames of every page of a listing.
func upnsOf(t *testing.T, s *graphtest.Server, tok, path string) []string {
	t.Helper()
	var out []string
	for path != "" {
		r := get(t, s, tok, path)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
		}
		for _, v := range r.body["value"].([]any) {
			out = append(out, v.(map[string]any)["userPrincipalName"].(string))
		}
		path, _ = r.body["@odata.nextLink"].(string)
	}
	sort.Strings(out)
	return out
}

func filterPath(f string, extra string) string {
	return "/v1.0/users?$filter=" + url.QueryEscape(f) + extra
}

// TestUsersFilterStartsWith: /users takes startswith(userPrincipalName,…)
// terms joined by "or", compared case-insensitively, a quote doubled; its
// pages carry the filter, and a skip token is not valid for another filter.
func TestUsersFilterStartsWith(t *testing.T) {
	ten := testTenant()
	ten.Users[0].UserPrincipalName = "Alice@contoso.example"
	ten.Users[1].UserPrincipalName = "o'neil@contoso.example"
	ten.Users[2].UserPrincipalName = "#hash@contoso.example"
	s := graphtest.NewServer(ten)
	defer s.Close()
	tok := token(t, s)

	got := upnsOf(t, s, tok, filterPath("startswith(userPrincipalName,'a') or startsWith(UserPrincipalName, 'O''') or startswith(userPrincipalName,'#')", ""))
	want := []string{"#hash@contoso.example", "Alice@contoso.example", "o'neil@contoso.example"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("filtered: %v, want %v", got, want)
	}
	// Paged: $top=1 gives three pages whose next links keep the filter.
	paged := upnsOf(t, s, tok, filterPath("startswith(userPrincipalName,'user')", "&$top=1"))
	if len(paged) != 4 { // user4..user7
		t.Fatalf("paged: %v", paged)
	}
	first := get(t, s, tok, filterPath("startswith(userPrincipalName,'user')", "&$top=1"))
	next := first.body["@odata.nextLink"].(string)
	u, _ := url.Parse(next)
	q := u.Query()
	q.Set("$filter", "startswith(userPrincipalName,'a')")
	u.RawQuery = q.Encode()
	if r := get(t, s, tok, u.String()); r.status != 400 {
		t.Fatalf("a skip token under another filter: %d, want 400", r.status)
	}

	for _, bad := range []string{
		"startswith(displayName,'a')",
		"userPrincipalName eq 'a'",
		"startswith(userPrincipalName,'a') and startswith(userPrincipalName,'b')",
		"startswith(userPrincipalName,'a'",
		"startswith(userPrincipalName,'a) or",
		"startswith(userPrincipalName,'a') or startswith(userPrincipalName,'b') or startswith(userPrincipalName,'c') or " +
			"startswith(userPrincipalName,'d') or startswith(userPrincipalName,'e') or startswith(userPrincipalName,'f') or " +
			"startswith(userPrincipalName,'g') or startswith(userPrincipalName,'h') or startswith(userPrincipalName,'i') or " +
			"startswith(userPrincipalName,'j') or startswith(userPrincipalName,'k') or startswith(userPrincipalName,'l') or " +
			"startswith(userPrincipalName,'m') or startswith(userPrincipalName,'n') or startswith(userPrincipalName,'o') or " +
			"startswith(userPrincipalName,'p')", // 16 terms
	} {
		if r := get(t, s, tok, filterPath(bad, "")); r.status != 400 {
			t.Errorf("$filter=%s: %d, want 400", bad, r.status)
		}
	}
	if r := get(t, s, tok, "/v1.0/groups/"+groupEng+"/members?$filter="+url.QueryEscape("startswith(userPrincipalName,'a')")); r.status != 400 {
		t.Errorf("$filter on members: %d, want 400", r.status)
	}

	off := graphtest.NewServer(testTenant(), graphtest.WithoutUserFilter())
	defer off.Close()
	if r := get(t, off, token(t, off), filterPath("startswith(userPrincipalName,'a')", "")); r.status != 400 {
		t.Fatalf("WithoutUserFilter: %d, want 400", r.status)
	}
}
