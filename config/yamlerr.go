package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlError turns a YAML decoding error into one that names the line at
// fault and, for a mistyped key, the key meant. yaml.v3 reports a syntax
// error at the line of the construct it was parsing (a list's first line),
// not at the line that broke it; the line is found again here: the one
// after the longest run of leading lines that still parses.
func yamlError(body []byte, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, m := range te.Errors {
			msgs = append(msgs, explainField(m))
		}
		return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = yamlLinePrefix.ReplaceAllString(msg, "")
	if n := firstBadLine(body); n > 0 {
		return fmt.Errorf("config: line %d: %s", n, msg)
	}
	return fmt.Errorf("config: %s", msg)
}

var (
	yamlLinePrefix = regexp.MustCompile(`^line \d+: `)
	unknownField   = regexp.MustCompile(`^line (\d+): field (\S+) not found in type config\.(\w+)$`)
)

// firstBadLine returns the 1-based number of the line after the longest
// prefix of whole lines that parses as YAML (a line that opens a quote or a
// flow closed later does not count against it), or 0 for a document too
// long to search this way.
func firstBadLine(body []byte) int {
	lines := strings.SplitAfter(string(body), "\n")
	if len(lines) > maxSearchLines {
		return 0
	}
	good := 0
	var n yaml.Node
	for i := range lines {
		if yaml.Unmarshal([]byte(strings.Join(lines[:i+1], "")), &n) == nil {
			good = i + 1
		}
	}
	return good + 1
}

// maxSearchLines bounds firstBadLine's quadratic search.
const maxSearchLines = 2000

// knownKeys are the YAML keys of each configuration type, by type name.
var knownKeys = func() map[string][]string {
	m := map[string][]string{}
	for _, v := range []any{Config{}, Log{}, Graph{}, Worker{}, Tenant{}} {
		t := reflect.TypeOf(v)
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				m[t.Name()] = append(m[t.Name()], tag)
			}
		}
	}
	return m
}()

// sections names each type as the configuration file does.
var sections = map[string]string{"Config": "the top level", "Log": "log:", "Graph": "graph:", "Worker": "worker:", "Tenant": "a tenant"}

// explainField rewords yaml.v3's "field x not found in type config.T" as an
// unknown key with the nearest known one.
func explainField(m string) string {
	sub := unknownField.FindStringSubmatch(m)
	if sub == nil {
		return m
	}
	line, key, typ := sub[1], sub[2], sub[3]
	out := fmt.Sprintf("line %s: unknown key %q in %s", line, key, sections[typ])
	if s := suggest(key, knownKeys[typ]); s != "" {
		out += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(knownKeys[typ]) > 0 {
		keys := append([]string(nil), knownKeys[typ]...)
		sort.Strings(keys)
		out += " (known: " + strings.Join(keys, ", ") + ")"
	}
	return out
}

// suggest returns the known key nearest to key (edit distance at most a
// third of its length, at least 2), or "".
func suggest(key string, known []string) string {
	best, bestD := "", max(2, len(key)/3)+1
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
