package drain

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/node-fleet/node-fleet/autoscaler"
)

// TestListNodesNodeLocalDataWhateverThePodsState: a node whose pods the
// taint manager marked Terminating (NotReady for five minutes) still holds
// their local-path volumes and hostPath data: ListNodes names them in
// LocalData and blocks the node's removal. Pods of DaemonSets (the node's
// plumbing), volumes declared safe to lose, and zonal volumes are not
// node-local data; a pending pod whose volume is pinned to a node keeps
// that node.
func TestListNodesNodeLocalDataWhateverThePodsState(t *testing.T) {
	notReady := func(n *corev1.Node) { n.Status.Conditions[0].Status = corev1.ConditionFalse }
	objs := []runtime.Object{
		node("n1", notReady), node("n2"), node("n3"), node("n4", withLabel(corev1.LabelHostname, "n4")),
		daemonSet("kube-system", "logs"),
		pv("pvc-db", pvLocalPath("n1")), pvc("a", "data-db-0", "pvc-db"),
		pv("pvc-ebs", pvAffinity(corev1.LabelTopologyZone, "eu-west-1a")), pvc("a", "ebs", "pvc-ebs"),
		pv("pvc-q", pvLocalPath("n4")), pvc("a", "data-q-0", "pvc-q"),
		// n1: NotReady, its pods Terminating.
		pod("a", "db-0", "n1", claimVolume("data-db-0"), terminating(t0)),
		pod("a", "agent", "n1", hostPathVolume("/srv/agent"), terminating(t0)),
		pod("kube-system", "logs-n1", "n1", ownedBy("apps/v1", "DaemonSet", "logs"), hostPathVolume("/var/log")),
		// n2: an EBS volume and a hostPath its pod's owner lets go.
		pod("a", "web", "n2", claimVolume("ebs")),
		pod("a", "cache", "n2", hostPathVolume("/tmp/cache"), podAnnotation(CAAnnotationSafeToEvictLocalVolumes, "host")),
		// n4: its pod was evicted and waits to come back to its volume.
		pod("a", "q-0", "", claimVolume("data-q-0")),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type where struct {
		LocalData []string
		Blocker   string
	}
	got := map[string]where{}
	for _, n := range nodes {
		got[n.Name] = where{n.LocalData, n.ScaleDownBlocker}
	}
	const dbPV = "PersistentVolume pvc-db (claim a/data-db-0, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-db))"
	const qPV = "PersistentVolume pvc-q (claim a/data-q-0, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-q))"
	want := map[string]where{
		"n1": {[]string{"hostPath /srv/agent of pod a/agent", dbPV},
			"pod a/agent has node-local data (hostPath /srv/agent of pod a/agent); pod a/db-0 has node-local data (" + dbPV + ")"},
		"n2": {},
		"n3": {},
		"n4": {[]string{qPV}, "pod a/q-0, not running, has node-local data here (" + qPV + ")"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("local data and blockers (-want +got):\n%s", diff)
	}
}

// TestListNodesZoneAndCluster: ListNodes reports each node's zone (the
// topology label, else the deprecated beta one) and its cluster label.
func TestListNodesZoneAndCluster(t *testing.T) {
	objs := []runtime.Object{
		node("a", withLabel(corev1.LabelTopologyZone, "eu-west-1a"), withLabel(autoscaler.LabelCluster, "prod")),
		node("b", withLabel(corev1.LabelFailureDomainBetaZone, "eu-west-1b"), withLabel(autoscaler.LabelCluster, "staging")),
		node("c"),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, n := range nodes {
		got[n.Name] = [2]string{n.Zone, n.Cluster}
	}
	want := map[string][2]string{"a": {"eu-west-1a", "prod"}, "b": {"eu-west-1b", "staging"}, "c": {}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zone and cluster (-want +got):\n%s", diff)
	}
}
