package store

import (
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// urlScheme matches a URL scheme followed by "//", such as "mysql://".
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// ParseURL tells which backend a database URL names and what to open: the
// URL itself for PostgreSQL (postgres://… or postgresql://…), the file path
// for SQLite (sqlite:PATH, sqlite://PATH — sqlite:///abs/path for an
// absolute one —, file:PATH, file:///abs/path, or a plain file path such as
// ./entrasync.db). Any other "scheme://" is an EINVALID error, as is an
// empty URL, an in-memory SQLite database or query parameters on a SQLite
// URL. It reads no file and opens no connection; store/open opens what it
// names.
func ParseURL(raw string) (backend, target string, err error) {
	s := strings.TrimSpace(raw)
	lower := strings.ToLower(s)
	switch {
	case s == "":
		return "", "", sync.Errorf(sync.EINVALID, "store: empty database URL")
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return BackendPostgres, s, nil
	case strings.HasPrefix(lower, "sqlite:"):
		s = s[len("sqlite:"):]
		if strings.HasPrefix(strings.ToLower(s), "file:") { // sqlite:file:x.db
			return sqliteTarget(raw, s[len("file:"):], true)
		}
		return sqliteTarget(raw, s, strings.HasPrefix(s, "//"))
	case strings.HasPrefix(lower, "file:"):
		return sqliteTarget(raw, s[len("file:"):], true)
	case urlScheme.MatchString(s):
		scheme, _, _ := strings.Cut(s, ":")
		return "", "", sync.Errorf(sync.EINVALID,
			"store: unsupported database URL scheme %q (want postgres://, postgresql://, sqlite: or a file path)", scheme)
	}
	return sqliteTarget(raw, s, false)
}

// sqliteTarget turns the part of a SQLite URL after its scheme into a path.
// URL forms ("//host/path", percent escapes) are decoded only when isURL.
func sqliteTarget(raw, rest string, isURL bool) (string, string, error) {
	if isURL {
		if strings.ContainsAny(rest, "?#") {
			return "", "", sync.Errorf(sync.EINVALID, "store: SQLite URL %q: query parameters are not supported", raw)
		}
		if strings.HasPrefix(rest, "//") {
			// file://localhost/abs, file:///abs, sqlite:///abs; sqlite://rel
			host, path, _ := strings.Cut(rest[2:], "/")
			switch {
			case host == "" || strings.EqualFold(host, "localhost"):
				rest = "/" + path
			case !strings.HasPrefix(strings.ToLower(raw), "sqlite:"):
				return "", "", sync.Errorf(sync.EINVALID, "store: SQLite URL %q names a remote host", raw)
			default:
				rest = rest[2:]
			}
		}
		p, err := url.PathUnescape(rest)
		if err != nil {
			return "", "", sync.Errorf(sync.EINVALID, "store: SQLite URL %q: %v", raw, err)
		}
		rest = p
	}
	if rest == "" || rest == ":memory:" {
		return "", "", sync.Errorf(sync.EINVALID, "store: SQLite URL %q names no file (in-memory databases are not supported)", raw)
	}
	return BackendSQLite, filepath.Clean(rest), nil
}

// DefaultSQLitePath returns where the SQLite directory lives by default:
// $XDG_DATA_HOME/entrasync/entrasync.db, else
// $HOME/.local/share/entrasync/entrasync.db, else ./entrasync.db. A relative
// XDG_DATA_HOME is ignored, as the XDG specification asks.
func DefaultSQLitePath(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "entrasync", "entrasync.db")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share", "entrasync", "entrasync.db")
	}
	return "." + string(filepath.Separator) + "entrasync.db"
}
