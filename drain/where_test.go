package drain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
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
	got := whereOf(t, m)
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

// TestListNodesSaysWhereEachMovablePodMayGo: for each pod a drain would
// move, ListNodes works out, with the scheduler's rules, the nodes it may
// run on (nodeSelector, required node affinity, taints it does not
// tolerate, required pod anti-affinity against the pods running there),
// the zone its EBS volume binds it to, its anti-affinity group and its
// zone spread with the pods counted per zone.
func TestListNodesSaysWhereEachMovablePodMayGo(t *testing.T) {
	zone := func(z string) nodeOpt { return withLabel(corev1.LabelTopologyZone, z) }
	tainted := func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	}
	labelled := func(k, v string) podOpt { return func(p *corev1.Pod) { p.Labels = map[string]string{k: v} } }
	selector := func(k, v string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{k: v} } }
	tolerates := func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	}
	apartFrom := func(app string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}}}
		}
	}
	spread := func(p *corev1.Pod) {
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	}
	host := func(name string) nodeOpt { return withLabel(corev1.LabelHostname, name) }
	objs := []runtime.Object{
		node("a1", zone("a"), host("a1"), withLabel("disk", "ssd")),
		node("a2", zone("a"), host("a2")),
		node("b1", zone("b"), host("b1"), tainted),
		pv("pvc-ebs", pvAffinity(corev1.LabelTopologyZone, "a")), pvc("s", "ebs", "pvc-ebs"),
		pod("s", "plain", "a1", labelled("app", "plain")),
		pod("s", "ssd", "a2", labelled("app", "ssd"), selector("disk", "ssd")),
		pod("s", "gpu", "a1", labelled("app", "gpu"), tolerates),
		pod("s", "db-0", "a1", labelled("app", "db"), apartFrom("db")),
		pod("s", "db-1", "a2", labelled("app", "db"), apartFrom("db")),
		pod("s", "vol", "a2", labelled("app", "vol"), claimVolume("ebs")),
		pod("s", "web-0", "a1", labelled("app", "web"), spread),
		pod("s", "web-1", "b1", labelled("app", "web"), spread, tolerates),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]capacity.MovablePod{}
	for _, n := range nodes {
		for _, p := range n.MovablePods {
			p.Requests = capacity.Resources{}
			got[p.Key] = p
		}
	}
	web := &capacity.ZoneSpread{Group: "s/app=web", MaxSkew: 1, Counts: map[string]int{"a": 1, "b": 1}}
	want := map[string]capacity.MovablePod{
		// b1's taint keeps it off b1.
		"s/plain": {Key: "s/plain", Nodes: []string{"a2"}},
		// only a1 has the disk.
		"s/ssd": {Key: "s/ssd", Nodes: []string{"a1"}},
		"s/gpu": {Key: "s/gpu"},
		// each replica is kept off the other's node, and b1 is tainted.
		"s/db-0": {Key: "s/db-0", Nodes: []string{}, Apart: "s/app=db"},
		"s/db-1": {Key: "s/db-1", Nodes: []string{}, Apart: "s/app=db"},
		// its volume lives in zone a: a1 only.
		"s/vol":   {Key: "s/vol", Zone: "a", Nodes: []string{"a1"}},
		"s/web-0": {Key: "s/web-0", Nodes: []string{"a2"}, Spread: web},
		"s/web-1": {Key: "s/web-1", Spread: web},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("movable pods (-want +got):\n%s", diff)
	}
}

// TestDrainRefusesATerminatingPodsNodeLocalData: Drain, like ListNodes,
// refuses a node whose Terminating pod still has a local-path volume
// there, and evicts nothing.
func TestDrainRefusesATerminatingPodsNodeLocalData(t *testing.T) {
	objs := []runtime.Object{
		node("n1"),
		pv("pvc-db", pvLocalPath("n1")), pvc("a", "data-db-0", "pvc-db"),
		pod("a", "db-0", "n1", claimVolume("data-db-0"), terminating(t0)),
		pod("a", "web", "n1"),
	}
	m, cs, _ := newFake(t, Config{}, objs...)
	err := m.Drain(context.Background(), "n1")
	if !errors.Is(err, autoscaler.ErrDrainBlocked) || !strings.Contains(err.Error(), "pod a/db-0 has node-local data") {
		t.Fatalf("Drain = %v, want ErrDrainBlocked naming the Terminating pod's data", err)
	}
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "eviction" {
			t.Errorf("evicted although blocked: %v", a)
		}
	}
}

// TestListNodesKeepsANodeWhoseLocalVolumeNoPodUsesNow: a StatefulSet's
// pod deleted (scaled to zero, or deleted and not yet recreated) leaves
// its claim bound to a local-path volume pinned to the node: the data is
// still there, so the node keeps it in LocalData and ScaleDownBlocker,
// though no pod names the claim. A claim bound to a zonal volume is not
// node-local.
func TestListNodesKeepsANodeWhoseLocalVolumeNoPodUsesNow(t *testing.T) {
	objs := []runtime.Object{
		node("n1", withLabel(corev1.LabelHostname, "n1")), node("n2", withLabel(corev1.LabelHostname, "n2")),
		pv("pvc-db", pvLocalPath("n1")), pvc("a", "data-db-0", "pvc-db"),
		pv("pvc-ebs", pvAffinity(corev1.LabelTopologyZone, "eu-west-1a")), pvc("a", "ebs", "pvc-ebs"),
		pod("a", "web", "n2"),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	got := whereOf(t, m)
	const dbPV = "PersistentVolume pvc-db (claim a/data-db-0, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-db))"
	want := map[string]where{
		"n1": {[]string{dbPV}, "node-local data no pod uses now (" + dbPV + ")"},
		"n2": {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("local data and blockers (-want +got):\n%s", diff)
	}
}

// TestDrainRefusesANodeWhoseLocalVolumeNoPodUsesNow: Drain, like
// ListNodes, refuses a node that a claim no pod uses now still has a
// local-path volume on, and evicts nothing.
func TestDrainRefusesANodeWhoseLocalVolumeNoPodUsesNow(t *testing.T) {
	objs := []runtime.Object{
		node("n1", withLabel(corev1.LabelHostname, "n1")),
		pv("pvc-db", pvLocalPath("n1")), pvc("a", "data-db-0", "pvc-db"),
		pod("a", "web", "n1"),
	}
	m, cs, _ := newFake(t, Config{}, objs...)
	// The fake clock never moves: a drain that goes ahead waits for its
	// evicted pod until ctx ends.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.Drain(ctx, "n1")
	if !errors.Is(err, autoscaler.ErrDrainBlocked) || !strings.Contains(err.Error(), "PersistentVolume pvc-db") {
		t.Fatalf("Drain = %v, want ErrDrainBlocked naming the volume", err)
	}
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "eviction" {
			t.Errorf("evicted although blocked: %v", a)
		}
	}
}

// TestListNodesKeepsANodeWhoseReleasedLocalVolumeKeepsItsData: a claim
// deleted while its local-path volume's reclaim policy is Retain leaves the
// volume Released, its data on the node for an operator to recover: the
// node keeps it in LocalData and ScaleDownBlocker, and Drain refuses it.
// A volume never bound (Available, no claim) holds no one's data.
func TestListNodesKeepsANodeWhoseReleasedLocalVolumeKeepsItsData(t *testing.T) {
	released := func(v *corev1.PersistentVolume) {
		v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "a", Name: "data-db-0"}
		v.Status.Phase = corev1.VolumeReleased
	}
	available := func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeAvailable }
	objs := []runtime.Object{
		node("n1", withLabel(corev1.LabelHostname, "n1")), node("n2", withLabel(corev1.LabelHostname, "n2")),
		pv("pvc-db", pvLocalPath("n1"), released),
		pv("local-n2", pvLocalPath("n2"), available),
		pod("a", "web", "n1"),
	}
	m, cs, _ := newFake(t, Config{}, objs...)
	got := whereOf(t, m)
	const dbPV = "PersistentVolume pvc-db (Released by claim a/data-db-0, reclaim policy Retain, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-db))"
	want := map[string]where{
		"n1": {[]string{dbPV}, "node-local data no pod uses now (" + dbPV + ")"},
		"n2": {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("local data and blockers (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.Drain(ctx, "n1"); !errors.Is(err, autoscaler.ErrDrainBlocked) || !strings.Contains(err.Error(), "PersistentVolume pvc-db") {
		t.Fatalf("Drain = %v, want ErrDrainBlocked naming the released volume", err)
	}
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "eviction" {
			t.Errorf("evicted although blocked: %v", a)
		}
	}
}

// where is a node's node-local data and its scale-down blocker.
type where struct {
	LocalData []string
	Blocker   string
}

// whereOf lists the nodes of m and returns each one's where.
func whereOf(t *testing.T, m *Manager) map[string]where {
	t.Helper()
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]where{}
	for _, n := range nodes {
		got[n.Name] = where{n.LocalData, n.ScaleDownBlocker}
	}
	return got
}

// TestListNodesLetsGoALocalVolumeItsPodDeclaresSafeToLose: a pod that
// names its local-path volume in safe-to-evict-local-volumes lets its
// node go: the volume is neither its node-local data nor counted as data
// no pod uses. Another pod using the same claim without the annotation
// still keeps the node.
func TestListNodesLetsGoALocalVolumeItsPodDeclaresSafeToLose(t *testing.T) {
	safe := podAnnotation(CAAnnotationSafeToEvictLocalVolumes, "data")
	objs := []runtime.Object{
		node("n1", withLabel(corev1.LabelHostname, "n1")), node("n2", withLabel(corev1.LabelHostname, "n2")),
		pv("pvc-cache", pvLocalPath("n1")), pvc("a", "cache", "pvc-cache"),
		pod("a", "cache-0", "n1", claimVolume("cache"), safe),
		pv("pvc-db", pvLocalPath("n2")), pvc("a", "db", "pvc-db"),
		pod("a", "a-db", "n2", claimVolume("db"), safe),
		pod("a", "b-db", "n2", claimVolume("db")),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	const dbPV = "PersistentVolume pvc-db (claim a/db, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-db))"
	got := whereOf(t, m)
	if diff := cmp.Diff(where{}, got["n1"]); diff != "" {
		t.Errorf("n1, its volume declared safe to lose (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{dbPV}, got["n2"].LocalData); diff != "" {
		t.Errorf("n2, its volume also used by a pod that did not declare it (-want +got):\n%s", diff)
	}
}

// TestPinnedDataFindsVolumesPinnedToNodeNamesWithNoNode: PinnedData names
// every volume that holds data on one node, under each node name its
// affinity names, whether or not such a Node exists (its Node deleted
// while the machine runs); a volume never bound, or pinned to a zone
// only, is not there.
func TestPinnedDataFindsVolumesPinnedToNodeNamesWithNoNode(t *testing.T) {
	claimed := func(ns, name string) pvOpt {
		return func(v *corev1.PersistentVolume) {
			v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name}
			v.Status.Phase = corev1.VolumeBound
		}
	}
	released := func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeReleased }
	byField := func(v *corev1.PersistentVolume) {
		v.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd0"}}
		v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"ip-10-0-1-24", "ip-10-0-1-25"}}}}}}}
	}
	objs := []runtime.Object{
		node("n1", withLabel(corev1.LabelHostname, "n1")),
		pv("pvc-db", pvLocalPath("ip-10-0-1-23.ec2.internal"), claimed("a", "data-db-0")),
		pv("pvc-old", pvLocalPath("ip-10-0-1-23.ec2.internal"), claimed("a", "data-old-0"), released),
		pv("pvc-n1", pvLocalPath("n1"), claimed("a", "data-q-0")),
		pv("local-ssd", byField, claimed("b", "ssd")),
		pv("pvc-spare", pvLocalPath("ip-10-0-1-99")),
		pv("pvc-ebs", pvAffinity(corev1.LabelTopologyZone, "eu-west-1a"), claimed("a", "ebs")),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	got, err := m.PinnedData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const ssd = "PersistentVolume local-ssd (claim b/ssd, a local volume (/mnt/disks/ssd0))"
	want := map[string][]string{
		"ip-10-0-1-23.ec2.internal": {
			"PersistentVolume pvc-db (claim a/data-db-0, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-db))",
			"PersistentVolume pvc-old (claim a/data-old-0, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-old))",
		},
		"n1":           {"PersistentVolume pvc-n1 (claim a/data-q-0, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-n1))"},
		"ip-10-0-1-24": {ssd},
		"ip-10-0-1-25": {ssd},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pinned data (-want +got):\n%s", diff)
	}
}

// TestPinnedDataFailsWhenVolumesCannotBeListed: a failed list is an
// error, never an empty answer (the autoscaler then holds repair).
func TestPinnedDataFailsWhenVolumesCannotBeListed(t *testing.T) {
	m, cs, _ := newFake(t, Config{}, pv("pvc-db", pvLocalPath("ip-10-0-1-23")))
	cs.PrependReactor("list", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("persistentvolumes is forbidden")
	})
	if got, err := m.PinnedData(context.Background()); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("PinnedData = %v, %v; want the list's error", got, err)
	}
}

// TestListNodesFinishedPodsHostPathDataIsLocalData: a pod that has run
// to completion, Failed or Succeeded, leaves what it wrote to a hostPath
// volume on the node's disk (the phase says nothing about the
// directory): ListNodes names it in LocalData and ScaleDownBlocker until
// the pod is deleted, unless its owner declared the volume safe to lose;
// a finished pod without hostPath holds nothing.
func TestListNodesFinishedPodsHostPathDataIsLocalData(t *testing.T) {
	objs := []runtime.Object{
		node("n1"), node("n2"), node("n3"),
		pod("a", "import-1", "n1", hostPathVolume("/srv/import"), phase(corev1.PodFailed)),
		pod("a", "backup-1", "n2", hostPathVolume("/srv/backup"), phase(corev1.PodSucceeded)),
		pod("a", "scratch-1", "n3", hostPathVolume("/tmp/scratch"), phase(corev1.PodFailed),
			podAnnotation(CAAnnotationSafeToEvictLocalVolumes, "host")),
		pod("a", "report-1", "n3", phase(corev1.PodSucceeded)),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	got := whereOf(t, m)
	want := map[string]where{
		"n1": {[]string{"hostPath /srv/import of pod a/import-1"}, "pod a/import-1 (Failed) has node-local data (hostPath /srv/import of pod a/import-1)"},
		"n2": {[]string{"hostPath /srv/backup of pod a/backup-1"}, "pod a/backup-1 (Succeeded) has node-local data (hostPath /srv/backup of pod a/backup-1)"},
		"n3": {},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("local data and blockers (-want +got):\n%s", diff)
	}
}

// TestDrainRefusesAFailedPodsHostPathData: Drain, like ListNodes, refuses
// a node where a Failed pod's hostPath data is, and evicts nothing.
func TestDrainRefusesAFailedPodsHostPathData(t *testing.T) {
	objs := []runtime.Object{
		node("n1"),
		pod("a", "import-1", "n1", hostPathVolume("/srv/import"), phase(corev1.PodFailed)),
		pod("a", "web", "n1"),
	}
	m, cs, _ := newFake(t, Config{}, objs...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.Drain(ctx, "n1")
	if !errors.Is(err, autoscaler.ErrDrainBlocked) || !strings.Contains(err.Error(), "pod a/import-1 has node-local data") {
		t.Fatalf("Drain = %v, want ErrDrainBlocked naming the Failed pod's data", err)
	}
	for _, a := range cs.Actions() {
		if a.GetSubresource() == "eviction" {
			t.Errorf("evicted although blocked: %v", a)
		}
	}
}

// TestListingPodsKeepsOnlyTheFinishedPodsThatHoldHostPathData: on a
// cluster with many completed Jobs, the pods ListNodes holds in memory
// are the live ones and the finished ones with a hostPath volume (what
// their node still holds); other finished pods are dropped page by page.
func TestListingPodsKeepsOnlyTheFinishedPodsThatHoldHostPathData(t *testing.T) {
	objs := []runtime.Object{node("n1"),
		pod("a", "web", "n1"),
		pod("a", "import-1", "n1", hostPathVolume("/srv/import"), phase(corev1.PodFailed))}
	for i := range 1200 {
		objs = append(objs, pod("jobs", fmt.Sprintf("report-%04d", i), "n1", phase(corev1.PodSucceeded)))
	}
	m, _, _ := newFake(t, Config{}, objs...)
	pods, err := m.allPods(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pods {
		got = append(got, p.Namespace+"/"+p.Name)
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"a/import-1", "a/web"}, got); diff != "" {
		t.Errorf("pods held (-want +got):\n%s", diff)
	}
}

// TestDrainRefusesDataBroughtByAPodBoundDuringTheDrain: a pod that
// tolerates the cordon (tolerations: operator Exists) can be bound to
// the node while its other pods are evicted, and write to a hostPath
// volume there; Drain, which returns nil only when the node can go,
// looks again once the evicted pods are gone and refuses the node.
func TestDrainRefusesDataBroughtByAPodBoundDuringTheDrain(t *testing.T) {
	m, cs, clk := newFake(t, Config{Timeout: time.Minute, RetryInterval: 5 * time.Second, PollInterval: time.Second},
		node("n1"), pod("a", "web-1", "n1"))
	newEvictions(cs, clk)
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "eviction" {
			if err := cs.Tracker().Add(pod("a", "db-0", "n1", hostPathVolume("/srv/db"))); err != nil {
				t.Error(err)
			}
		}
		return false, nil, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.Drain(ctx, "n1")
	if !errors.Is(err, autoscaler.ErrDrainBlocked) || !strings.Contains(err.Error(), "a/db-0") {
		t.Fatalf("Drain = %v, want ErrDrainBlocked naming a/db-0's data", err)
	}
}

// TestListNodesNeverListsAControlPlaneNode: a K3s server (labelled
// control-plane or master, as K3s labels its servers) is never one of the
// fleet's nodes, even when it carries the selector's labels and a worker's
// instance id by mistake: it is never drained, cordoned or deleted.
func TestListNodesNeverListsAControlPlaneNode(t *testing.T) {
	fleet := func(n *corev1.Node) {
		withLabel(autoscaler.LabelCluster, "prod")(n)
		withLabel(autoscaler.LabelInstanceID, "i-0worker")(n)
	}
	objs := []runtime.Object{
		node("server", fleet, withLabel("node-role.kubernetes.io/control-plane", "true")),
		node("old-server", fleet, withLabel("node-role.kubernetes.io/master", "true")),
		node("worker", fleet),
	}
	m, _, _ := newFake(t, Config{NodeSelector: autoscaler.LabelCluster + "=prod"}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nodes {
		got = append(got, n.Name)
	}
	if diff := cmp.Diff([]string{"worker"}, got); diff != "" {
		t.Errorf("nodes listed (-want +got):\n%s", diff)
	}
}
