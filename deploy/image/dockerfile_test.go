package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// instruction is one Dockerfile instruction: its keyword (upper case) and
// the rest of its line, continuation lines joined.
type instruction struct{ cmd, args string }

// parseDockerfile returns the instructions of each stage, in order.
func parseDockerfile(t *testing.T, path string) [][]instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	var stages [][]instruction
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before the first FROM", path, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

// The Dockerfile describes the image the builder makes: an empty base,
// the same files at the same paths, the same user database, entrypoint,
// user and port, and a static build of examples/daemon.
func TestDockerfileDescribesTheBuiltImage(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("want a build stage and the image's stage, got %d stages", len(stages))
	}
	final := stages[len(stages)-1]
	got := map[string][]string{}
	var copied []string
	for _, in := range final {
		got[in.cmd] = append(got[in.cmd], in.args)
		if in.cmd == "COPY" {
			f := strings.Fields(in.args)
			copied = append(copied, strings.TrimPrefix(f[len(f)-1], "/"))
		}
	}
	want := map[string][]string{
		"FROM":       {"scratch"},
		"USER":       {User},
		"EXPOSE":     {Port},
		"ENTRYPOINT": {`["` + Binary + `"]`},
	}
	for cmd, w := range want {
		if diff := cmp.Diff(w, got[cmd]); diff != "" {
			t.Errorf("%s (-builder +Dockerfile):\n%s", cmd, diff)
		}
	}
	if got["CMD"] != nil || got["RUN"] != nil || got["SHELL"] != nil {
		t.Errorf("the image's stage runs or names a command: %q %q %q", got["CMD"], got["RUN"], got["SHELL"])
	}
	slices.Sort(copied)
	// The builder's files, and home/nonroot, the one directory it makes
	// that is not a file's parent.
	if diff := cmp.Diff([]string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "home/nonroot", "node-fleet-daemon"}, copied); diff != "" {
		t.Errorf("copied into the image (-builder +Dockerfile):\n%s", diff)
	}
	var build string
	for _, in := range stages[0] {
		build += in.cmd + " " + in.args + "\n"
	}
	for _, w := range []string{
		"CGO_ENABLED=0 go build -trimpath", `-ldflags="-s -w -X main.version=${VERSION}"`,
		"-o /out/node-fleet-daemon ./examples/daemon",
		strings.ReplaceAll(passwd, "\n", `\n`), strings.ReplaceAll(group, "\n", `\n`),
	} {
		if !strings.Contains(build, w) {
			t.Errorf("the build stage lacks %q:\n%s", w, build)
		}
	}
}
