package store

import (
	"errors"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/entrasync/entrasync/sync"
)

// urlScheme matches a URL scheme followed by "//", such as "mysql://".
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// ParseURL tells which backend a database URL names and what to open: the
// URL itself for PostgreSQL (postgres://… or postgresql://…, or a keyword
// connection string such as "host=db user=app password=…"), the file path
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
		if _, err := url.Parse(s); err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // url.Error quotes the whole URL, password included
			}
			return "", "", sync.Errorf(sync.EINVALID, "store: database URL %s does not parse: %s", RedactURL(s), RedactURL(err.Error()))
		}
		return BackendPostgres, s, nil
	case keywordDSN.MatchString(s):
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

// keywordDSN matches a PostgreSQL keyword/value connection string
// ("host=db dbname=app password=…"): it starts with one of libpq's
// connection keywords followed by '='. A SQLite path never does.
var keywordDSN = regexp.MustCompile(`^(host|hostaddr|port|dbname|user|password|sslmode|sslrootcert|sslcert|sslkey|connect_timeout|application_name|search_path|service|options)\s*=`)

var (
	// userinfoPassword is the password of a URL's user info, "//user:pw@".
	userinfoPassword = regexp.MustCompile(`(//[^/?#@:\s]*:)[^@\s]*@`)
	// keywordPassword is a password=… pair of a keyword string or a query.
	keywordPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:\\.|[^'])*'|[^\s&'"]+)`)
)

// RedactURL returns raw — a database URL, a keyword connection string, or
// any text that may quote one — with every password replaced by
// [redacted], whether or not it parses.
func RedactURL(raw string) string {
	s := userinfoPassword.ReplaceAllString(raw, "${1}[redacted]@")
	return keywordPassword.ReplaceAllString(s, "${1}[redacted]")
}

// URLPassword returns the password a database URL or keyword connection
// string carries ("" for none), so that callers can scrub it from text
// that was not built by RedactURL (a driver's error, say).
func URLPassword(raw string) string {
	if m := keywordPassword.FindStringSubmatch(raw); m != nil {
		return strings.Trim(m[2], "'")
	}
	if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	if m := regexp.MustCompile(`//[^/?#@:\s]*:([^@\s]*)@`).FindStringSubmatch(raw); m != nil {
		return m[1]
	}
	return ""
}

// ScrubError returns err with the password of the database URL raw removed
// from its message, keeping its sync error code; err itself when its
// message holds no password. Every error that may quote a connection string
// passes through it before it leaves the store.
func ScrubError(err error, raw string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := RedactURL(msg)
	if p := URLPassword(raw); p != "" {
		clean = strings.ReplaceAll(clean, p, "[redacted]")
	}
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, code: sync.ErrorCode(err), err: err}
}

// scrubbed is an error whose message had a password removed. It unwraps to
// nothing that could print the original: only its code and the sentinel
// checks (Is) of the original error survive.
type scrubbed struct {
	msg  string
	code string
	err  error
}

func (e *scrubbed) Error() string { return e.msg }

// Is lets errors.Is see the sentinels of the original error.
func (e *scrubbed) Is(target error) bool { return errors.Is(e.err, target) }

// As exposes the original's *sync.Error code only, never its text.
func (e *scrubbed) As(target any) bool {
	if t, ok := target.(**sync.Error); ok {
		*t = &sync.Error{Code: e.code, Message: e.msg}
		return true
	}
	return false
}
