package web_test

import (
	"net/http"
	"testing"
)

// TestBearerSchemeIsCaseInsensitive: RFC 7235 §2.1 makes the scheme
// case-insensitive; "bearer", "BEARER" and extra spaces are accepted, other
// schemes and a missing token are not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	h := MustAPI(t)
	for header, want := range map[string]int{
		"Bearer " + h.token:     http.StatusOK,
		"bearer " + h.token:     http.StatusOK,
		"BEARER " + h.token:     http.StatusOK,
		" Bearer  " + h.token:   http.StatusOK,
		"Basic " + h.token:      http.StatusUnauthorized,
		"Bearer":                http.StatusUnauthorized,
		"Bearer ":               http.StatusUnauthorized,
		h.token:                 http.StatusUnauthorized,
		"Bearer " + h.token[1:]: http.StatusUnauthorized,
	} {
		req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/tenants", nil)
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: %d, want %d", header, resp.StatusCode, want)
		}
	}
}
