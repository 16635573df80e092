package graph

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/entrasync/entrasync/sync"
)

// TestBadInput_StoredMirrorThatCannotBeTrustedReadsInFull: a stored mirror
// that is not gzip, of another version, truncated, with trailing bytes or
// with forged counts is sync.ErrDeltaReset (the cycle reads in full), never
// a panic or a huge allocation; a sound one comes back as it was.
func TestBadInput_StoredMirrorThatCannotBeTrustedReadsInFull(t *testing.T) {
	m := newMirror()
	m.SP = sync.Ref{ID: "sp", Name: "App"}
	m.Assign["a1"] = massign{P: "u1", T: "User", N: "Ann"}
	m.Groups["g1"] = &mgroup{Found: true, Name: "Staff", Sec: true, Read: true, Members: []string{"u1"}, Nested: []sync.Ref{{ID: "g2", Name: "Sub"}}, Others: []string{"d1"}}
	good, err := m.encode(map[string]sync.EntraUser{"00000000-0000-4000-8000-000000000001": {ID: "00000000-0000-4000-8000-000000000001", UserPrincipalName: "ann@x.test", AccountEnabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeMirror(good)
	if err != nil || back.SP != m.SP || back.Assign["a1"] != m.Assign["a1"] || back.Groups["g1"].Name != "Staff" ||
		len(back.Groups["g1"].Nested) != 1 || back.users["00000000-0000-4000-8000-000000000001"] == nil || !back.users["00000000-0000-4000-8000-000000000001"].AccountEnabled {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	gz := func(raw []byte) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		_, _ = w.Write(raw)
		_ = w.Close()
		return b.Bytes()
	}
	var plain bytes.Buffer
	r, _ := gzip.NewReader(bytes.NewReader(good))
	_, _ = plain.ReadFrom(r)
	raw := plain.Bytes()
	for name, b := range map[string][]byte{
		"not gzip":        []byte("{}"),
		"empty":           {},
		"another version": gz(append([]byte("esm\x01"), raw[4:]...)),
		"truncated":       gz(raw[:len(raw)-3]),
		"trailing bytes":  gz(append(append([]byte{}, raw...), 0)),
		"forged count":    gz(append(append([]byte{}, raw[:4]...), 0x02, 's', 'p', 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f)),
		"forged string":   gz(append(append([]byte{}, raw[:4]...), 0xff, 0xff, 0xff, 0xff, 0x0f)),
		"only the magic":  gz(raw[:4]),
	} {
		if _, err := decodeMirror(b); !errors.Is(err, sync.ErrDeltaReset) {
			t.Errorf("%s: %v, want ErrDeltaReset", name, err)
		}
	}
}

// TestMirrorInPartsRoundTrips: a mirror of more users than one part of the
// encoding holds, and one of none, decode to what was encoded.
func TestMirrorInPartsRoundTrips(t *testing.T) {
	for _, n := range []int{0, 1, mirrorChunk, 2*mirrorChunk + 7} {
		m := newMirror()
		m.SP = sync.Ref{ID: "sp", Name: "App"}
		m.Assign["a1"] = massign{P: "u1", T: "Group", N: "Staff"}
		m.Groups["g1"] = &mgroup{Found: true, Name: "Staff", Read: true, Members: []string{"u1"}}
		users := map[string]sync.EntraUser{}
		for i := range n {
			id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
			users[id] = sync.EntraUser{ID: id, UserPrincipalName: fmt.Sprintf("u%d@x.test", i), DisplayName: "U", AccountEnabled: i%2 == 0}
			m.Assign[fmt.Sprintf("a-%d", i)] = massign{P: id, T: "User", N: "U"}
		}
		for i := range min(n, 2*mirrorGroupChunk+1) {
			m.Groups[fmt.Sprintf("g-%d", i)] = &mgroup{Found: true, Name: fmt.Sprint(i)}
		}
		b, err := m.encode(users)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodeMirror(b)
		if err != nil {
			t.Fatalf("%d users: %v", n, err)
		}
		if len(back.users) != n || back.Groups["g1"].Members[0] != "u1" || !maps.Equal(back.Assign, m.Assign) || len(back.Groups) != len(m.Groups) {
			t.Fatalf("%d users: %d back, %d assignments (of %d), %d groups (of %d)", n, len(back.users), len(back.Assign), len(m.Assign), len(back.Groups), len(m.Groups))
		}
		for id, u := range users {
			if got := back.users[id]; got == nil || *got != u {
				t.Fatalf("%d users: %s came back as %+v, want %+v", n, id, got, u)
			}
		}
		// Encoded again unchanged, then with a group renamed and a user
		// changed: the parts kept from the last encode stand only for
		// what they hold.
		if again, err := m.encode(users); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%d users: encoded again, %d bytes (was %d), %v", n, len(again), len(b), err)
		}
		m.Groups["g1"].Name = "Staff (renamed)"
		if n > 0 {
			id := fmt.Sprintf("00000000-0000-4000-8000-%012d", n-1)
			u := users[id]
			u.DisplayName = "Renamed"
			users[id] = u
		}
		b, err = m.encode(users)
		if err != nil {
			t.Fatal(err)
		}
		if back, err = decodeMirror(b); err != nil || back.Groups["g1"].Name != "Staff (renamed)" {
			t.Fatalf("%d users: after the rename %+v, %v", n, back, err)
		}
		for id, u := range users {
			if got := back.users[id]; got == nil || *got != u {
				t.Fatalf("%d users, after the rename: %s came back as %+v, want %+v", n, id, got, u)
			}
		}
	}
}

func TestSortedEntriesInTheKeysByteOrder(t *testing.T) {
	m := map[string]int{}
	for i, k := range []string{"", "a", "ab", "ab\x00", "ab\x00\x00\x00\x00\x00\x00\x00", "abcdefgh", "abcdefgh1", "abcdefgh0",
		"abcdefgg\xff", "\xff", "\x00", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000001", "Z", "z"} {
		m[k] = i
	}
	keys, vals := sortedEntries(m)
	if want := slices.Sorted(maps.Keys(m)); !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	for i, k := range keys {
		if vals[i] != m[k] {
			t.Errorf("%q has %d, want %d", k, vals[i], m[k])
		}
	}
}
