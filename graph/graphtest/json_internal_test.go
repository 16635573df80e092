package graphtest

import (
	"encoding/json"
	"testing"
)

func TestWriteStringRoundTrips(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "a&b<c>d", "tab\tnl\ncr\r", "\x00\x01\x1f\x7f",
		"héllo wörld ✓ 𝄞", "line\u2028sep\u2029", "bad \xff utf8 \xe2\x82",
	} {
		enc := mustJSON(s)
		if !json.Valid(enc) {
			t.Errorf("%q encodes to invalid JSON %s", s, enc)
			continue
		}
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatal(err)
		}
		// encoding/json turns invalid UTF-8 into U+FFFD as well.
		want, _ := json.Marshal(s)
		var wantS string
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Errorf("%q round-trips to %q, want %q", s, got, wantS)
		}
	}
	o := object{{"a", 1}, {"b", []string{"x"}}, {"c", nil}, {"d", []object{{{"e", true}}}}, {"f", json.RawMessage(`{"g":2}`)}, {"h", []int{7}}}
	if got := string(mustJSON(o)); got != `{"a":1,"b":["x"],"c":null,"d":[{"e":true}],"f":{"g":2},"h":[7]}` {
		t.Errorf("object encodes to %s", got)
	}
	if got := string(mustJSON("https://x/y?a=1&b=2")); got != `"https://x/y?a=1&b=2"` {
		t.Errorf("& escaped: %s", got)
	}
}
