package main

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// The daemon's Deployment schedules on a stock K3s server node (K3s's own
// labels, with or without the taints operators put on servers), and on no
// worker.
func TestDaemonManifestSchedulesOnAStockK3sServer(t *testing.T) {
	var dep *appsv1.Deployment
	for _, o := range decodeDocs(t, "deploy/daemon/daemon.yaml", readFile(t, "../../deploy/daemon/daemon.yaml")) {
		if d, ok := o.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	if dep == nil {
		t.Fatal("deploy/daemon/daemon.yaml has no Deployment")
	}
	spec := dep.Spec.Template.Spec
	server := map[string]string{ // what K3s v1.3x sets on a server node
		"node-role.kubernetes.io/control-plane": "true",
		"node-role.kubernetes.io/master":        "true",
		"kubernetes.io/os":                      "linux",
		"kubernetes.io/hostname":                "ip-10-0-1-10",
	}
	worker := map[string]string{
		"kubernetes.io/os":       "linux",
		"kubernetes.io/hostname": "ip-10-0-2-7",
		"node-fleet.io/cluster":  "shop",
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		taints []corev1.Taint
		want   bool
	}{
		{"server, untainted", server, nil, true},
		{"server, control-plane taint", server, []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}, true},
		{"server, CriticalAddonsOnly", server, []corev1.Taint{{Key: "CriticalAddonsOnly", Value: "true", Effect: corev1.TaintEffectNoExecute}}, true},
		{"worker", worker, nil, false},
	} {
		if got := schedulable(spec, c.labels, c.taints); got != c.want {
			t.Errorf("%s: schedulable %v, want %v (nodeSelector %v, tolerations %v)", c.name, got, c.want, spec.NodeSelector, spec.Tolerations)
		}
	}
}

// schedulable applies the scheduler's nodeSelector and taint rules.
func schedulable(spec corev1.PodSpec, labels map[string]string, taints []corev1.Taint) bool {
	for k, v := range spec.NodeSelector {
		if labels[k] != v {
			return false
		}
	}
	for i := range taints {
		if taints[i].Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		tolerated := false
		for j := range spec.Tolerations {
			if spec.Tolerations[j].ToleratesTaint(klog.Background(), &taints[i], false) {
				tolerated = true
			}
		}
		if !tolerated {
			return false
		}
	}
	return true
}
