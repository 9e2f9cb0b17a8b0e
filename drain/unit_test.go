package drain

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

func TestNewValidates(t *testing.T) {
	cs := fake.NewClientset()
	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the error; none: no error
	}{
		{"defaults", Config{Client: clientset.New(cs)}, nil},
		{"no client", Config{}, []string{"Client is required"}},
		{"bad selector and durations", Config{Client: clientset.New(cs), NodeSelector: "a in (", Timeout: -time.Second, RetryInterval: -1, PollInterval: -1},
			[]string{"NodeSelector", "Timeout must not be negative", "RetryInterval must not be negative", "PollInterval must not be negative"}},
		{"sub-second grace", Config{Client: clientset.New(cs), GracePeriod: 500 * time.Millisecond}, []string{"GracePeriod"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.cfg)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				got := []time.Duration{m.cfg.Timeout, m.cfg.RetryInterval, m.cfg.PollInterval}
				if diff := cmp.Diff([]time.Duration{DefaultTimeout, DefaultRetryInterval, DefaultPollInterval}, got); diff != "" {
					t.Errorf("defaults (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatal("New accepted a bad config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestFilterChain runs each pod through the filter chain under the
// settings that change its fate.
func TestFilterChain(t *testing.T) {
	const n = "n1"
	tests := []struct {
		name string
		cfg  Config
		pod  *corev1.Pod
		want verdict
	}{
		{"replicated", Config{}, pod("a", "web", n), verdict{actEvict, "pod a/web"}},
		{"succeeded", Config{}, pod("a", "job", n, phase(corev1.PodSucceeded), unowned), verdict{actSkip, "pod a/job has finished"}},
		{"failed", Config{}, pod("a", "job", n, phase(corev1.PodFailed), emptyDir), verdict{actSkip, "pod a/job has finished"}},
		{"terminating", Config{}, pod("a", "web", n, terminating(t0)), verdict{actWait, "pod a/web is already terminating"}},
		{"mirror", Config{}, pod("kube-system", "etcd-n1", n, unowned, podAnnotation(AnnotationMirrorPod, "abc")),
			verdict{actSkip, "pod kube-system/etcd-n1 is a mirror (static) pod"}},
		{"daemonset", Config{}, pod("kube-system", "proxy-x", n, ownedBy("apps/v1", "DaemonSet", "proxy"), emptyDir),
			verdict{actSkip, "pod kube-system/proxy-x belongs to DaemonSet proxy"}},
		{"daemonset gone", Config{}, pod("kube-system", "old-x", n, ownedBy("apps/v1", "DaemonSet", "old")),
			verdict{actBlock, "pod kube-system/old-x has no controller (its DaemonSet old is gone) and EvictUnmanagedPods is off"}},
		{"daemonset gone, unmanaged allowed", Config{EvictUnmanagedPods: true}, pod("kube-system", "old-x", n, ownedBy("apps/v1", "DaemonSet", "old")),
			verdict{actEvict, "pod kube-system/old-x"}},
		{"unmanaged", Config{}, pod("a", "bare", n, unowned), verdict{actBlock, "pod a/bare has no controller and EvictUnmanagedPods is off"}},
		{"unmanaged allowed", Config{EvictUnmanagedPods: true}, pod("a", "bare", n, unowned), verdict{actEvict, "pod a/bare"}},
		{"emptyDir", Config{}, pod("a", "cache", n, emptyDir),
			verdict{actBlock, `pod a/cache has local storage (emptyDir volume "scratch") and DeleteEmptyDirData is off`}},
		{"emptyDir allowed", Config{DeleteEmptyDirData: true}, pod("a", "cache", n, emptyDir), verdict{actEvict, "pod a/cache"}},
		{"CA not safe to evict", Config{EvictUnmanagedPods: true}, pod("a", "db", n, podAnnotation(CAAnnotationSafeToEvict, "false")),
			verdict{actBlock, "pod a/db is annotated cluster-autoscaler.kubernetes.io/safe-to-evict=false"}},
		{"own not safe to evict", Config{}, pod("a", "db", n, podAnnotation(autoscaler.AnnotationSafeToEvict, "False")),
			verdict{actBlock, "pod a/db is annotated node-fleet.io/safe-to-evict=false"}},
		{"safe to evict overrides local storage and no controller", Config{}, pod("a", "tmp", n, unowned, emptyDir, podAnnotation(CAAnnotationSafeToEvict, "true")),
			verdict{actEvict, "pod a/tmp is annotated cluster-autoscaler.kubernetes.io/safe-to-evict=true"}},
		{"false wins over true", Config{}, pod("a", "x", n, podAnnotation(CAAnnotationSafeToEvict, "true"), podAnnotation(autoscaler.AnnotationSafeToEvict, "false")),
			verdict{actBlock, "pod a/x is annotated node-fleet.io/safe-to-evict=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, cs, _ := newFake(t, tt.cfg, daemonSet("kube-system", "proxy"))
			got, err := m.classify(context.Background(), tt.pod, newDaemonSets(clientset.New(cs)), newVolumes(clientset.New(cs)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(verdict{})); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListNodes checks every field ListNodes fills, the pods it counts and
// the blockers it reports, on one cluster.
func TestListNodes(t *testing.T) {
	addrs := func(n *corev1.Node) {
		n.Spec.ProviderID = "aws:///eu-west-1a/i-0aaa"
		n.Status.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeHostName, Address: "ip-10-0-1-5"},
			{Type: corev1.NodeInternalIP, Address: "10.0.1.5"},
			{Type: corev1.NodeInternalIP, Address: "10.0.1.6"},
		}
	}
	cordoned := func(n *corev1.Node) { n.Spec.Unschedulable = true }
	notReady := func(n *corev1.Node) {
		n.Status.Conditions[0].Status = corev1.ConditionFalse
		n.Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(5 * time.Minute))
	}
	noCondition := func(n *corev1.Node) { n.Status.Conditions = nil }
	objs := []runtime.Object{
		node("server", withLabel("node-role.kubernetes.io/control-plane", "true")),
		node("busy", addrs, withLabel(autoscaler.LabelInstanceID, "i-0aaa")),
		node("k3s", withLabel(autoscaler.LabelCluster, "prod"), withLabel(corev1.LabelHostname, "k3s-host"), cordoned),
		node("new", noCondition),
		node("off", notReady, withNodeAnnotation(CAAnnotationScaleDownDisabled, "true")),
		node("budget"),
		node("many"),
		daemonSet("kube-system", "proxy"),
		pdb("a", "strict", "db", 0),
		pdb("a", "loose", "web", 1),
		// busy: two movable pods plus pods a drain leaves alone.
		pod("a", "web-1", "busy"),
		pod("a", "web-2", "busy"),
		pod("kube-system", "proxy-busy", "busy", ownedBy("apps/v1", "DaemonSet", "proxy")),
		pod("kube-system", "static-busy", "busy", unowned, podAnnotation(AnnotationMirrorPod, "x")),
		pod("a", "done", "busy", phase(corev1.PodSucceeded), unowned),
		pod("a", "leaving", "busy", terminating(t0)),
		// k3s: nothing to move.
		pod("kube-system", "proxy-k3s", "k3s", ownedBy("apps/v1", "DaemonSet", "proxy")),
		// off: blocked by its own annotation and by a pod.
		pod("a", "pinned", "off", podAnnotation(autoscaler.AnnotationSafeToEvict, "false")),
		// budget: a pod under a budget that allows nothing now.
		pod("a", "db-0", "budget", func(p *corev1.Pod) { p.Labels["app"] = "db" }),
		// many: more blockers than the summary keeps.
		pod("a", "b1", "many", unowned), pod("a", "b2", "many", unowned), pod("a", "b3", "many", emptyDir), pod("a", "b4", "many", unowned),
		// unscheduled pods belong to no node.
		pod("a", "pending", ""),
	}
	created := t0
	ready := t0.Add(time.Minute)
	want := []autoscaler.Node{
		{Name: "budget", Ready: true, ReadyTransition: ready, Created: created, Pods: 1,
			ScaleDownBlocker: "pod a/db-0 is covered by PodDisruptionBudget strict, which allows no disruption now"},
		{Name: "busy", ProviderID: "aws:///eu-west-1a/i-0aaa", InstanceID: "i-0aaa", InternalIP: "10.0.1.5", Hostname: "ip-10-0-1-5",
			Ready: true, ReadyTransition: ready, Created: created, Pods: 2, Managed: true},
		{Name: "k3s", Hostname: "k3s-host", Ready: true, ReadyTransition: ready, Unschedulable: true, Created: created, Managed: true, Cluster: "prod"},
		{Name: "many", Ready: true, ReadyTransition: ready, Created: created, Pods: 4,
			ScaleDownBlocker: "pod a/b1 has no controller and EvictUnmanagedPods is off; pod a/b2 has no controller and EvictUnmanagedPods is off; " +
				`pod a/b3 has local storage (emptyDir volume "scratch") and DeleteEmptyDirData is off; and 1 more`},
		{Name: "new", ReadyTransition: created, Created: created},
		{Name: "off", ReadyTransition: t0.Add(5 * time.Minute), Created: created, Pods: 1,
			ScaleDownDisabled: true,
			ScaleDownBlocker:  "node annotated cluster-autoscaler.kubernetes.io/scale-down-disabled=true; pod a/pinned is annotated node-fleet.io/safe-to-evict=false"},
	}
	m, _, _ := newFake(t, Config{NodeSelector: "!node-role.kubernetes.io/control-plane"}, objs...)
	got, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Resources have a test of their own.
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(autoscaler.Node{}, "Allocatable", "Requested", "Movable", "MovablePods")); diff != "" {
		t.Errorf("ListNodes (-want +got):\n%s", diff)
	}
}

// TestVictimInputs feeds ListNodes into the core's matching and victim
// choice (the planner's scale-down steps): the node whose pods cannot all move is never chosen, and among
// the others fewer pods go first (on-demand before spot among as many).
func TestVictimInputs(t *testing.T) {
	objs := []runtime.Object{
		node("ip-10-0-0-1", withLabel(autoscaler.LabelInstanceID, "i-1")), // on-demand, empty
		node("ip-10-0-0-2", withLabel(autoscaler.LabelInstanceID, "i-2")), // spot, 2 pods
		node("ip-10-0-0-3", withLabel(autoscaler.LabelInstanceID, "i-3")), // spot, 1 pod
		node("ip-10-0-0-4", withLabel(autoscaler.LabelInstanceID, "i-4")), // spot, empty but a bare pod
		pod("a", "w1", "ip-10-0-0-2"), pod("a", "w2", "ip-10-0-0-2"),
		pod("a", "w3", "ip-10-0-0-3"),
		pod("a", "bare", "ip-10-0-0-4", unowned),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	instances := []autoscaler.Instance{
		{ID: "i-1", Market: autoscaler.MarketOnDemand, State: autoscaler.StateRunning, LaunchTime: t0},
		{ID: "i-2", Market: autoscaler.MarketSpot, State: autoscaler.StateRunning, LaunchTime: t0},
		{ID: "i-3", Market: autoscaler.MarketSpot, State: autoscaler.StateRunning, LaunchTime: t0},
		{ID: "i-4", Market: autoscaler.MarketSpot, State: autoscaler.StateRunning, LaunchTime: t0.Add(time.Hour)},
	}
	byInstance, unmatched := autoscaler.MatchNodes(instances, nodes)
	if len(unmatched) != 0 {
		t.Fatalf("unmatched nodes: %v", unmatched)
	}
	for _, in := range instances {
		if _, ok := byInstance[in.ID]; !ok {
			t.Fatalf("instance %s matched no node", in.ID)
		}
	}
	now := t0.Add(2 * time.Hour)
	healthy := autoscaler.Snapshot{Time: now, CPU: autoscaler.Value(10, now), Memory: autoscaler.Value(10, now), PendingPods: autoscaler.Value(0, now)}
	removeAll := autoscaler.PolicyFunc(func(autoscaler.PolicyInput) autoscaler.Decision {
		return autoscaler.Decision{Action: autoscaler.ScaleDown, Count: len(instances), Reason: "test", Level: autoscaler.LevelLowLoad}
	})
	plan := autoscaler.PlanTick(removeAll, autoscaler.Limits{MaxNodes: 10, JoinTimeout: time.Hour, NotReadyTimeout: time.Hour, MaxRepairsPerTick: 1, MassNotReadyShare: 1},
		autoscaler.Observation{Now: now, Instances: instances, Nodes: nodes, Snapshot: healthy})
	var order []string
	for _, st := range plan.Steps {
		if st.Kind == autoscaler.StepScaleDown {
			order = append(order, st.NodeName)
		}
	}
	if diff := cmp.Diff([]string{"ip-10-0-0-1", "ip-10-0-0-3", "ip-10-0-0-2"}, order); diff != "" {
		t.Errorf("victim order (-want +got):\n%s", diff)
	}
}

func TestCordonUncordonDelete(t *testing.T) {
	ctx := context.Background()
	m, cs, _ := newFake(t, Config{}, node("n1"))
	unschedulable := func() bool {
		n, err := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Spec.Unschedulable
	}
	patches := func() int {
		c := 0
		for _, a := range cs.Actions() {
			if a.GetVerb() == "patch" {
				c++
			}
		}
		return c
	}
	steps := []struct {
		name    string
		op      func(context.Context, string) error
		node    string
		wantErr error
		want    bool // unschedulable afterwards
		patches int  // total patches so far
	}{
		{"cordon", m.Cordon, "n1", nil, true, 1},
		{"cordon again is a no-op", m.Cordon, "n1", nil, true, 1},
		{"uncordon", m.Uncordon, "n1", nil, false, 2},
		{"uncordon again is a no-op", m.Uncordon, "n1", nil, false, 2},
		{"cordon a missing node", m.Cordon, "gone", autoscaler.ErrNotFound, false, 2},
		{"uncordon a missing node", m.Uncordon, "gone", autoscaler.ErrNotFound, false, 2},
	}
	for _, s := range steps {
		err := s.op(ctx, s.node)
		if !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
		}
		if got := unschedulable(); got != s.want {
			t.Errorf("%s: unschedulable %v, want %v", s.name, got, s.want)
		}
		if got := patches(); got != s.patches {
			t.Errorf("%s: %d patches so far, want %d", s.name, got, s.patches)
		}
	}
	for i := range 2 { // the second time the node is already gone
		if err := m.DeleteNode(ctx, "n1"); err != nil {
			t.Fatalf("DeleteNode #%d: %v", i+1, err)
		}
	}
	if _, err := cs.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node still there after DeleteNode: %v", err)
	}
}

func TestDrain(t *testing.T) {
	const n = "n1"
	base := []runtime.Object{
		node(n), daemonSet("kube-system", "proxy"),
		pod("kube-system", "proxy-n1", n, ownedBy("apps/v1", "DaemonSet", "proxy")),
		pod("kube-system", "static-n1", n, unowned, podAnnotation(AnnotationMirrorPod, "x")),
		pod("a", "done", n, phase(corev1.PodSucceeded), unowned),
		pod("a", "web-1", n), pod("a", "web-2", n),
		pod("a", "elsewhere", "n2"),
	}
	cfg := Config{Timeout: time.Minute, RetryInterval: 5 * time.Second, PollInterval: time.Second}
	tests := []struct {
		name     string
		extra    []runtime.Object
		node     string
		refuse   map[string][]error // scripted eviction answers
		graceful time.Duration
		cancel   bool
		wantErr  []error
		wantMsg  string
		// The eviction requests, in order, and the pods left on n1.
		wantCalls []string
		wantLeft  []string
		wantSteps int // clock steps of 1s the drain waited
	}{
		{name: "evicts what kubectl drain evicts", wantCalls: []string{"a/web-1", "a/web-2"},
			wantLeft: []string{"a/done", "kube-system/proxy-n1", "kube-system/static-n1"}},
		{name: "retries evictions refused by a budget",
			refuse:    map[string][]error{"a/web-2": {tooMany(), tooMany(), nil}},
			wantCalls: []string{"a/web-1", "a/web-2", "a/web-2", "a/web-2"},
			wantLeft:  []string{"a/done", "kube-system/proxy-n1", "kube-system/static-n1"}, wantSteps: 10},
		{name: "retries an eviction that conflicted with a change of the pod",
			refuse:    map[string][]error{"a/web-2": {rvConflict("web-2"), nil}},
			wantCalls: []string{"a/web-1", "a/web-2", "a/web-2"},
			wantLeft:  []string{"a/done", "kube-system/proxy-n1", "kube-system/static-n1"}, wantSteps: 5},
		{name: "gives up when the budget never allows it",
			refuse:    map[string][]error{"a/web-2": {tooMany()}},
			wantErr:   []error{autoscaler.ErrDrainBlocked, errTimeout},
			wantMsg:   "1 pod(s) not evicted (first a/web-2) after 1m0s",
			wantCalls: append([]string{"a/web-1"}, repeat("a/web-2", 13)...),
			wantLeft:  []string{"a/done", "a/web-2", "kube-system/proxy-n1", "kube-system/static-n1"}, wantSteps: 60},
		{name: "waits for the grace period of evicted pods", graceful: 3 * time.Second,
			wantCalls: []string{"a/web-1", "a/web-2"},
			wantLeft:  []string{"a/done", "a/web-1", "a/web-2", "kube-system/proxy-n1", "kube-system/static-n1"}, wantSteps: 3},
		{name: "a pod that must stay blocks the drain before any eviction",
			extra:    []runtime.Object{pod("a", "pinned", n, podAnnotation(CAAnnotationSafeToEvict, "false"))},
			wantErr:  []error{autoscaler.ErrDrainBlocked},
			wantMsg:  "pod a/pinned is annotated cluster-autoscaler.kubernetes.io/safe-to-evict=false",
			wantLeft: []string{"a/done", "a/pinned", "a/web-1", "a/web-2", "kube-system/proxy-n1", "kube-system/static-n1"}},
		{name: "an unexpected eviction error ends the drain",
			refuse:    map[string][]error{"a/web-1": {apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget"))}},
			wantMsg:   "evict pod a/web-1",
			wantCalls: []string{"a/web-1"},
			wantLeft:  []string{"a/done", "a/web-1", "a/web-2", "kube-system/proxy-n1", "kube-system/static-n1"}},
		{name: "ctx cancelled while a budget refuses", cancel: true,
			refuse:    map[string][]error{"a/web-1": {tooMany()}},
			wantErr:   []error{autoscaler.ErrDrainBlocked, context.Canceled},
			wantCalls: []string{"a/web-1", "a/web-2"},
			wantLeft:  []string{"a/done", "a/web-1", "kube-system/proxy-n1", "kube-system/static-n1"}},
		{name: "node gone", node: "gone", wantErr: []error{autoscaler.ErrNotFound},
			wantLeft: []string{"a/done", "a/web-1", "a/web-2", "kube-system/proxy-n1", "kube-system/static-n1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, cs, clk := newFake(t, cfg, append(append([]runtime.Object{}, base...), tt.extra...)...)
			ev := newEvictions(cs, clk)
			ev.graceful = tt.graceful
			for k, errs := range tt.refuse {
				ns, name, _ := strings.Cut(k, "/")
				ev.refuse(ns, name, errs...)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			name := n
			if tt.node != "" {
				name = tt.node
			}
			var err error
			steps := 0
			if tt.cancel {
				done := make(chan error, 1)
				go func() { done <- m.Drain(ctx, name) }()
				for !clk.HasWaiters() {
					time.Sleep(time.Millisecond)
				}
				cancel()
				err = <-done
			} else {
				steps, err = runClocked(t, clk, time.Second, 100, func() error { return m.Drain(ctx, name) })
			}
			for _, w := range tt.wantErr {
				if !errors.Is(err, w) {
					t.Errorf("error %v does not wrap %v", err, w)
				}
			}
			if len(tt.wantErr) == 0 && tt.wantMsg == "" && err != nil {
				t.Errorf("Drain: %v", err)
			}
			if tt.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tt.wantMsg)) {
				t.Errorf("error %v does not say %q", err, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantCalls, ev.Calls()); diff != "" {
				t.Errorf("evictions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLeft, podsOn(t, cs, n)); diff != "" {
				t.Errorf("pods left on %s (-want +got):\n%s", n, diff)
			}
			if steps != tt.wantSteps {
				t.Errorf("drain waited %d seconds, want %d", steps, tt.wantSteps)
			}
			if tt.node == "" {
				nd, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if !nd.Spec.Unschedulable {
					t.Errorf("node not cordoned after Drain")
				}
			}
		})
	}
}

// rvConflict is the API server's answer to an eviction when the pod
// changed under it (its resourceVersion precondition failed).
func rvConflict(name string) error {
	return apierrors.NewConflict(corev1.SchemeGroupVersion.WithResource("pods").GroupResource(), name,
		errors.New("the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (2). The object might have been modified"))
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// podsOn lists the pods bound to node, as namespace/name, sorted.
func podsOn(t *testing.T, cs *fake.Clientset, node string) []string {
	t.Helper()
	l, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		if p.Spec.NodeName == node {
			out = append(out, p.Namespace+"/"+p.Name)
		}
	}
	return out
}

func TestMoveCostIsTheEvictedPodsCPURequests(t *testing.T) {
	withCPU := func(app []string, init string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Containers = nil
			for i, q := range app {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)),
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}}})
			}
			if init != "" {
				p.Spec.InitContainers = []corev1.Container{{Name: "init",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(init)}}}}
			}
		}
	}
	objs := []runtime.Object{
		node("n1", withLabel(autoscaler.LabelInstanceID, "i-1")),
		pod("a", "web", "n1", withCPU([]string{"250m", "500m"}, "")), // 750
		pod("a", "job", "n1", withCPU([]string{"100m"}, "2")),        // init container dominates: 2000
		pod("a", "done", "n1", withCPU([]string{"4"}, ""), phase(corev1.PodSucceeded)),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].MoveCost != 2750 || nodes[0].Pods != 2 {
		t.Errorf("node %+v: want MoveCost 2750 millicores over 2 pods (the finished pod does not move)", nodes)
	}
}

// TestFilterChainNodeLocalStorage: pods whose data lives on the node (a
// hostPath volume, or a claim bound to a volume pinned to the node, as
// K3s's local-path StorageClass makes them) block the drain, whatever
// DeleteEmptyDirData says, unless the pod is annotated safe to evict;
// volumes that outlive the node (a CSI volume pinned to a zone) do not.
func TestFilterChainNodeLocalStorage(t *testing.T) {
	const n = "n1"
	objs := []runtime.Object{
		pv("pvc-local", pvLocalPath(n)),
		pv("pvc-pinned", pvAffinity(corev1.LabelHostname, n)),
		pv("pvc-local-source", func(v *corev1.PersistentVolume) {
			v.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/disks/ssd1"}}
		}),
		pv("pvc-by-name", func(v *corev1.PersistentVolume) {
			v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{n}}}}}}}
		}),
		pv("pvc-ebs", pvAffinity(corev1.LabelTopologyZone, "eu-west-1a")),
		pvc("a", "data-db-0", "pvc-local"),
		pvc("a", "pinned", "pvc-pinned"),
		pvc("a", "ssd", "pvc-local-source"),
		pvc("a", "by-name", "pvc-by-name"),
		pvc("a", "ebs", "pvc-ebs"),
		pvc("a", "unbound", ""),
		pvc("a", "lost", "pvc-deleted"),
		pvc("a", "job-1-scratch", "pvc-local"),
	}
	ephemeral := func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}})
	}
	tests := []struct {
		name string
		cfg  Config
		pod  *corev1.Pod
		want verdict
	}{
		{"local-path claim", Config{}, pod("a", "db-0", n, claimVolume("data-db-0")), verdict{actBlock,
			`pod a/db-0 has node-local storage (volume "data": PersistentVolumeClaim data-db-0 is bound to PersistentVolume pvc-local, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-local))`}},
		{"local-path claim, emptyDir data allowed", Config{DeleteEmptyDirData: true, EvictUnmanagedPods: true}, pod("a", "db-0", n, claimVolume("data-db-0")), verdict{actBlock,
			`pod a/db-0 has node-local storage (volume "data": PersistentVolumeClaim data-db-0 is bound to PersistentVolume pvc-local, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-local))`}},
		{"claim pinned by hostname", Config{}, pod("a", "x", n, claimVolume("pinned")), verdict{actBlock,
			`pod a/x has node-local storage (volume "data": PersistentVolumeClaim pinned is bound to PersistentVolume pvc-pinned, pinned by node affinity to kubernetes.io/hostname [n1])`}},
		{"claim on a local volume", Config{}, pod("a", "x", n, claimVolume("ssd")), verdict{actBlock,
			`pod a/x has node-local storage (volume "data": PersistentVolumeClaim ssd is bound to PersistentVolume pvc-local-source, a local volume (/mnt/disks/ssd1))`}},
		{"claim pinned by node name", Config{}, pod("a", "x", n, claimVolume("by-name")), verdict{actBlock,
			`pod a/x has node-local storage (volume "data": PersistentVolumeClaim by-name is bound to PersistentVolume pvc-by-name, pinned by node affinity to node [n1])`}},
		{"generic ephemeral volume on local-path", Config{}, pod("a", "job-1", n, ephemeral), verdict{actBlock,
			`pod a/job-1 has node-local storage (volume "scratch": PersistentVolumeClaim job-1-scratch is bound to PersistentVolume pvc-local, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-local))`}},
		{"hostPath", Config{DeleteEmptyDirData: true}, pod("a", "logs", n, hostPathVolume("/var/log")), verdict{actBlock,
			`pod a/logs has node-local storage (hostPath volume "host" (/var/log))`}},
		{"unbound claim cannot be checked", Config{}, pod("a", "x", n, claimVolume("unbound")), verdict{actBlock,
			`pod a/x has node-local storage (volume "data": PersistentVolumeClaim unbound is not bound, so its data may be on the node)`}},
		{"missing claim cannot be checked", Config{}, pod("a", "x", n, claimVolume("nope")), verdict{actBlock,
			`pod a/x has node-local storage (volume "data": PersistentVolumeClaim nope not found, so its data may be on the node)`}},
		{"claim of a missing volume cannot be checked", Config{}, pod("a", "x", n, claimVolume("lost")), verdict{actBlock,
			`pod a/x has node-local storage (volume "data": PersistentVolume pvc-deleted of claim lost not found, so its data may be on the node)`}},
		{"zonal volume outlives the node", Config{}, pod("a", "x", n, claimVolume("ebs")), verdict{actEvict, "pod a/x"}},
		{"CA safe to evict lets local-path go", Config{}, pod("a", "db-0", n, claimVolume("data-db-0"), podAnnotation(CAAnnotationSafeToEvict, "true")),
			verdict{actEvict, "pod a/db-0 is annotated cluster-autoscaler.kubernetes.io/safe-to-evict=true"}},
		{"own safe to evict lets hostPath go", Config{}, pod("a", "logs", n, hostPathVolume("/var/log"), podAnnotation(autoscaler.AnnotationSafeToEvict, "true")),
			verdict{actEvict, "pod a/logs is annotated node-fleet.io/safe-to-evict=true"}},
		{"local volumes named safe to lose", Config{}, pod("a", "db-0", n, claimVolume("data-db-0"), hostPathVolume("/tmp"), emptyDir,
			podAnnotation(CAAnnotationSafeToEvictLocalVolumes, "data, host,scratch")), verdict{actEvict, "pod a/db-0"}},
		{"only the volumes named", Config{}, pod("a", "db-0", n, claimVolume("data-db-0"), hostPathVolume("/tmp"),
			podAnnotation(CAAnnotationSafeToEvictLocalVolumes, "host")), verdict{actBlock,
			`pod a/db-0 has node-local storage (volume "data": PersistentVolumeClaim data-db-0 is bound to PersistentVolume pvc-local, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-local))`}},
		{"DaemonSet pod with hostPath is left alone", Config{}, pod("kube-system", "proxy-x", n, ownedBy("apps/v1", "DaemonSet", "proxy"), hostPathVolume("/run")),
			verdict{actSkip, "pod kube-system/proxy-x belongs to DaemonSet proxy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, cs, _ := newFake(t, tt.cfg, append([]runtime.Object{daemonSet("kube-system", "proxy")}, objs...)...)
			got, err := m.classify(context.Background(), tt.pod, newDaemonSets(clientset.New(cs)), newVolumes(clientset.New(cs)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(verdict{})); diff != "" {
				t.Errorf("verdict (-want +got):\n%s", diff)
			}
		})
	}
}

// TestListNodesBlocksNodeLocalStorageListingVolumesOnce: ListNodes reports
// the nodes whose pods keep data on them as not removable, naming the pod
// and the volume, and reads the claims and volumes with one list each
// however many pods have claims (none at all when no pod has one); a
// failed read fails ListNodes rather than passing the pods as evictable.
func TestListNodesBlocksNodeLocalStorageListingVolumesOnce(t *testing.T) {
	objs := []runtime.Object{
		node("n1"), node("n2"), node("n3"),
		pv("pvc-1", pvLocalPath("n1")), pv("pvc-2", pvLocalPath("n1")), pv("pvc-ebs", pvAffinity(corev1.LabelTopologyZone, "eu-west-1a")),
		pvc("a", "data-db-0", "pvc-1"), pvc("a", "data-db-1", "pvc-2"), pvc("a", "ebs", "pvc-ebs"),
		pod("a", "db-0", "n1", claimVolume("data-db-0")),
		pod("a", "db-1", "n1", claimVolume("data-db-1")),
		pod("a", "web", "n2", claimVolume("ebs")),
		pod("a", "web-2", "n2", claimVolume("ebs")),
		pod("a", "logs", "n3", hostPathVolume("/var/log/app")),
	}
	m, cs, _ := newFake(t, Config{}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range nodes {
		got[n.Name] = n.ScaleDownBlocker
	}
	want := map[string]string{
		"n1": `pod a/db-0 has node-local storage (volume "data": PersistentVolumeClaim data-db-0 is bound to PersistentVolume pvc-1, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-1)); ` +
			`pod a/db-1 has node-local storage (volume "data": PersistentVolumeClaim data-db-1 is bound to PersistentVolume pvc-2, a hostPath volume (/var/lib/rancher/k3s/storage/pvc-2))`,
		"n2": "",
		"n3": `pod a/logs has node-local storage (hostPath volume "host" (/var/log/app))`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("blockers (-want +got):\n%s", diff)
	}
	lists := func(cs *fake.Clientset) map[string]int {
		out := map[string]int{}
		for _, a := range cs.Actions() {
			if a.GetVerb() == "list" {
				out[a.GetResource().Resource]++
			}
		}
		return out
	}
	if diff := cmp.Diff(map[string]int{"nodes": 1, "pods": 1, "poddisruptionbudgets": 1, "persistentvolumeclaims": 1, "persistentvolumes": 1}, lists(cs)); diff != "" {
		t.Errorf("list calls (-want +got):\n%s", diff)
	}
	if n := len(cs.Actions()) - 5; n != 0 {
		t.Errorf("%d calls besides the five lists: %v", n, cs.Actions())
	}

	// No pod with a claim: the volumes are still read, once (a claim
	// no pod uses can hold a node's data).
	m, cs, _ = newFake(t, Config{}, node("n1"), node("n2"), pod("a", "web", "n1"))
	if _, err := m.ListNodes(context.Background()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"nodes": 1, "pods": 1, "poddisruptionbudgets": 1, "persistentvolumeclaims": 1, "persistentvolumes": 1}, lists(cs)); diff != "" {
		t.Errorf("list calls without claims (-want +got):\n%s", diff)
	}

	// The claims cannot be read: no answer, rather than a wrong one.
	m, cs, _ = newFake(t, Config{}, objs...)
	cs.PrependReactor("list", "persistentvolumeclaims", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("persistentvolumeclaims"), "", errors.New("RBAC"))
	})
	if nodes, err := m.ListNodes(context.Background()); err == nil || !strings.Contains(err.Error(), "list persistent volume claims") {
		t.Errorf("ListNodes = %v, %v; want the claims' read error", nodes, err)
	}
}

// TestListNodesResources: ListNodes reports the node's allocatable, the
// requests of every pod bound to it that has not finished, and the
// requests of each pod a drain would move, as the scheduler counts them.
func TestListNodesResources(t *testing.T) {
	req := func(cpu, mem string) podOpt {
		return func(p *corev1.Pod) {
			p.Spec.Containers = []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}
		}
	}
	withAllocatable := func(n *corev1.Node) {
		n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1930m"),
			corev1.ResourceMemory: resource.MustParse("3584Mi"), corev1.ResourcePods: resource.MustParse("17")}
	}
	objs := []runtime.Object{
		node("n1", withAllocatable), daemonSet("kube-system", "proxy"),
		pod("a", "web", "n1", req("750m", "192Mi")),
		pod("a", "bare", "n1", unowned, req("100m", "64Mi")), // blocks, but would move
		pod("kube-system", "proxy-n1", "n1", ownedBy("apps/v1", "DaemonSet", "proxy"), req("100m", "50Mi")),
		pod("kube-system", "static-n1", "n1", unowned, podAnnotation(AnnotationMirrorPod, "x"), req("50m", "10Mi")),
		pod("a", "leaving", "n1", terminating(t0), req("300m", "100Mi")),
		pod("a", "done", "n1", phase(corev1.PodSucceeded), req("4", "4Gi")),
	}
	m, _, _ := newFake(t, Config{}, objs...)
	nodes, err := m.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const mi = 1 << 20
	type resources struct {
		Allocatable, Requested capacity.Resources
		Movable                []capacity.Resources
		MoveCost               float64
	}
	// Requested: 750 + 100 + 100 + 50 + 300 = 1300m; 192 + 64 + 50 + 10
	// + 100 = 416Mi; 5 pods. Movable: web and bare, in name order.
	want := resources{
		Allocatable: capacity.Resources{MilliCPU: 1930, Memory: 3584 * mi, Pods: 17},
		Requested:   capacity.Resources{MilliCPU: 1300, Memory: 416 * mi, Pods: 5},
		Movable:     []capacity.Resources{{MilliCPU: 100, Memory: 64 * mi, Pods: 1}, {MilliCPU: 750, Memory: 192 * mi, Pods: 1}},
		MoveCost:    750, // the evictable pod only, as before
	}
	if len(nodes) != 1 {
		t.Fatalf("nodes %+v", nodes)
	}
	n := nodes[0]
	if diff := cmp.Diff(want, resources{n.Allocatable, n.Requested, n.Movable, n.MoveCost}); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
}
