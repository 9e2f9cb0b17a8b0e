package fake_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestFakesLinkNeitherPrometheusNorClientGo: a test that uses the fakes
// (fake.Static among them) builds without the Prometheus client and
// client-go, whose packages are most of a metrics test's dependencies.
func TestFakesLinkNeitherPrometheusNorClientGo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	// go test puts its own go first on the test's PATH.
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-test", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, d := range deps {
		if strings.Contains(d, "prometheus") || strings.HasPrefix(d, "k8s.io/client-go") || strings.HasPrefix(d, "k8s.io/api/") {
			t.Errorf("the fakes' test links %s", d)
		}
	}
	if len(deps) < 10 {
		t.Errorf("go list found only %d packages: %q", len(deps), deps)
	}
}
