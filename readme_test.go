package nodefleet_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeSnippetDecls declares what the README's Go snippets take as given
// (the parts a user builds beforehand, and a context), so that each
// snippet compiles as written. A snippet that names something else fails
// the test, as does one that no longer compiles against the library.
const readmeSnippetDecls = `package snippet

import (
	"context"
	"fmt"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/decision"
	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/ec2fleet"
	"github.com/node-fleet/node-fleet/metrics"
	"github.com/node-fleet/node-fleet/state"
)

var (
	promSource  *metrics.Prometheus
	mine        autoscaler.Policy
	dynamo      *state.Dynamo
	ec2Fleet    *ec2fleet.Provider
	nodeManager *drain.Manager
)

var _ = fmt.Sprint
var _ = decision.Default

`

// TestREADMESnippetsCompile builds every Go block of README.md, each as the
// body of a function, against the module as it is.
func TestREADMESnippetsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the README's snippets with the go command; skipped with -short")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go snippet; the library's usage example is gone")
	}
	// A directory inside the module (so that it imports the module's
	// packages as they are), starting with "_" so that ./... leaves it out.
	dir, err := os.MkdirTemp(".", "_readme_snippet_")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var src strings.Builder
	src.WriteString(readmeSnippetDecls)
	for i, b := range blocks {
		src.WriteString("func snippet" + string(rune('A'+i)) + "(ctx context.Context) error {\n_ = ctx\n")
		src.WriteString(b[1])
		src.WriteString("\nreturn nil\n}\n\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "snippet.go"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "vet", "./"+filepath.Base(dir)).CombinedOutput()
	if err != nil {
		t.Errorf("the README's Go snippets do not compile (go vet): %v\n%s\n--- as built:\n%s", err, out, src.String())
	}
}
