package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestReportSaysHowAWorkerBoots: with a ReadyDelay the report's title
// names the boot, its settings say the booting Node is tainted not-ready
// until Ready, and it says what the delay stands for; without one the
// settings read as before and link the boot-delay comparison.
func TestReportSaysHowAWorkerBoots(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delay     time.Duration
		want, not []string
	}{
		{"with a boot", 30 * time.Second,
			[]string{"# End to end: a flash sale, node-fleet and Karpenter, with a boot of 30s\n",
				"registers NotReady, tainted `node.kubernetes.io/not-ready:NoSchedule`", "turns Ready 30s after it registered",
				"a check of every run);\n", "60-90 s", "against the tick's scale it would stand for 3m0s"},
			[]string{"[e2e-boot-delay.md]"}},
		{"without", 0,
			[]string{"# End to end: a flash sale, node-fleet and Karpenter\n", "0s after its instance runs;\n", "[e2e-boot-delay.md](e2e-boot-delay.md)"},
			[]string{"not-ready", "60-90 s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Mode: ModeDaemon, ReadyDelay: tc.delay}
			opts.defaults()
			res := &Result{Mode: ModeDaemon, Options: opts, Measures: Measures{FirstPending: -1, FirstLaunch: -1, PendingToLaunch: -1, AllRunning: -1, BackToBaseline: -1}}
			got := Report(map[Mode][]*Result{ModeDaemon: {res}}, []Mode{ModeDaemon}, "scripts/e2e.sh", time.Minute)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the report lacks %q", w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("the report has %q", n)
				}
			}
		})
	}
}
