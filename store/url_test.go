package store_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/store"
	"github.com/entrasync/entrasync/sync"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	cases := []struct{ url, backend, target string }{
		{"postgres://u@h:5432/db?sslmode=disable", store.BackendPostgres, "postgres://u@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", store.BackendPostgres, "postgresql://u@h/db"},
		{"PostgreSQL://u@h/db", store.BackendPostgres, "PostgreSQL://u@h/db"},
		{"./entrasync.db", store.BackendSQLite, "entrasync.db"},
		{"entrasync.db", store.BackendSQLite, "entrasync.db"},
		{"/var/lib/entrasync/entrasync.db", store.BackendSQLite, "/var/lib/entrasync/entrasync.db"},
		{"sqlite:./data/x.db", store.BackendSQLite, "data/x.db"},
		{"sqlite:/abs/x.db", store.BackendSQLite, "/abs/x.db"},
		{"sqlite:///abs/x.db", store.BackendSQLite, "/abs/x.db"},
		{"sqlite://rel/x.db", store.BackendSQLite, "rel/x.db"},
		{"sqlite:file:x.db", store.BackendSQLite, "x.db"},
		{"file:x.db", store.BackendSQLite, "x.db"},
		{"file:///abs/my%20dir/x.db", store.BackendSQLite, "/abs/my dir/x.db"},
		{"file://localhost/abs/x.db", store.BackendSQLite, "/abs/x.db"},
		{"  ./spaced.db  ", store.BackendSQLite, "spaced.db"},
	}
	for _, c := range cases {
		want := c.target
		if c.backend == store.BackendSQLite {
			want = filepath.FromSlash(want)
		}
		backend, target, err := store.ParseURL(c.url)
		if err != nil || backend != c.backend || target != want {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", c.url, backend, target, err, c.backend, c.target)
		}
	}
	for _, bad := range []string{"", "  ", "mysql://h/db", "sqlite:", "sqlite::memory:", ":memory:", "file::memory:",
		"file:x.db?mode=ro", "file://otherhost/x.db"} {
		if _, _, err := store.ParseURL(bad); sync.ErrorCode(err) != sync.EINVALID {
			t.Errorf("ParseURL(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestDefaultSQLitePath(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_DATA_HOME": "/xdg", "HOME": "/home/u"}, "/xdg/entrasync/entrasync.db"},
		{map[string]string{"XDG_DATA_HOME": "relative", "HOME": "/home/u"}, "/home/u/.local/share/entrasync/entrasync.db"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/share/entrasync/entrasync.db"},
		{map[string]string{}, "./entrasync.db"},
	}
	for _, c := range cases {
		if got := store.DefaultSQLitePath(env(c.env)); got != filepath.FromSlash(c.want) {
			t.Errorf("DefaultSQLitePath(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}

// TestParseURLNeverEchoesAPassword: a PostgreSQL URL that does not parse, or
// any error quoting one, never carries its password; a keyword connection
// string is PostgreSQL, not a SQLite file named after its words.
func TestParseURLNeverEchoesAPassword(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"postgres://admin:secretpw@db:notaport/x", "postgresql://admin:secretpw@[::1/x"} {
		_, _, err := store.ParseURL(raw)
		if sync.ErrorCode(err) != sync.EINVALID || strings.Contains(err.Error(), "secretpw") || !strings.Contains(err.Error(), "[redacted]") {
			t.Errorf("ParseURL(%q) = %v: want EINVALID with the password redacted", raw, err)
		}
	}
	for _, dsn := range []string{"host=db user=admin password=secretpw dbname=x", "dbname=x password='secret pw'", "user = admin"} {
		backend, target, err := store.ParseURL(dsn)
		if err != nil || backend != store.BackendPostgres || target != dsn {
			t.Errorf("ParseURL(%q) = %q, %q, %v; want PostgreSQL", dsn, backend, target, err)
		}
	}
	cases := map[string]string{
		"postgres://admin:secretpw@db/x":                 "postgres://admin:[redacted]@db/x",
		"host=db password=secretpw dbname=x":             "host=db password=[redacted] dbname=x",
		"dbname=x password='secret pw' user=a":           "dbname=x password=[redacted] user=a",
		`parse "postgres://a:secretpw@h:x/": bad port`:   `parse "postgres://a:[redacted]@h:x/": bad port`,
		"postgres://u@h/db?password=secretpw&sslmode=no": "postgres://u@h/db?password=[redacted]&sslmode=no",
		"./plain.db": "./plain.db",
	}
	for in, want := range cases {
		if got := store.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
	err := store.ScrubError(fmt.Errorf("dial: %w", sync.Errorf(sync.EUNAVAILABLE, "x secretpw y")), "postgres://a:secretpw@h/db")
	if strings.Contains(err.Error(), "secretpw") || sync.ErrorCode(err) != sync.EUNAVAILABLE {
		t.Errorf("ScrubError = %v (code %s)", err, sync.ErrorCode(err))
	}
}
