package e2e

import (
	"testing"
)

// runMode runs the flash sale in mode and fails t on each broken
// guarantee (the K3s server instance touched, an eviction around a budget
// or a Deployment beyond it, a launch for the unplaceable pod, MAX_NODES
// exceeded, MIN_NODES undercut, no scale-down, a terminated instance's
// Node left); Result.Defects (a scale-up in one zone) are logged.
func runMode(t *testing.T, mode Mode) *Result {
	t.Helper()
	res := Run(t, Options{Mode: mode, Logf: t.Logf})
	t.Logf("timeline (seconds from the sale):\n%s", Format(res.Timeline, res.Zero))
	t.Logf("measures: %+v", res.Measures)
	for _, p := range res.Problems {
		t.Error(p)
	}
	for _, d := range res.Defects {
		t.Logf("KNOWN DEFECT (not failing the test): %s", d)
	}
	return res
}

// TestFlashSaleDaemon runs the flash sale against node-fleet's daemon on
// a real control plane (kube-apiserver, kube-scheduler,
// kube-controller-manager, kwok), moto and Prometheus; pending to launch
// must take under 5 seconds.
func TestFlashSaleDaemon(t *testing.T) {
	res := runMode(t, ModeDaemon)
	if d := res.Measures.PendingToLaunch; d < 0 || d >= 5e9 {
		t.Errorf("pending to launch %v in daemon mode, want under 5s", d)
	}
}

// TestFlashSaleLambda runs it against the Lambda function under the
// Runtime Interface Emulator, invoked every Options.Tick: pending to
// launch must take at most one schedule interval.
func TestFlashSaleLambda(t *testing.T) {
	res := runMode(t, ModeLambda)
	if d := res.Measures.PendingToLaunch; d < 0 || d > res.Options.Tick {
		t.Errorf("pending to launch %v in Lambda mode, want at most the schedule's %v", d, res.Options.Tick)
	}
}

// TestFlashSaleKnownInCalendar runs it with the sale in the daemon's
// calendar and the predictive policy: the workers are Ready before the
// replicas rise, so no pod of the sale is ever unschedulable.
func TestFlashSaleKnownInCalendar(t *testing.T) {
	res := runMode(t, ModeCalendar)
	if m := res.Measures; !m.Launched || m.FirstLaunch >= 0 || m.FirstPending >= 0 {
		t.Errorf("with the sale in the calendar: first launch %v from the sale's start, first unschedulable pod %v; want the launch before the sale and no pod unschedulable", m.FirstLaunch, m.FirstPending)
	}
}

// TestFlashSaleKarpenter runs the same scenario against Karpenter's kwok
// provider, the peer of the comparison, with the same guarantees.
func TestFlashSaleKarpenter(t *testing.T) {
	runMode(t, ModeKarpenter)
}
