package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
)

// TestDockerImageSetsTheVersion: the Dockerfile passes its VERSION build
// argument to the linker as main.version, and a binary linked that way
// reports it (`version --json`), so the image never says "dev" when built
// with --build-arg VERSION=….
func TestDockerImageSetsTheVersion(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`-ldflags "[^"]*-X (main\.version)=\$\{VERSION\}[^"]*"`).FindSubmatch(b)
	if m == nil || !regexp.MustCompile(`(?m)^ARG VERSION`).Match(b) {
		t.Fatalf("the Dockerfile does not set the version from a VERSION build argument:\n%s", b)
	}
	bin := filepath.Join(t.TempDir(), "entrasync")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	if out, err := exec.Command(goTool, "build", "-ldflags", "-X "+string(m[1])+"=9.9.9-test", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--json").Output()
	var v struct{ Version string }
	if err != nil || json.Unmarshal(out, &v) != nil || v.Version != "9.9.9-test" {
		t.Fatalf("version --json of a binary linked with the Dockerfile's flag: %s (%v)", out, err)
	}
}
