package graph

import "testing"

func TestPeekNextLinkGuessesThePagesLink(t *testing.T) {
	for body, want := range map[string]string{
		`{"@odata.nextLink":"https://graph.test/v1.0/x?$skiptoken=a","value":[]}`:                     "https://graph.test/v1.0/x?$skiptoken=a",
		`{"value":[{"id":"1"}], "@odata.nextLink" : "https://graph.test/v1.0/x?$skiptoken=b\u0026c"}`: "https://graph.test/v1.0/x?$skiptoken=b&c",
		`{"value":[{"id":"1"}]}`:                 "",
		`{"@odata.nextLink":null,"value":[]}`:    "",
		`{"@odata.nextLink":"https://unclosed`:   "",
		`{"@odata.nextLink":"a\"b","value":[]}`:  `a"b`,
		`{"value":[{"n":"x\"@odata.nextLink"}]}`: "",
	} {
		got, ok := peekNextLink([]byte(body))
		if got != want || ok != (want != "") {
			t.Errorf("peekNextLink(%s) = %q, %v; want %q", body, got, ok, want)
		}
	}
}
