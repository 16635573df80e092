package store_test

import (
	"path/filepath"
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
