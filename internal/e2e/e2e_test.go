package e2e

import (
	"testing"
)

// TestFlashSale runs the flash sale against node-fleet's daemon on a real
// control plane (kube-apiserver, kube-scheduler, kube-controller-manager,
// kwok), moto and Prometheus, and fails on any broken guarantee: the K3s
// server instance touched, an eviction around a budget, a launch for the
// unplaceable pod, MAX_NODES exceeded, MIN_NODES undercut, no scale-down.
func TestFlashSale(t *testing.T) {
	res := Run(t, Options{Mode: ModeDaemon, Logf: t.Logf})
	t.Logf("timeline (seconds from the sale):\n%s", Format(res.Timeline, res.Zero))
	t.Logf("measures: %+v", res.Measures)
	for _, p := range res.Problems {
		t.Error(p)
	}
}
