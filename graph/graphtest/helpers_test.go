package graphtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// Ids of the test tenant. Object ids are GUIDs, as in Entra: the Graph SDK
// parses principalId and resourceId as UUIDs.
const (
	tenantID = "11111111-2222-4333-8444-555555555555"
	clientID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	secret   = "s3cr3t~value"
	appObjID = "00000000-0000-4000-8000-0000000b0001"
	appAppID = "99999999-8888-4777-8666-555555555555"
	robotID  = "00000000-0000-4000-8000-0000000b0002"
	robotApp = "12345678-1234-4234-8234-123456789abc"
	groupEng = "00000000-0000-4000-8000-0000000a0001"
	groupOps = "00000000-0000-4000-8000-0000000a0002"
	u1       = "00000000-0000-4000-8000-000000000001"
	u2       = "00000000-0000-4000-8000-000000000002"
	u3       = "00000000-0000-4000-8000-000000000003"
	u4       = "00000000-0000-4000-8000-000000000004"
	u5       = "00000000-0000-4000-8000-000000000005"
	u6       = "00000000-0000-4000-8000-000000000006"
	u7       = "00000000-0000-4000-8000-000000000007"
)

func userID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// testTenant has 7 users (u1..u7, u7 disabled), two groups (groupEng with
// u1, u2, groupOps and robotID; groupOps with u3) and assignments of u1,
// groupEng and robotID.
func testTenant() *graphtest.Tenant {
	t := &graphtest.Tenant{
		TenantID:     tenantID,
		ClientID:     clientID,
		ClientSecret: secret,
		Application:  graphtest.ServicePrincipal{ID: appObjID, AppID: appAppID, DisplayName: "Demo App"},
		ServicePrincipals: []graphtest.ServicePrincipal{
			{ID: robotID, AppID: robotApp, DisplayName: "Robot"},
		},
		Groups: []graphtest.Group{
			{ID: groupEng, DisplayName: "Engineering", SecurityEnabled: true, Members: []string{u1, u2, groupOps, robotID}},
			{ID: groupOps, DisplayName: "Ops", SecurityEnabled: true, Members: []string{u3}},
		},
		Assignments: []graphtest.Assignment{
			{PrincipalID: u1},
			{ID: "fixed-assignment-id", PrincipalID: groupEng},
			{PrincipalID: robotID, AppRoleID: "c4f1a2b3-d4e5-4f60-8a7b-9c0d1e2f3a4b"},
		},
	}
	for i := 1; i <= 7; i++ {
		t.Users = append(t.Users, graphtest.User{
			ID:                userID(i),
			UserPrincipalName: fmt.Sprintf("user%d@contoso.example", i),
			Mail:              fmt.Sprintf("user%d@contoso.example", i),
			DisplayName:       fmt.Sprintf("User %d", i),
			GivenName:         "User",
			Surname:           fmt.Sprint(i),
			AccountEnabled:    i != 7,
		})
	}
	return t
}

func newServer(t testing.TB, opts ...graphtest.Option) *graphtest.Server {
	t.Helper()
	if err := testTenant().Validate(); err != nil {
		t.Fatalf("test tenant invalid: %v", err)
	}
	s := graphtest.NewServer(testTenant(), opts...)
	t.Cleanup(s.Close)
	return s
}

// postToken asks the token endpoint for a token with the given form.
func postToken(t testing.TB, s *graphtest.Server, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.Client().PostForm(s.LoginEndpoint()+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, decode(t, resp.Body)
}

func tokenForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {clientID},
		"client_secret": {secret},
		"scope":         {""}, // set by caller
	}
}

// token obtains an access token with the standard library client.
func token(t testing.TB, s *graphtest.Server) string {
	t.Helper()
	form := tokenForm()
	form.Set("scope", s.GraphEndpoint()+"/.default")
	status, body := postToken(t, s, tenantID, form)
	if status != 200 {
		t.Fatalf("token: status %d: %v", status, body)
	}
	tok, _ := body["access_token"].(string)
	if tok == "" {
		t.Fatalf("token: no access_token in %v", body)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request to the server; path is relative to URL() unless it is
// absolute. tok "" sends no Authorization header.
func do(t testing.TB, s *graphtest.Server, tok, method, path string, body io.Reader, hdr ...string) response {
	t.Helper()
	u := path
	if !strings.HasPrefix(path, "https://") {
		u = s.URL() + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && json.Valid(raw) {
		_ = json.Unmarshal(raw, &r.body)
	}
	return r
}

func get(t testing.TB, s *graphtest.Server, tok, path string) response {
	t.Helper()
	return do(t, s, tok, http.MethodGet, path, nil)
}

func decode(t testing.TB, r io.Reader) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

// graphError returns the code and message of a Graph error body and checks
// its innerError.
func graphError(t testing.TB, r response) (code, msg string) {
	t.Helper()
	e, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Fatalf("status %d: no Graph error in body %s", r.status, r.raw)
	}
	inner, ok := e["innerError"].(map[string]any)
	if !ok {
		t.Fatalf("no innerError in %s", r.raw)
	}
	for _, k := range []string{"date", "request-id", "client-request-id"} {
		if v, _ := inner[k].(string); v == "" {
			t.Errorf("innerError.%s missing in %s", k, r.raw)
		}
	}
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

// values returns the "value" array of a collection response.
func values(t testing.TB, r response) []map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	arr, ok := r.body["value"].([]any)
	if !ok {
		t.Fatalf("no value array in %s", r.raw)
	}
	out := make([]map[string]any, len(arr))
	for i, v := range arr {
		out[i] = v.(map[string]any)
	}
	return out
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func ids(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		id, _ := it["id"].(string)
		out = append(out, id)
	}
	return out
}
