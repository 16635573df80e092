package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entrasync/entrasync/graph/graphtest"
)

// TestPlanCreatesNoDirectory: a plan on a SQLite path where no directory is
// yet (a first plan, or a mistyped path) plans against an empty one, says
// so, and creates nothing there; the first sync creates it.
func TestPlanCreatesNoDirectory(t *testing.T) {
	gs := graphtest.NewServer(demoTenant())
	defer gs.Close()
	path := filepath.Join(t.TempDir(), "not", "yet", "here.db")
	cfgFile, env := writeWorkerConfig(t, gs, path)
	out, stderr, code := runCLI(t, env, "--config", cfgFile, "plan")
	if code != exitOK || !strings.Contains(stderr, "No directory yet at "+path) || !strings.Contains(out, "create") {
		t.Fatalf("plan: exit %d\nstdout: %s\nstderr: %s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("plan created %s (%v)", filepath.Dir(path), err)
	}
	if _, stderr, code := runCLI(t, env, "--config", cfgFile, "sync"); code != exitOK {
		t.Fatalf("sync: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the first sync did not create the directory: %v", err)
	}
	if _, stderr, _ := runCLI(t, env, "--config", cfgFile, "plan"); strings.Contains(stderr, "No directory yet") {
		t.Fatalf("a plan on an existing directory says there is none: %s", stderr)
	}
}
