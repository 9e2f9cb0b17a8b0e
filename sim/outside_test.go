package sim_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// outsideMain is a user's program in a module of its own: a policy of its
// own, measured on the built-in day through the public package alone.
const outsideMain = `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/sim"
)

func main() {
	twoSpare := autoscaler.PolicyFunc(func(in autoscaler.PolicyInput) autoscaler.Decision {
		if v := in.Snapshot.Scheduler; v != nil && v.NodesNeeded > 0 {
			return autoscaler.Decision{Action: autoscaler.ScaleUp, Count: v.NodesNeeded + 2, Reason: "pending pods, two spare"}
		}
		return autoscaler.HoldBecause("nothing pending")
	})
	rep, err := sim.Measure(context.Background(), sim.BuiltinDay(), twoSpare, sim.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("cost=%.2f unserved=%.3f%%\n", rep.CostUSD, rep.UnservedPct())
}
`

// A program in another module measures its own policy through the public
// package: go.mod requires node-fleet (replaced by this checkout), and the
// program builds and runs with the module's own go.sum, offline.
func TestOutsideModuleMeasuresItsPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command: ", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod := "module example.com/mypolicy\n\ngo 1.26.0\n\nrequire github.com/node-fleet/node-fleet v0.0.0\n\nreplace github.com/node-fleet/node-fleet => " + root + "\n"
	for name, text := range map[string]string{"go.mod": mod, "go.sum": string(sum), "main.go": outsideMain} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run in the outside module: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "cost=") || !strings.Contains(string(out), "unserved=") {
		t.Errorf("the outside program printed %q, want its cost and unserved demand", out)
	}
}
