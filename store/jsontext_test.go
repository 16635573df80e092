package store

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/entrasync/entrasync/sync"
)

// oddStrings are what a directory may hold: HTML characters json.Marshal
// escapes, quotes, control characters, non-ASCII, invalid UTF-8, the line
// separators JavaScript does not allow in strings.
var oddStrings = []string{"", "plain", "Ann O'Neil", `a"b`, `back\slash`, "<script>&amp;</script>", "tab\tnew\nline\r",
	"\x00\x01\x1f\x7f", "Zoë Ünal", "日本語", "\xff\xfe bad", "line\u2028sep\u2029", "emoji 😀", strings.Repeat("x", 300)}

func randomString(r *rand.Rand) string {
	if r.IntN(3) == 0 {
		return oddStrings[r.IntN(len(oddStrings))]
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.IntN(256))
		if r.IntN(4) != 0 {
			b[i] = byte(' ' + r.IntN(95))
		}
	}
	return string(b)
}

// TestAuditDocumentsAsJSONMarshalWritesThem: the log's user documents and
// the events' data, written by hand, are byte for byte what json.Marshal
// writes, for odd strings, every optional field set or not, archive times
// of any zone and precision, and a time json.Marshal refuses (NULL, as
// before).
func TestAuditDocumentsAsJSONMarshalWritesThem(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	yes, no := true, false
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+1800), time.FixedZone("y", -7*3600)}
	for i := 0; i < 5000; i++ {
		u := &sync.User{EntraID: randomString(r), Origin: sync.Origin(randomString(r)), UserPrincipalName: randomString(r),
			Mail: randomString(r), Email: randomString(r), DisplayName: randomString(r), GivenName: randomString(r),
			Surname: randomString(r), AccountEnabled: r.IntN(2) == 0, Status: sync.Status(randomString(r)),
			PreviousStatus: sync.Status(randomString(r)), ArchiveReason: randomString(r)}
		if r.IntN(2) == 0 {
			u.ID = r.Int64() - r.Int64()
		}
		switch r.IntN(3) {
		case 0:
			at := time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(zones[r.IntN(len(zones))])
			u.ArchivedAt = &at
		case 1:
			at := time.Unix(r.Int64N(4e9), 0).UTC()
			u.ArchivedAt = &at
		}
		for n := r.IntN(4); n > 0; n-- {
			u.Paths = append(u.Paths, randomString(r))
		}
		if r.IntN(5) == 0 {
			u.Paths = []string{}
		}
		switch r.IntN(3) {
		case 0:
			u.RequireMobileAuth = &yes
		case 1:
			u.RequireMobileAuth = &no
		}
		want, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonValue(u); got != string(want) {
			t.Fatalf("user %d:\n got %v\nwant %s", i, got, want)
		}

		data := map[string]string{}
		for n := r.IntN(4); n > 0; n-- {
			data[randomString(r)] = randomString(r)
		}
		if r.IntN(6) == 0 {
			data = nil
		}
		wantData := "{}"
		if data != nil {
			b, _ := json.Marshal(data)
			wantData = string(b)
		}
		if got := eventJSON(data); got != wantData {
			t.Fatalf("event data %d:\n got %s\nwant %s", i, got, wantData)
		}
	}

	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := json.Marshal(&sync.User{ArchivedAt: &far}); err == nil {
		t.Fatal("json.Marshal took the year 10000")
	}
	if got := jsonValue(&sync.User{ArchivedAt: &far}); got != nil {
		t.Fatalf("a user json.Marshal refuses: %v, want nil (NULL)", got)
	}
	if got := jsonValue((*sync.User)(nil)); got != nil {
		t.Fatalf("no user: %v, want nil", got)
	}
}
