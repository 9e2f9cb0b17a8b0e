package drain_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/drain"
	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/internal/testenv"
	"github.com/node-fleet/node-fleet/kube"
)

// These tests run against the kube-apiserver and kube-controller-manager
// that the test command starts (scripts/svc/kube.sh). The controller-manager
// computes PodDisruptionBudget status and runs the ReplicaSet and DaemonSet
// controllers; kubetest plays scheduler and kubelet.

// runLabel marks the nodes of one test, so that its Manager sees only them.
const runLabel = "kubetest.node-fleet.io/run"

// setup connects, makes a namespace and returns a Manager limited to the
// test's nodes (labelled runLabel=<namespace>).
func setup(t *testing.T, cfg drain.Config) (*kubetest.Cluster, string, *drain.Manager) {
	t.Helper()
	c := kubetest.Connect(t)
	ns := c.Namespace(t, "drain")
	// The REST client the Lambda function and the daemon use.
	k, err := kube.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Client = k
	cfg.NodeSelector = runLabel + "=" + ns
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	m, err := drain.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, ns, m
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func addNode(t *testing.T, c *kubetest.Cluster, ns string, o kubetest.NodeOptions) string {
	t.Helper()
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	o.Labels[runLabel] = ns
	return c.AddNode(t, o).Name
}

// replicaSet runs replicas pods labelled app=<app>, with the given grace
// period.
func replicaSet(t *testing.T, c *kubetest.Cluster, ns, app string, replicas int32, mutate ...func(*corev1.PodSpec)) {
	t.Helper()
	grace := int64(30)
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		Containers:                    []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}},
	}
	for _, f := range mutate {
		f(&spec)
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}}, Spec: spec},
		},
	}
	if _, err := c.Client.AppsV1().ReplicaSets(ns).Create(t.Context(), rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runningOn counts the Running, Ready, not terminating pods labelled
// app=<app> on node.
func runningOn(t *testing.T, c *kubetest.Cluster, ns, app, node string) int {
	t.Helper()
	l, err := c.Client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=" + app, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			n++
		}
	}
	return n
}

func waitRunning(t *testing.T, c *kubetest.Cluster, ns, app, node string, want int) {
	t.Helper()
	kubetest.Eventually(t, 60*time.Second, fmt.Sprintf("%d pods %s running on %s", want, app, node), func() (bool, error) {
		return runningOn(t, c, ns, app, node) == want, nil
	})
}

// budget creates a PodDisruptionBudget over app=<app> and waits until the
// disruption controller reports healthy pods and allowed disruptions.
func budget(t *testing.T, c *kubetest.Cluster, ns, app string, minAvailable, maxUnavailable *intstr.IntOrString, healthy, allowed int32) {
	t.Helper()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
	}
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 60*time.Second, fmt.Sprintf("budget %s: %d healthy, %d disruptions allowed", app, healthy, allowed), func() (bool, error) {
		got, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(t.Context(), app, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := got.Status
		return s.ObservedGeneration == got.Generation && s.CurrentHealthy == healthy && s.DisruptionsAllowed == allowed, nil
	})
}

func unschedulable(t *testing.T, c *kubetest.Cluster, node string) bool {
	t.Helper()
	n, err := c.Client.CoreV1().Nodes().Get(t.Context(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Spec.Unschedulable
}

func TestIntegrationCordonUncordonDelete(t *testing.T) {
	t.Parallel()
	c, ns, m := setup(t, drain.Config{})
	ctx := t.Context()
	node := addNode(t, c, ns, kubetest.NodeOptions{})
	for _, s := range []struct {
		op   func(context.Context, string) error
		want bool
	}{{m.Cordon, true}, {m.Cordon, true}, {m.Uncordon, false}, {m.Uncordon, false}, {m.Cordon, true}} {
		if err := s.op(ctx, node); err != nil {
			t.Fatal(err)
		}
		if got := unschedulable(t, c, node); got != s.want {
			t.Errorf("unschedulable %v, want %v", got, s.want)
		}
	}
	missing := kubetest.Name("missing")
	for name, op := range map[string]func(context.Context, string) error{"Cordon": m.Cordon, "Uncordon": m.Uncordon, "Drain": m.Drain} {
		if err := op(ctx, missing); !errors.Is(err, autoscaler.ErrNotFound) {
			t.Errorf("%s of a missing node: %v, want ErrNotFound", name, err)
		}
	}
	for range 2 { // the second time the node is gone already
		if err := m.DeleteNode(ctx, node); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node still there: %v", err)
	}
}

// TestIntegrationDrainLeavesDaemonSetAndMirrorPods drains a node that runs
// ReplicaSet pods, a DaemonSet pod, a mirror pod and a finished pod: only
// the ReplicaSet's pods are evicted, and they come back on the other node.
func TestIntegrationDrainLeavesDaemonSetAndMirrorPods(t *testing.T) {
	t.Parallel()
	c, ns, m := setup(t, drain.Config{RetryInterval: 200 * time.Millisecond, PollInterval: 100 * time.Millisecond, Timeout: time.Minute})
	ctx := t.Context()
	a := addNode(t, c, ns, kubetest.NodeOptions{Labels: map[string]string{"ds": ns}})
	b := addNode(t, c, ns, kubetest.NodeOptions{})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{BindTo: []string{a, b}, FinishTerminating: true})

	replicaSet(t, c, ns, "web", 2)
	waitRunning(t, c, ns, "web", a, 2)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{NodeSelector: map[string]string{"ds": ns},
					Containers: []corev1.Container{{Name: "agent", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
	if _, err := c.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, c, ns, "agent", a, 1)
	nodeObj, err := c.Client.CoreV1().Nodes().Get(ctx, a, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.RunPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "static-" + a, Namespace: ns, Labels: map[string]string{"app": "static"},
			Annotations:     map[string]string{drain.AnnotationMirrorPod: "hash"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a, UID: nodeObj.UID}}},
		Spec: corev1.PodSpec{NodeName: a, Containers: []corev1.Container{{Name: "s", Image: "registry.k8s.io/pause:3.10"}}},
	})
	done := c.RunPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: ns},
		Spec:       corev1.PodSpec{NodeName: a, RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "j", Image: "registry.k8s.io/pause:3.10"}}},
	})
	done.Status.Phase = corev1.PodSucceeded
	if _, err := c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	nodes, err := m.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]int{}
	for _, n := range nodes {
		pods[n.Name] = n.Pods
		if n.ScaleDownBlocker != "" {
			t.Errorf("node %s blocked: %s", n.Name, n.ScaleDownBlocker)
		}
	}
	if diff := cmp.Diff(map[string]int{a: 2, b: 0}, pods); diff != "" {
		t.Errorf("pods to evict per node (-want +got):\n%s", diff)
	}

	start := time.Now()
	if err := m.Drain(ctx, a); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	t.Logf("drained in %s", time.Since(start).Round(time.Millisecond))
	if !unschedulable(t, c, a) {
		t.Error("node not cordoned after Drain")
	}
	left := c.PodsOn(t, ns, a)
	for i, p := range left {
		left[i] = kubetest.Prefix(p)
	}
	if diff := cmp.Diff([]string{"agent", "job", "static"}, left); diff != "" {
		t.Errorf("pods left on the drained node (-want +got):\n%s", diff)
	}
	waitRunning(t, c, ns, "web", b, 2)
}

// TestIntegrationBudgetBlocksUntilTimeout: a budget with minAvailable equal
// to the replicas allows no eviction; ListNodes says so, Drain retries
// until its timeout and fails with ErrDrainBlocked, nothing is evicted, and
// the caller uncordons the node.
func TestIntegrationBudgetBlocksUntilTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	c, ns, m := setup(t, drain.Config{Timeout: timeout, RetryInterval: 500 * time.Millisecond})
	ctx := t.Context()
	a := addNode(t, c, ns, kubetest.NodeOptions{})
	b := addNode(t, c, ns, kubetest.NodeOptions{})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{BindTo: []string{a, b}, FinishTerminating: true})
	replicaSet(t, c, ns, "db", 2)
	waitRunning(t, c, ns, "db", a, 2)
	two := intstr.FromInt32(2)
	budget(t, c, ns, "db", &two, nil, 2, 0)

	nodes, err := m.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == a && !strings.Contains(n.ScaleDownBlocker, "PodDisruptionBudget db, which allows no disruption now") {
			t.Errorf("node %s blocker %q, want the budget", a, n.ScaleDownBlocker)
		}
	}

	start := time.Now()
	err = m.Drain(ctx, a)
	took := time.Since(start)
	if !errors.Is(err, autoscaler.ErrDrainBlocked) {
		t.Fatalf("Drain: %v, want ErrDrainBlocked", err)
	}
	t.Logf("Drain gave up after %s: %v", took.Round(time.Millisecond), err)
	if took < timeout || took > timeout+5*time.Second {
		t.Errorf("Drain took %s, want about the timeout %s", took, timeout)
	}
	if !strings.Contains(err.Error(), "disruption budget") {
		t.Errorf("error %q does not name the budget's refusal", err)
	}
	if got := runningOn(t, c, ns, "db", a); got != 2 {
		t.Errorf("%d db pods left running on %s, want 2: nothing may be evicted behind the budget", got, a)
	}
	if !unschedulable(t, c, a) {
		t.Error("node not left cordoned for the caller")
	}
	if err := m.Uncordon(ctx, a); err != nil {
		t.Fatal(err)
	}
	if unschedulable(t, c, a) {
		t.Error("node still cordoned after Uncordon")
	}
}

// TestIntegrationBudgetOneAtATime: a budget allowing one disruption lets
// the drain evict one pod, wait until its replacement is Ready elsewhere,
// and go on, until the node is empty.
func TestIntegrationBudgetOneAtATime(t *testing.T) {
	t.Parallel()
	var logs testenv.SyncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, ns, m := setup(t, drain.Config{Timeout: 90 * time.Second, RetryInterval: 200 * time.Millisecond, PollInterval: 100 * time.Millisecond, Logger: logger})
	ctx := t.Context()
	a := addNode(t, c, ns, kubetest.NodeOptions{})
	b := addNode(t, c, ns, kubetest.NodeOptions{})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{BindTo: []string{a, b}, FinishTerminating: true})
	replicaSet(t, c, ns, "api", 3)
	waitRunning(t, c, ns, "api", a, 3)
	one := intstr.FromInt32(1)
	budget(t, c, ns, "api", nil, &one, 3, 1)

	// Watch that the budget is never overdrawn while draining.
	var worst int
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
			if err != nil {
				continue
			}
			ready := 0
			for _, p := range l.Items {
				if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
					ready++
				}
			}
			worst = max(worst, 3-ready)
		}
	}()
	start := time.Now()
	err := m.Drain(ctx, a)
	close(stop)
	<-watched
	if err != nil {
		t.Fatalf("Drain: %v\n%s", err, logs.String())
	}
	t.Logf("drained 3 pods one at a time in %s", time.Since(start).Round(time.Millisecond))
	if got := runningOn(t, c, ns, "api", a); got != 0 {
		t.Errorf("%d pods left on the drained node", got)
	}
	waitRunning(t, c, ns, "api", b, 3)
	if n := strings.Count(logs.String(), "msg=evicted"); n != 3 {
		t.Errorf("%d evictions logged, want 3", n)
	}
	if !strings.Contains(logs.String(), "evictions refused, retrying") {
		t.Errorf("no eviction was refused by the budget: the test proves nothing\n%s", logs.String())
	}
	if worst > 1 {
		t.Errorf("%d pods were unavailable at once; the budget allows 1", worst)
	}
}

// TestIntegrationAnnotations: the cluster-autoscaler's annotations and
// node-fleet's own keep nodes from being removed, and "safe-to-evict: true"
// lets an unmanaged pod with local storage go.
func TestIntegrationAnnotations(t *testing.T) {
	t.Parallel()
	c, ns, m := setup(t, drain.Config{PollInterval: 100 * time.Millisecond, Timeout: 30 * time.Second})
	ctx := t.Context()
	caOff := addNode(t, c, ns, kubetest.NodeOptions{Annotations: map[string]string{drain.CAAnnotationScaleDownDisabled: "true"}})
	ownOff := addNode(t, c, ns, kubetest.NodeOptions{Annotations: map[string]string{autoscaler.AnnotationScaleDownDisabled: "true"}})
	pinned := addNode(t, c, ns, kubetest.NodeOptions{})
	free := addNode(t, c, ns, kubetest.NodeOptions{})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{FinishTerminating: true})
	pause := []corev1.Container{{Name: "p", Image: "registry.k8s.io/pause:3.10"}}
	c.RunPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: ns, Annotations: map[string]string{drain.CAAnnotationSafeToEvict: "false"}},
		Spec:       corev1.PodSpec{NodeName: pinned, Containers: pause},
	})
	c.RunPod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "scratch", Namespace: ns, Annotations: map[string]string{autoscaler.AnnotationSafeToEvict: "true"}},
		Spec: corev1.PodSpec{NodeName: free, Containers: pause,
			Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	})

	nodes, err := m.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range nodes {
		got[n.Name] = n.ScaleDownBlocker
	}
	want := map[string]string{
		caOff:  "node annotated cluster-autoscaler.kubernetes.io/scale-down-disabled=true",
		ownOff: "node annotated node-fleet.io/scale-down-disabled=true",
		pinned: "pod " + ns + "/pinned is annotated cluster-autoscaler.kubernetes.io/safe-to-evict=false",
		free:   "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blockers (-want +got):\n%s", diff)
	}
	for _, n := range []string{caOff, pinned} {
		if err := m.Drain(ctx, n); !errors.Is(err, autoscaler.ErrDrainBlocked) {
			t.Errorf("Drain %s: %v, want ErrDrainBlocked", n, err)
		}
	}
	if diff := cmp.Diff([]string{"pinned"}, c.PodsOn(t, ns, pinned)); diff != "" {
		t.Errorf("pods on the pinned node (-want +got):\n%s", diff)
	}
	if err := m.Drain(ctx, free); err != nil {
		t.Fatalf("Drain of the node whose pod is safe to evict: %v", err)
	}
	if left := c.PodsOn(t, ns, free); len(left) != 0 {
		t.Errorf("pods left after drain: %v", left)
	}
}

// tickParts wires an Autoscaler on the real API server (through m) with
// in-memory fleet, metrics, lock and state.
func tickParts(t *testing.T, m *drain.Manager, policy autoscaler.Policy, cfg func(*autoscaler.Config)) (*autoscaler.Autoscaler, *fake.Fleet) {
	t.Helper()
	clk := clock.RealClock{}
	fleet := fake.NewFleet(clk)
	store := fake.NewStore(clk)
	metrics := &fake.Metrics{}
	now := time.Now()
	metrics.Set(autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(10, now), Memory: autoscaler.Value(10, now),
		PendingPods: autoscaler.Value(0, now), APILatency: autoscaler.Value(0.01, now)})
	c := autoscaler.DefaultConfig()
	c.ClusterID = "kubetest"
	c.Metrics, c.Policy, c.Locker, c.State, c.Fleet, c.Nodes = metrics, policy, store, store, fleet, m
	c.MinNodes = autoscaler.NoMinimum
	c.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	if cfg != nil {
		cfg(&c)
	}
	a, err := autoscaler.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return a, fleet
}

// TestIntegrationTickGhostAndOrphan runs a tick on the real API server: an
// instance that never became a node is terminated as a ghost, one whose
// node (matched by its private IP) has been NotReady for ten minutes is
// replaced and its Node deleted, and a managed Node whose instance is gone
// is deleted; the node matched through the instance-id label (K3s, no cloud
// provider) and a Node that is not node-fleet's are left alone.
func TestIntegrationTickGhostAndOrphan(t *testing.T) {
	t.Parallel()
	c, ns, m := setup(t, drain.Config{})
	ctx := t.Context()
	worker := addNode(t, c, ns, kubetest.NodeOptions{ProviderID: "k3s://worker", InternalIP: "10.0.1.10",
		Labels: map[string]string{autoscaler.LabelInstanceID: "i-0worker", autoscaler.LabelCluster: "kubetest"}})
	orphan := addNode(t, c, ns, kubetest.NodeOptions{NotReady: true, InternalIP: "10.0.1.11",
		Labels: map[string]string{autoscaler.LabelInstanceID: "i-0gone", autoscaler.LabelCluster: "kubetest"}})
	foreign := addNode(t, c, ns, kubetest.NodeOptions{NotReady: true}) // not node-fleet's: never deleted
	sick := addNode(t, c, ns, kubetest.NodeOptions{NotReady: true, Since: time.Now().Add(-10 * time.Minute), InternalIP: "10.0.1.14"})

	a, fleet := tickParts(t, m, autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.HoldBecause("test")
	}), func(c *autoscaler.Config) {
		// Two of the four instances are bad (the ghost and the sick
		// one): at the default third or at half, repair would hold as
		// for a mass NotReady. Here they are the test.
		c.MassNotReadyShare = 0.6
	})
	now := time.Now()
	fleet.Add(autoscaler.Instance{ID: "i-0worker", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: now.Add(-time.Hour), PrivateIP: "10.0.1.10"})
	fleet.Add(autoscaler.Instance{ID: "i-0ghost", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: now.Add(-20 * time.Minute), PrivateIP: "10.0.1.12"})
	fleet.Add(autoscaler.Instance{ID: "i-0young", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: now.Add(-time.Minute), PrivateIP: "10.0.1.13"})
	fleet.Add(autoscaler.Instance{ID: "i-0sick", State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: now.Add(-time.Hour), PrivateIP: "10.0.1.14"})

	res, err := a.RunOnce(ctx)
	if err != nil {
		t.Fatalf("tick: %v (%s)", err, res)
	}
	t.Logf("tick: %s", res)
	type summary struct {
		Ghosts, Replaced  []string
		Orphans           []string
		Ready, Booting    int
		TerminateCalls    []string
		NodesLeftInThisNS []string
	}
	var calls []string
	for _, cl := range fleet.CallsTo(fake.Terminate) {
		calls = append(calls, cl.Args)
	}
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: runLabel + "=" + ns})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, n := range nodes.Items {
		left = append(left, n.Name)
	}
	wantLeft := []string{worker, foreign}
	if foreign < worker {
		wantLeft = []string{foreign, worker}
	}
	got := summary{res.Ghosts(), res.Replaced(), res.OrphansDeleted(), res.ReadyNodes, res.Booting, calls, left}
	// The executor terminates each instance in a step of its own, so
	// that one that cannot be terminated does not stop the others.
	want := summary{[]string{"i-0ghost"}, []string{"i-0sick"}, []string{orphan}, 1, 1, []string{"i-0ghost", "i-0sick"}, wantLeft}
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, sick, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the NotReady node %s was not deleted: %v", sick, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tick (-want +got):\n%s", diff)
	}
}

// TestIntegrationTickAbandonsBlockedScaleDown: the tick chooses a node
// whose budget allows one disruption (its pods fit on the other worker, b,
// kept itself by its scale-down-disabled annotation), but the replacement
// of the first evicted pod never becomes Ready (b has no kubelet, and no
// scheduler binds it there), so the second eviction is refused until the
// drain's timeout; the tick abandons the scale-down, uncordons the node
// and terminates nothing.
func TestIntegrationTickAbandonsBlockedScaleDown(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	c, ns, m := setup(t, drain.Config{Timeout: timeout, RetryInterval: 300 * time.Millisecond, PollInterval: 100 * time.Millisecond})
	ctx := t.Context()
	a := addNode(t, c, ns, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelInstanceID: "i-0a"}})
	// Room for a's pods in the scale-down's simulation, and nothing more.
	addNode(t, c, ns, kubetest.NodeOptions{Labels: map[string]string{autoscaler.LabelInstanceID: "i-0b"},
		Annotations: map[string]string{autoscaler.AnnotationScaleDownDisabled: "true"}})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{BindTo: []string{a}, FinishTerminating: true})
	replicaSet(t, c, ns, "web", 2)
	waitRunning(t, c, ns, "web", a, 2)
	one := intstr.FromInt32(1)
	budget(t, c, ns, "web", nil, &one, 2, 1)

	ac, fleet := tickParts(t, m, autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: 1, Reason: "test"}
	}), nil)
	for _, id := range []string{"i-0a", "i-0b"} {
		fleet.Add(autoscaler.Instance{ID: id, State: autoscaler.StateRunning, Market: autoscaler.MarketSpot, LaunchTime: time.Now().Add(-time.Hour)})
	}

	start := time.Now()
	res, err := ac.RunOnce(ctx)
	if err != nil {
		t.Fatalf("tick: %v (%s)", err, res)
	}
	t.Logf("tick after %s: %s", time.Since(start).Round(time.Millisecond), res)
	var kinds []autoscaler.EventKind
	for _, ev := range res.Events {
		kinds = append(kinds, ev.Kind)
	}
	type summary struct {
		Outcome    autoscaler.Outcome
		Victim     string
		Events     []autoscaler.EventKind
		Terminated []string
		Cordoned   bool
		RunningOnA int
	}
	got := summary{res.Outcome, victim(res), kinds, res.Terminated(), unschedulable(t, c, a), runningOn(t, c, ns, "web", a)}
	want := summary{autoscaler.OutcomeHeld, a, []autoscaler.EventKind{autoscaler.EventAbandoned}, nil, false, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tick (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.Reason, "scale-down abandoned") || !strings.Contains(res.Reason, autoscaler.ErrDrainBlocked.Error()) {
		t.Errorf("reason %q does not say the drain was blocked", res.Reason)
	}
	if n := len(fleet.CallsTo(fake.Terminate)); n != 0 {
		t.Errorf("%d Terminate calls, want none", n)
	}
}

// TestIntegrationDrainWaitsForGracePeriod: on a node whose kubelet is gone
// nobody finishes the evicted pods; Drain waits for their grace period to
// run out (the API server's deletion time), not for ever.
func TestIntegrationDrainWaitsForGracePeriod(t *testing.T) {
	t.Parallel()
	c, ns, m := setup(t, drain.Config{Timeout: 30 * time.Second, PollInterval: 100 * time.Millisecond})
	a := addNode(t, c, ns, kubetest.NodeOptions{})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{BindTo: []string{a}})
	const grace = 3
	replicaSet(t, c, ns, "web", 1, func(s *corev1.PodSpec) { g := int64(grace); s.TerminationGracePeriodSeconds = &g })
	waitRunning(t, c, ns, "web", a, 1)
	start := time.Now()
	if err := m.Drain(t.Context(), a); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	took := time.Since(start)
	t.Logf("drained in %s", took.Round(time.Millisecond))
	// Deletion timestamps have whole seconds: allow one second less.
	if took < (grace-1)*time.Second || took > (grace+3)*time.Second {
		t.Errorf("Drain took %s, want about the %ds grace period", took, grace)
	}
	left := c.PodsOn(t, ns, a)
	if len(left) != 1 || !strings.HasSuffix(left[0], "(terminating)") {
		t.Errorf("pods on the node: %v, want the evicted pod still terminating", left)
	}
}

// TestIntegrationNodeLocalStorageBlocksScaleDown: on the real API server, a
// pod whose claim is bound to a local-path volume (K3s's default
// StorageClass) or that mounts a hostPath keeps its node from being
// removed, the blocker naming the pod and the volume, and Drain evicts
// nothing there; the same claim with safe-to-evict "true", and a claim on
// a zonal network volume, do not block, and those nodes drain.
func TestIntegrationNodeLocalStorageBlocksScaleDown(t *testing.T) {
	t.Parallel()
	// Bare pods are evictable here, so that only storage decides.
	c, ns, m := setup(t, drain.Config{EvictUnmanagedPods: true, DeleteEmptyDirData: true, PollInterval: 100 * time.Millisecond, Timeout: 30 * time.Second})
	ctx := t.Context()
	local := addNode(t, c, ns, kubetest.NodeOptions{})
	host := addNode(t, c, ns, kubetest.NodeOptions{})
	safe := addNode(t, c, ns, kubetest.NodeOptions{})
	zonal := addNode(t, c, ns, kubetest.NodeOptions{})
	c.StartKubelet(t, ns, kubetest.KubeletOptions{FinishTerminating: true})
	pause := []corev1.Container{{Name: "p", Image: "registry.k8s.io/pause:3.10"}}
	claim := func(name string) []corev1.Volume {
		return []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}}
	}
	localPV := c.BoundClaim(t, ns, "data-db-0", kubetest.LocalPathVolume(local))
	c.BoundClaim(t, ns, "data-cache-0", kubetest.LocalPathVolume(safe))
	c.BoundClaim(t, ns, "data-web-0", kubetest.ZonalVolume("eu-west-1a"))
	c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: ns},
		Spec: corev1.PodSpec{NodeName: local, Containers: pause, Volumes: claim("data-db-0")}})
	c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "logs", Namespace: ns},
		Spec: corev1.PodSpec{NodeName: host, Containers: pause, Volumes: []corev1.Volume{{Name: "varlog",
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}}}}})
	c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cache-0", Namespace: ns,
		Annotations: map[string]string{drain.CAAnnotationSafeToEvict: "true"}},
		Spec: corev1.PodSpec{NodeName: safe, Containers: pause, Volumes: claim("data-cache-0")}})
	c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: ns},
		Spec: corev1.PodSpec{NodeName: zonal, Containers: pause, Volumes: claim("data-web-0")}})

	nodes, err := m.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range nodes {
		got[n.Name] = n.ScaleDownBlocker
	}
	localPath := func(pv string) string {
		p, err := c.Client.CoreV1().PersistentVolumes().Get(ctx, pv, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Spec.HostPath.Path
	}
	want := map[string]string{
		local: fmt.Sprintf(`pod %s/db-0 has node-local storage (volume "data": PersistentVolumeClaim data-db-0 is bound to PersistentVolume %s, a hostPath volume (%s))`, ns, localPV, localPath(localPV)),
		host:  fmt.Sprintf(`pod %s/logs has node-local storage (hostPath volume "varlog" (/var/log))`, ns),
		safe:  "",
		zonal: "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blockers (-want +got):\n%s", diff)
	}
	for _, n := range []string{local, host} {
		err := m.Drain(ctx, n)
		if !errors.Is(err, autoscaler.ErrDrainBlocked) || !strings.Contains(err.Error(), "node-local storage") {
			t.Errorf("Drain %s: %v, want ErrDrainBlocked for node-local storage", n, err)
		}
	}
	if diff := cmp.Diff([]string{"db-0"}, c.PodsOn(t, ns, local)); diff != "" {
		t.Errorf("pods on the node with the local volume (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"logs"}, c.PodsOn(t, ns, host)); diff != "" {
		t.Errorf("pods on the node with the hostPath (-want +got):\n%s", diff)
	}
	for _, n := range []string{safe, zonal} {
		if err := m.Drain(ctx, n); err != nil {
			t.Errorf("Drain %s: %v", n, err)
		}
		if left := c.PodsOn(t, ns, n); len(left) != 0 {
			t.Errorf("pods left on %s after its drain: %v", n, left)
		}
	}
}

// TestIntegrationScaleDownByFit: with the requests ListNodes reads from the
// real API server, the scale-down simulation lets go the node whose pods
// fit on the others' free allocatable and keeps the one whose pod fits
// nowhere.
func TestIntegrationScaleDownByFit(t *testing.T) {
	t.Parallel()
	c, ns, m := setup(t, drain.Config{EvictUnmanagedPods: true})
	two := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	// Names in the order ListNodes returns them: a, b, c.
	a := addNode(t, c, ns, kubetest.NodeOptions{Name: ns + "-a", Allocatable: two})
	b := addNode(t, c, ns, kubetest.NodeOptions{Name: ns + "-b", Allocatable: two})
	cc := addNode(t, c, ns, kubetest.NodeOptions{Name: ns + "-c", Allocatable: two})
	run := func(name, node, cpu string) {
		c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.PodSpec{NodeName: node,
			Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("256Mi")}}}}}})
	}
	run("a-1", a, "600m")
	run("a-2", a, "600m")
	run("b-1", b, "1700m")
	run("c-1", cc, "400m")
	// Admission taints a new node node.kubernetes.io/not-ready until the
	// node lifecycle controller sees it Ready; the fit simulation rightly
	// keeps pods off a tainted node, so the test does not race that
	// controller: it takes the taint off itself.
	for _, n := range []string{a, b, cc} {
		if _, err := c.Client.CoreV1().Nodes().Patch(t.Context(), n, types.MergePatchType, []byte(`{"spec":{"taints":null}}`), metav1.PatchOptions{}); err != nil {
			t.Fatalf("untaint %s: %v", n, err)
		}
	}

	nodes, err := m.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]autoscaler.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	// Free: a 0.8 CPU, b 0.3, c 1.6. b's 1.7 CPU pod fits neither a nor
	// c; c's 0.4 fits a (first with room), which then holds it.
	candidates := []capacity.Node{byName[b].Capacity(), byName[cc].Capacity(), byName[a].Capacity()}
	var fleet []capacity.Node
	for _, n := range nodes {
		fleet = append(fleet, n.Capacity())
	}
	chosen, verdicts := capacity.ScaleDownByFit(candidates, fleet, 3)
	want := []capacity.DrainFit{
		{Node: b, Reason: "pod " + ns + "/b-1 (requesting 1.7 CPU and 256 MiB) fits on none of the 2 remaining node(s)"},
		{Node: cc, Fits: true},
		{Node: a, Reason: "it takes pods of node " + cc + " in this scale-down"},
	}
	if diff := cmp.Diff(want, verdicts); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
	if len(chosen) != 1 || chosen[0].Name != cc {
		t.Errorf("chosen %v, want only %s", chosen, cc)
	}
	wantA := capacity.Resources{MilliCPU: 1200, Memory: 512 << 20, Pods: 2}
	if diff := cmp.Diff(wantA, byName[a].Requested); diff != "" {
		t.Errorf("requested on %s (-want +got):\n%s", a, diff)
	}
}

// victim is the node of the first scale-down step of res's plan.
func victim(res autoscaler.Result) string {
	for _, o := range res.Steps {
		if o.Step.Kind == autoscaler.StepScaleDown {
			return o.Step.NodeName
		}
	}
	return ""
}

// TestIntegrationTerminatingPodKeepsNodeLocalData: on the real API server,
// a NotReady node whose pod the taint manager has marked Terminating (a
// deletion the kubelet never finishes) still holds the pod's local-path
// volume: ListNodes names it in LocalData and blocks the node's removal.
func TestIntegrationTerminatingPodKeepsNodeLocalData(t *testing.T) {
	t.Parallel()
	c, ns, m := setup(t, drain.Config{})
	ctx := t.Context()
	n := addNode(t, c, ns, kubetest.NodeOptions{NotReady: true})
	pv := c.BoundClaim(t, ns, "data-db-0", kubetest.LocalPathVolume(n))
	// A finalizer keeps the deleted pod Terminating, as a node whose
	// kubelet is gone does.
	const finalizer = "kubetest.node-fleet.io/hold"
	p := c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: ns, Finalizers: []string{finalizer}},
		Spec: corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "p", Image: "registry.k8s.io/pause:3.10"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}}}}}})
	t.Cleanup(func() {
		cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := c.Client.CoreV1().Pods(ns).Patch(cx, p.Name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("drop the finalizer of %s: %v", p.Name, err)
		}
	})
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes, err := m.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 {
		t.Fatalf("ListNodes = %+v, want the one node", nodes)
	}
	got := nodes[0]
	if len(got.LocalData) != 1 || !strings.Contains(got.LocalData[0], "PersistentVolume "+pv) {
		t.Errorf("LocalData = %q, want PersistentVolume %s", got.LocalData, pv)
	}
	if !strings.Contains(got.ScaleDownBlocker, "pod "+ns+"/db-0 has node-local data") {
		t.Errorf("ScaleDownBlocker = %q, want the Terminating pod's node-local data", got.ScaleDownBlocker)
	}
}
