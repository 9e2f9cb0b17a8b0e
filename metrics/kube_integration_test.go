package metrics_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/kube"
	"github.com/node-fleet/node-fleet/metrics"
)

const runLabel = "kubetest.node-fleet.io/run"

// restClient is the client the Lambda function and the daemon use
// (kube.NewForConfig) on the test cluster's connection.
func restClient(t *testing.T, c *kubetest.Cluster) kube.Interface {
	t.Helper()
	k, err := kube.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func requests(cpu, mem string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
}

func podSpec(cpu, mem string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10",
		Resources: corev1.ResourceRequirements{Requests: requests(cpu, mem)}}}}
}

// TestIntegrationKubeSchedulerPacksMixedSizes: on the real API server,
// pending pods of mixed sizes need the number of new workers a packing by
// hand gives; the pods no new worker would help add nothing and are named.
func TestIntegrationKubeSchedulerPacksMixedSizes(t *testing.T) {
	t.Parallel()
	c := kubetest.Connect(t)
	ns := c.Namespace(t, "sched")
	ctx := t.Context()
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m"), corev1.ResourceMemory: resource.MustParse("3584Mi"),
		corev1.ResourcePods: resource.MustParse("17")}
	worker := func(name string, notReady bool, alloc corev1.ResourceList) string {
		return c.AddNode(t, kubetest.NodeOptions{Name: ns + "-" + name, NotReady: notReady, Allocatable: alloc, Labels: map[string]string{
			runLabel: ns, autoscaler.LabelInstanceID: "i-" + name, autoscaler.LabelInstanceType: "t3.medium", "pool": "web"}}).Name
	}
	w1 := worker("w1", false, alloc)
	worker("w2", false, alloc)
	// A NotReady worker says nothing about a new one.
	worker("w3", true, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods: resource.MustParse("110")})

	// The agent lands on every worker (0.1 CPU, 128Mi); the GPU plugin
	// on none.
	for name, sel := range map[string]map[string]string{"agent": {runLabel: ns}, "gpu-plugin": {"gpu": "true"}} {
		spec := podSpec("100m", "128Mi")
		spec.NodeSelector = sel
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: spec}}}
		if _, err := c.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	running := podSpec("500m", "512Mi")
	running.NodeName = w1
	c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: ns}, Spec: running})

	pending := map[string]corev1.PodSpec{
		"p-a": podSpec("1", "1Gi"), "p-b": podSpec("1", "1Gi"), "p-c": podSpec("700m", "512Mi"),
		"p-d": podSpec("600m", "256Mi"), "p-e": podSpec("300m", "256Mi"), "p-f": podSpec("200m", "2Gi"),
		"huge": podSpec("6", "1Gi"),
	}
	typo := podSpec("100m", "64Mi")
	typo.NodeSelector = map[string]string{"pool": "wbe"}
	pending["typo"] = typo
	for name, spec := range pending {
		c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec})
		c.MarkUnschedulable(t, ns, name, "0/3 nodes are available: 3 Insufficient cpu.")
	}
	// Not yet looked at by the scheduler: not counted.
	c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fresh", Namespace: ns}, Spec: podSpec("1", "1Gi")})

	// A new worker's labels are those its launch template and join
	// script give it (WorkerLabels), never learnt from today's workers.
	k, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{Client: restClient(t, c), Namespace: ns, Workers: runLabel + "=" + ns,
		InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096, PageSize: 2, WorkerLabels: map[string]string{runLabel: ns, "pool": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := k.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := snap.Scheduler
	if v == nil {
		t.Fatal("no scheduler view")
	}
	if !snap.PendingPods.OK || snap.PendingPods.Value != 8 {
		t.Errorf("pending pods %v, want 8", snap.PendingPods)
	}
	// Learnt from w1 and w2: 1930m, 3584Mi, 17 pods; the agent takes
	// 100m, 128Mi and a slot: 1830m, 3456Mi, 16 free.
	wantTpl := capacity.WorkerTemplate{
		InstanceType: "t3.medium",
		Allocatable:  capacity.Resources{MilliCPU: 1930, Memory: 3584 << 20, Pods: 17},
		DaemonSet:    capacity.Resources{MilliCPU: 100, Memory: 128 << 20, Pods: 1},
		Labels: map[string]string{runLabel: ns, autoscaler.LabelInstanceType: "t3.medium", "pool": "web",
			"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
		Source: fmt.Sprintf("the smallest of 2 Ready t3.medium workers (CPU of node %s)", w1),
	}
	if diff := cmp.Diff(wantTpl, v.Template); diff != "" {
		t.Errorf("template (-want +got):\n%s", diff)
	}
	// Shares of 1830m / 3456Mi: p-f .593 (memory), p-a .546, p-b .546,
	// p-c .383, p-d .328, p-e .164.
	// W1: p-f (1630m, 1408Mi left), p-a (630m, 384Mi).
	// W2: p-b (830m, 2432Mi), p-c (130m, 1920Mi).
	// p-d (600m, 256Mi) fits W1 (30m, 128Mi left); p-e (300m) fits
	// neither: W3. 3.8 CPU need at least 3 workers of 1.83: optimal.
	if v.NodesNeeded != 3 {
		t.Errorf("NodesNeeded %d, want 3", v.NodesNeeded)
	}
	var unplaceable []string
	for _, p := range v.Unplaceable() {
		unplaceable = append(unplaceable, p.Unplaceable)
	}
	wantUnplaceable := []string{
		"pod " + ns + "/huge requests 6 CPU; a new t3.medium worker offers 1.83",
		"pod " + ns + "/typo cannot run on a new t3.medium worker: its nodeSelector pool=wbe matches no new worker (a new worker has pool=web)",
	}
	if diff := cmp.Diff(wantUnplaceable, unplaceable); diff != "" {
		t.Errorf("unplaceable (-want +got):\n%s", diff)
	}
	// Demand: web-1 (0.5 CPU, 512Mi) plus the placeable pending (3.8,
	// 5120Mi): 4.3 / 1.83 = 2.3497 against 5632Mi / 3456Mi = 1.63.
	if v.Demand < 2.3497 || v.Demand > 2.3498 {
		t.Errorf("Demand %.5f, want 4300/1830 = 2.34973", v.Demand)
	}

	// Without the typo and the huge pod the count is the same: they
	// added nothing.
	for _, name := range []string{"typo", "huge"} {
		if err := c.Client.CoreV1().Pods(ns).Delete(ctx, name, *metav1.NewDeleteOptions(0)); err != nil {
			t.Fatal(err)
		}
	}
	snap, err = k.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.PendingPods.Value != 6 || snap.Scheduler.NodesNeeded != 3 || len(snap.Scheduler.Unplaceable()) != 0 {
		t.Errorf("without the unplaceable pods: pending %v, NodesNeeded %d, unplaceable %v; want 6, 3, none",
			snap.PendingPods, snap.Scheduler.NodesNeeded, snap.Scheduler.Unplaceable())
	}
}

// countingTransport counts the requests to the API server by path.
type countingTransport struct {
	next  http.RoundTripper
	mu    sync.Mutex
	count map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.count[r.Method+" "+r.URL.Path]++
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// TestIntegrationKubeSchedulerReadsOnce: one tick's view of 300 pending
// pods is one paginated list of nodes, of pods and of DaemonSets each, and
// nothing else; the time it takes is logged.
func TestIntegrationKubeSchedulerReadsOnce(t *testing.T) {
	t.Parallel()
	c := kubetest.Connect(t)
	ns := c.Namespace(t, "sched")
	ctx := t.Context()
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m"), corev1.ResourceMemory: resource.MustParse("3584Mi"),
		corev1.ResourcePods: resource.MustParse("110")}
	c.AddNode(t, kubetest.NodeOptions{Allocatable: alloc, Labels: map[string]string{runLabel: ns, autoscaler.LabelInstanceType: "t3.medium"}})
	const n, page = 300, 100
	var wg sync.WaitGroup
	names := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range names {
				c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: podSpec("250m", "256Mi")})
				c.MarkUnschedulable(t, ns, name, "0/1 nodes are available: 1 Insufficient cpu.")
			}
		}()
	}
	for i := range n {
		names <- fmt.Sprintf("p-%03d", i)
	}
	close(names)
	wg.Wait()

	counter := &countingTransport{count: map[string]int{}}
	cfg := rest.CopyConfig(c.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	cs, err := kube.NewForConfig(cfg) // the client the Lambda function uses
	if err != nil {
		t.Fatal(err)
	}
	k, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{Client: cs, Namespace: ns, Workers: runLabel + "=" + ns,
		InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096, PageSize: page})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	snap, err := k.Collect(ctx)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	// 7 pods of 0.25 CPU a worker (1.75 of 1.93): 300 / 7 = 43 workers.
	if snap.PendingPods.Value != n || snap.Scheduler.NodesNeeded != 43 {
		t.Errorf("pending %v, NodesNeeded %d; want %d and 43", snap.PendingPods, snap.Scheduler.NodesNeeded, n)
	}
	t.Logf("the view of %d pending pods took %s over %v", n, took.Round(time.Millisecond), counter.count)
	want := map[string]int{
		"GET /api/v1/namespaces/" + ns + "/pods":             (n + page - 1) / page,
		"GET /apis/apps/v1/namespaces/" + ns + "/daemonsets": 1,
	}
	nodes := counter.count["GET /api/v1/nodes"]
	delete(counter.count, "GET /api/v1/nodes")
	if nodes < 1 {
		t.Errorf("nodes listed %d times", nodes)
	}
	if diff := cmp.Diff(want, counter.count); diff != "" {
		t.Errorf("requests besides the nodes' list (-want +got):\n%s", diff)
	}
}

// TestIntegrationKubeSchedulerKeepsReplicasApart: three replicas that keep
// apart by hostname need three new workers, though by size one would do;
// a small pod shares the first.
func TestIntegrationKubeSchedulerKeepsReplicasApart(t *testing.T) {
	t.Parallel()
	c := kubetest.Connect(t)
	ns := c.Namespace(t, "sched")
	apart := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
		TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
	for _, name := range []string{"db-0", "db-1", "db-2", "web"} {
		spec := podSpec("300m", "256Mi")
		labels := map[string]string{"app": "web"}
		if name != "web" {
			spec.Affinity, labels = apart, map[string]string{"app": "db"}
		}
		c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}, Spec: spec})
		c.MarkUnschedulable(t, ns, name, "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.")
	}
	k, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{Client: restClient(t, c), Namespace: ns, Workers: runLabel + "=" + ns,
		InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := k.Collect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	packing := capacity.PackPending(snap.Scheduler.Template, snap.Scheduler.Pending)
	want := [][]string{{ns + "/db-0", ns + "/web"}, {ns + "/db-1"}, {ns + "/db-2"}}
	if diff := cmp.Diff(want, packing.Workers); diff != "" || snap.Scheduler.NodesNeeded != 3 {
		t.Errorf("NodesNeeded %d, packing (-want +got):\n%s", snap.Scheduler.NodesNeeded, diff)
	}
}

// TestIntegrationKubeSchedulerVolumeZones: on the real API server, a
// pending pod whose claim is bound to an EBS-style volume in one zone
// needs its new worker in that zone, and one whose claim is bound to a
// local-path volume pinned to a node no new worker can take.
func TestIntegrationKubeSchedulerVolumeZones(t *testing.T) {
	t.Parallel()
	c := kubetest.Connect(t)
	ns := c.Namespace(t, "sched")
	for _, z := range []string{"eu-west-1a", "eu-west-1b"} {
		c.AddNode(t, kubetest.NodeOptions{Labels: map[string]string{runLabel: ns, autoscaler.LabelInstanceType: "t3.medium", corev1.LabelTopologyZone: z}})
	}
	c.BoundClaim(t, ns, "data-ebs", kubetest.ZonalVolume("eu-west-1b"))
	c.BoundClaim(t, ns, "data-local", kubetest.LocalPathVolume("some-node"))
	for name, claim := range map[string]string{"ebs": "data-ebs", "local": "data-local"} {
		spec := podSpec("100m", "64Mi")
		spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
		c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: spec})
		c.MarkUnschedulable(t, ns, name, "0/2 nodes are available: 2 node(s) had volume node affinity conflict.")
	}
	k, err := metrics.NewKubeScheduler(metrics.KubeSchedulerConfig{Client: restClient(t, c), Namespace: ns, Workers: runLabel + "=" + ns,
		InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := k.View(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	unplaceable := map[string]bool{}
	for _, p := range v.Pending {
		got[p.Name] = p.Zones
		unplaceable[p.Name] = p.Unplaceable != ""
	}
	if diff := cmp.Diff(map[string][]string{"ebs": {"eu-west-1b"}, "local": nil}, got); diff != "" {
		t.Errorf("zones (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{"ebs": false, "local": true}, unplaceable); diff != "" {
		t.Errorf("unplaceable (-want +got):\n%s", diff)
	}
}
