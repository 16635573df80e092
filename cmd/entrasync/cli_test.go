package main

import (
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/entrasync -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n%s", name, path, got)
	}
}

// TestHelpGolden pins `--help` of every command: each has a usage line,
// what it does, its flags and examples, and exits 0.
func TestHelpGolden(t *testing.T) {
	cmds := [][]string{{"--help"}, {"demo", "--help"}, {"run", "--help"}, {"sync", "--help"}, {"plan", "--help"},
		{"provision", "user", "--help"}, {"provision", "group", "--help"}, {"users", "list", "--help"},
		{"groups", "list", "--help"}, {"runs", "list", "--help"}, {"runs", "show", "--help"}, {"token", "rotate", "--help"},
		{"runs", "approve", "--help"}, {"runs", "reject", "--help"}, {"tenant", "pause", "--help"}, {"tenant", "status", "--help"}}
	for _, args := range cmds {
		out, stderr, code := runCLI(t, nil, args...)
		if code != exitOK || stderr != "" {
			t.Errorf("entrasync %v: exit %d, stderr %q", args, code, stderr)
		}
		if len(args) > 1 && !strings.Contains(out, "Examples:") {
			t.Errorf("entrasync %v has no examples:\n%s", args, out)
		}
		name := strings.Join(append([]string{"help"}, args[:len(args)-1]...), "-")
		golden(t, name, out)
	}
}

func TestTableOutputGolden(t *testing.T) {
	db := filepath.Join(t.TempDir(), "d.db")
	if _, stderr, code := runCLI(t, nil, "--database", db, "demo"); code != exitOK {
		t.Fatal(stderr)
	}
	out, _, _ := runCLI(t, nil, "--database", db, "users", "list", "--tenant", "demo")
	golden(t, "users-list", out)
	out, _, _ = runCLI(t, nil, "--database", db, "groups", "list", "--tenant", "demo")
	golden(t, "groups-list", out)
}

// TestNoEscapeCodesWithoutATerminalOrWithNO_COLOR checks colour shows only
// on a terminal and never with NO_COLOR.
func TestNoEscapeCodesWithoutATerminalOrWithNO_COLOR(t *testing.T) {
	db := filepath.Join(t.TempDir(), "d.db")
	out, _, _ := runCLI(t, nil, "--database", db, "demo")
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("escape codes in non-terminal output")
	}
	defer func(f func(io.Writer) bool) { isTerminal = f }(isTerminal)
	isTerminal = func(io.Writer) bool { return true }
	out, _, _ = runCLI(t, map[string]string{"NO_COLOR": "1"}, "--database", db, "demo")
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("escape codes despite NO_COLOR")
	}
	out, _, _ = runCLI(t, nil, "--database", db, "demo")
	if !strings.Contains(out, "\x1b[32m+") {
		t.Fatalf("no colour on a terminal:\n%s", out)
	}
}

func TestProgressLineOnTerminalLogLinesOtherwise(t *testing.T) {
	var term, logs strings.Builder
	p := newProgress(&term, true, slog.New(slog.NewTextHandler(&logs, nil)))
	p.update(graph.Progress{AssignmentPages: 2, Groups: 10, GroupsRead: 3, MemberPages: 7, Users: 5, UsersRead: 1, RoundTrips: 12})
	p.done()
	if got := term.String(); !strings.Contains(got, "\rreading: 2 assignment page(s) · groups 3/10 · 7 member page(s) · users 1/5 · 12 round trips") &&
		!strings.Contains(got, "groups 3/10") {
		t.Fatalf("terminal progress = %q", got)
	}
	if logs.Len() != 0 {
		t.Fatalf("terminal progress also logged: %s", logs.String())
	}
	var plain strings.Builder
	p = newProgress(&plain, false, slog.New(slog.NewTextHandler(&logs, nil)))
	p.update(graph.Progress{Groups: 10, GroupsRead: 3})
	p.done()
	if plain.Len() != 0 || !strings.Contains(logs.String(), "groups_read=3 groups=10") {
		t.Fatalf("non-terminal progress: out %q, logs %q", plain.String(), logs.String())
	}
}

func TestTenantPauseResumeStatus(t *testing.T) {
	db := filepath.Join(t.TempDir(), "d.db")
	if _, stderr, code := runCLI(t, nil, "--database", db, "demo"); code != exitOK {
		t.Fatal(stderr)
	}
	out, stderr, code := runCLI(t, nil, "--database", db, "tenant", "pause", "demo")
	if code != exitOK || !strings.Contains(out, "paused") {
		t.Fatalf("pause: %d %s %s", code, out, stderr)
	}
	out, _, _ = runCLI(t, nil, "--database", db, "tenant", "status", "demo", "--json")
	if !strings.Contains(out, `"paused": true`) {
		t.Fatalf("status after pause: %s", out)
	}
	runCLI(t, nil, "--database", db, "tenant", "resume", "demo")
	out, _, _ = runCLI(t, nil, "--database", db, "tenant", "status", "demo")
	if !strings.Contains(out, "demo") || strings.Contains(out, "paused") {
		t.Fatalf("status after resume: %s", out)
	}
	if _, stderr, code := runCLI(t, nil, "--database", db, "tenant", "pause", "nosuch"); code == exitOK || !strings.Contains(stderr, "tenant") {
		t.Fatalf("pause of an unknown tenant: %d %s", code, stderr)
	}
}
