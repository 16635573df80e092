package store

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/entrasync/entrasync/sync"
)

// The audit rows' documents, written by hand: a large tenant's first cycle
// writes 87,000 users into the provisioning log and 218,000 events, and
// json.Marshal's reflection was a third of the log's COPY on the client.
// The text is byte for byte what json.Marshal gives (jsontext_test.go):
// anything but plain printable ASCII goes through json.Marshal itself.

// userJSON is json.Marshal(u) for a non-nil user, "" where json.Marshal
// fails (an archive time outside the years JSON can carry).
func userJSON(u *sync.User) string {
	b := make([]byte, 0, 384)
	b = append(b, '{')
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	str := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		field(name)
		b = appendJSONString(b, v)
	}
	if u.ID != 0 {
		field("id")
		b = strconv.AppendInt(b, u.ID, 10)
	}
	str("entraId", u.EntraID, true)
	str("origin", string(u.Origin), false)
	str("userPrincipalName", u.UserPrincipalName, true)
	str("mail", u.Mail, true)
	str("email", u.Email, true)
	str("displayName", u.DisplayName, true)
	str("givenName", u.GivenName, true)
	str("surname", u.Surname, true)
	field("accountEnabled")
	b = strconv.AppendBool(b, u.AccountEnabled)
	str("status", string(u.Status), false)
	str("previousStatus", string(u.PreviousStatus), true)
	if u.ArchivedAt != nil {
		t, err := u.ArchivedAt.MarshalJSON()
		if err != nil {
			return ""
		}
		field("archivedAt")
		b = append(b, t...)
	}
	str("archiveReason", u.ArchiveReason, true)
	if len(u.Paths) > 0 {
		field("paths")
		b = append(b, '[')
		for i, p := range u.Paths {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, p)
		}
		b = append(b, ']')
	}
	if u.RequireMobileAuth != nil {
		field("requireMobileAuth")
		b = strconv.AppendBool(b, *u.RequireMobileAuth)
	}
	b = append(b, '}')
	return string(b)
}

// eventJSON is json.Marshal(data) for an event's data: its keys sorted,
// "{}" for none.
func eventJSON(data map[string]string) string {
	if len(data) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 96)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, data[k])
	}
	b = append(b, '}')
	return string(b)
}

// appendJSONString appends s as a JSON string the way json.Marshal writes
// it: plain printable ASCII as it is, anything else (quotes, backslashes,
// control characters, <, > and &, which json.Marshal escapes for HTML, and
// every non-ASCII byte) by json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
