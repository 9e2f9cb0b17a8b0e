package metrics

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/autoscaler"
	"github.com/node-fleet/node-fleet/autoscaler/capacity"
	fleetfake "github.com/node-fleet/node-fleet/autoscaler/fake"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

const mib = 1 << 20

func rl(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func ctr(name, cpu, mem string) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: rl(cpu, mem)}}
}

func sidecar(name, cpu, mem string) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	c := ctr(name, cpu, mem)
	c.RestartPolicy = &always
	return c
}

// TestPodRequests checks the scheduler's arithmetic on hand-computed pods.
func TestPodRequests(t *testing.T) {
	tests := []struct {
		name     string
		spec     corev1.PodSpec
		status   corev1.PodStatus
		wantCPU  int64
		wantMemB int64
	}{
		{"containers add up", corev1.PodSpec{Containers: []corev1.Container{ctr("a", "250m", "64Mi"), ctr("b", "500m", "128Mi")}}, corev1.PodStatus{}, 750, 192 * mib},
		{"no requests count zero", corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}, corev1.PodStatus{}, 0, 0},
		// init 2 CPU > 0.1 of the app; memory: the app's 256Mi > 64Mi.
		{"the largest init container can dominate", corev1.PodSpec{InitContainers: []corev1.Container{ctr("migrate", "2", "64Mi"), ctr("warm", "1", "32Mi")},
			Containers: []corev1.Container{ctr("app", "100m", "256Mi")}}, corev1.PodStatus{}, 2000, 256 * mib},
		// The sidecar (0.2) runs with the app (0.5): 0.7; the init
		// container after it needs 0.6 + 0.2 = 0.8 while it runs.
		// Memory: 100 + 300 = 400 running, 50 + 100 = 150 at init.
		{"sidecars run beside everything after them", corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar("proxy", "200m", "100Mi"), ctr("init", "600m", "50Mi")},
			Containers:     []corev1.Container{ctr("app", "500m", "300Mi")}}, corev1.PodStatus{}, 800, 400 * mib},
		// Pod-level CPU replaces the containers' 3; memory stays the
		// containers' 1Gi; the overhead adds 0.25 and 120Mi.
		{"pod-level requests and overhead", corev1.PodSpec{Resources: &corev1.ResourceRequirements{Requests: rl("1", "")},
			Overhead: rl("250m", "120Mi"), Containers: []corev1.Container{ctr("a", "3", "1Gi")}}, corev1.PodStatus{}, 1250, 1144 * mib},
		{"an in-place resize in progress counts the larger", corev1.PodSpec{Containers: []corev1.Container{ctr("a", "500m", "1Gi")}},
			corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "a", AllocatedResources: rl("1", "512Mi")}}}, 1000, 1024 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := PodRequests(&corev1.Pod{Spec: tt.spec, Status: tt.status})
			want := capacity.Resources{MilliCPU: tt.wantCPU, Memory: tt.wantMemB, Pods: 1}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWontLand checks nodeSelector, required node affinity and taints
// against a new worker's labels and taints.
func TestWontLand(t *testing.T) {
	labels := map[string]string{"kubernetes.io/arch": "amd64", "pool": "web", "gen": "5"}
	taints := []capacity.Taint{{Key: "dedicated", Value: "web", Effect: "NoSchedule"}, {Key: "soft", Effect: "PreferNoSchedule"}}
	tolerateWeb := []corev1.Toleration{{Key: "dedicated", Value: "web", Effect: corev1.TaintEffectNoSchedule}}
	affinity := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	expr := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	tests := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{"tolerates and selects", corev1.PodSpec{NodeSelector: map[string]string{"pool": "web"}, Tolerations: tolerateWeb}, ""},
		{"nodeSelector typo", corev1.PodSpec{NodeSelector: map[string]string{"pool": "wbe"}, Tolerations: tolerateWeb},
			"its nodeSelector pool=wbe matches no new worker (a new worker has pool=web)"},
		{"nodeSelector on a label workers lack", corev1.PodSpec{NodeSelector: map[string]string{"disk": "ssd"}, Tolerations: tolerateWeb},
			"its nodeSelector disk=ssd matches no new worker (a new worker has no label disk)"},
		{"untolerated taint", corev1.PodSpec{}, "it does not tolerate the new worker's taint dedicated=web:NoSchedule"},
		{"wrong value", corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "dedicated", Value: "db"}}}, "it does not tolerate the new worker's taint dedicated=web:NoSchedule"},
		{"Exists with no key tolerates everything", corev1.PodSpec{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}, ""},
		{"Exists on the key, any effect", corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}}, ""},
		{"wrong effect", corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}},
			"it does not tolerate the new worker's taint dedicated=web:NoSchedule"},
		{"affinity In, Gt and DoesNotExist", corev1.PodSpec{Tolerations: tolerateWeb, Affinity: affinity(corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"web", "api"}},
			{Key: "gen", Operator: corev1.NodeSelectorOpGt, Values: []string{"4"}},
			{Key: "gpu", Operator: corev1.NodeSelectorOpDoesNotExist}}})}, ""},
		{"terms are ORed", corev1.PodSpec{Tolerations: tolerateWeb, Affinity: affinity(expr("gpu", corev1.NodeSelectorOpExists), expr("pool", corev1.NodeSelectorOpNotIn, "db"))}, ""},
		{"no term matches", corev1.PodSpec{Tolerations: tolerateWeb, Affinity: affinity(expr("gpu", corev1.NodeSelectorOpExists), expr("gen", corev1.NodeSelectorOpLt, "5"))},
			"its required node affinity matches no new worker (gpu Exists []: a new worker has no label gpu; or gen Lt [5]: a new worker has gen=5)"},
		{"a node's name never matches a new worker", corev1.PodSpec{Tolerations: tolerateWeb, Affinity: affinity(corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"ip-10-0-1-5"}}}})},
			"its required node affinity matches no new worker (field metadata.name In [ip-10-0-1-5]: a new worker's name is not known)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wontLand(&tt.spec, labels, taints); got != tt.want {
				t.Errorf("wontLand = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestK3sReservation(t *testing.T) {
	tests := []struct {
		vcpu     int
		mib      int64
		want     capacity.Resources
		wantFree string
	}{
		// 60 + 10 = 70m; 100 + 5% of 4096 = 304Mi.
		{2, 4096, capacity.Resources{MilliCPU: 70, Memory: 304 * mib}, "1.93 CPU, 3.7 GiB, 110 pods"},
		// 60 + 10 + 5 + 5 + 4*2 = 88m; 100 + 1638 = 1738Mi.
		{8, 32768, capacity.Resources{MilliCPU: 88, Memory: 1738 * mib}, "7.912 CPU, 30.3 GiB, 110 pods"},
	}
	for _, tt := range tests {
		got := K3sReservation(tt.vcpu, tt.mib, 110)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%d vCPU: reservation (-want +got):\n%s", tt.vcpu, diff)
		}
		free := capacity.Resources{MilliCPU: int64(tt.vcpu) * 1000, Memory: tt.mib * mib, Pods: 110}.Sub(got)
		if free.String() != tt.wantFree {
			t.Errorf("%d vCPU: allocatable %s, want %s", tt.vcpu, free, tt.wantFree)
		}
	}
}

// Builders for the view tests.

func kNode(name string, lbl map[string]string, alloc corev1.ResourceList, ready bool, taints ...corev1.Taint) *corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	alloc[corev1.ResourcePods] = resource.MustParse("110")
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Allocatable: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
}

func worker(name string, extra ...string) map[string]string {
	l := map[string]string{autoscaler.LabelInstanceID: "i-" + name, autoscaler.LabelInstanceType: "t3.medium",
		corev1.LabelHostname: name, "pool": "general", corev1.LabelTopologyZone: "eu-west-1" + name[len(name)-1:]}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	return l
}

func kPod(ns, name, nodeName string, spec corev1.PodSpec, opts ...func(*corev1.Pod)) *corev1.Pod {
	spec.NodeName = nodeName
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name)}, Spec: spec,
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	if nodeName == "" {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func byDaemonSet(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: name, Controller: &yes}}
	}
}

func kDaemonSet(ns, name string, spec corev1.PodSpec) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: spec}}}
}

func containers(cpu, mem string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{ctr("c", cpu, mem)}}
}

// viewCluster: a K3s server (tainted), two Ready t3.medium workers (the
// smaller 1930m / 3.5Gi), a NotReady one and a worker of another type;
// three DaemonSets of which two land on new workers (0.1 CPU, 128Mi
// together); running pods; and eight unschedulable pods.
func viewCluster() []runtime.Object {
	serverTaint := corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	dsSpec := func(cpu, mem string) corev1.PodSpec { return containers(cpu, mem) }
	onlyServer := dsSpec("500m", "1Gi")
	onlyServer.NodeSelector = map[string]string{"node-role.kubernetes.io/control-plane": "true"}
	onlyServer.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists}}
	tooBig := containers("3", "8Gi")
	typo := containers("100m", "64Mi")
	typo.NodeSelector = map[string]string{"pool": "genreal"}
	gpu := containers("100m", "64Mi")
	gpu.Tolerations = []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}}
	gpu.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "gpu", Operator: corev1.NodeSelectorOpExists}}}}}}}
	onServer := containers("100m", "64Mi")
	onServer.NodeSelector = map[string]string{"node-role.kubernetes.io/control-plane": "true"}
	general := containers("200m", "256Mi")
	general.NodeSelector = map[string]string{"pool": "general"}
	return []runtime.Object{
		kNode("server", map[string]string{"node-role.kubernetes.io/control-plane": "true"}, rl("2", "4Gi"), true, serverTaint),
		kNode("w-a", worker("w-a"), rl("1930m", "3584Mi"), true),
		kNode("w-b", worker("w-b", "scratch", "yes"), rl("1950m", "3600Mi"), true),
		kNode("w-c", worker("w-c"), rl("900m", "1Gi"), false),
		kNode("w-d", worker("w-d", autoscaler.LabelInstanceType, "m5.large"), rl("1", "1Gi"), true),
		kDaemonSet("kube-system", "proxy", dsSpec("50m", "64Mi")),
		kDaemonSet("monitoring", "node-exporter", dsSpec("50m", "64Mi")),
		kDaemonSet("kube-system", "server-only", onlyServer),
		// Running: on w-a 1 CPU / 1Gi of app pods and a DaemonSet
		// pod; on w-d (a worker too) 0.5 / 512Mi; on the server 2 CPU
		// (not a worker: not demand).
		kPod("shop", "web-1", "w-a", containers("500m", "512Mi")),
		kPod("shop", "web-2", "w-a", containers("500m", "512Mi")),
		kPod("kube-system", "proxy-w-a", "w-a", dsSpec("50m", "64Mi"), byDaemonSet("proxy")),
		kPod("shop", "api-1", "w-d", containers("500m", "512Mi")),
		kPod("kube-system", "coredns", "server", containers("2", "1Gi")),
		// Pending.
		kPod("shop", "checkout-1", "", containers("1", "1Gi")),
		kPod("shop", "checkout-2", "", containers("1", "1Gi")),
		kPod("shop", "checkout-3", "", containers("1", "1Gi")),
		kPod("shop", "small-1", "", containers("500m", "256Mi")),
		kPod("shop", "general-1", "", general),
		kPod("shop", "checkout-7", "", tooBig),
		kPod("shop", "typo", "", typo),
		kPod("ml", "train", "", gpu),
		kPod("kube-system", "on-server", "", onServer),
		kPod("shop", "not-seen-yet", "", containers("1", "1Gi"), func(p *corev1.Pod) { p.Status.Conditions = nil }),
	}
}

// TestKubeSchedulerView checks the whole view of one cluster against a
// packing computed by hand.
func TestKubeSchedulerView(t *testing.T) {
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(viewCluster()...)), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096,
		WorkerLabels: map[string]string{"pool": "general"},
		WorkerTaints: []capacity.Taint{{Key: "node-fleet.io/spot", Value: "true", Effect: "PreferNoSchedule"}}})
	if err != nil {
		t.Fatal(err)
	}
	view, n, err := k.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 9 {
		t.Errorf("%d unschedulable pods, want 9 (the one the scheduler has not looked at is not)", n)
	}
	// The template: the smaller of w-a and w-b (w-c is NotReady, w-d
	// another type); the labels the join script and the configuration
	// set;
	// DaemonSets proxy and node-exporter land (0.1 CPU, 128Mi, 2 pods),
	// server-only does not. Free: 1830m, 3456Mi, 108 pods.
	wantTpl := capacity.WorkerTemplate{
		InstanceType: "t3.medium",
		Allocatable:  capacity.Resources{MilliCPU: 1930, Memory: 3584 * mib, Pods: 110},
		DaemonSet:    capacity.Resources{MilliCPU: 100, Memory: 128 * mib, Pods: 2},
		Labels: map[string]string{"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", autoscaler.LabelInstanceType: "t3.medium",
			"pool": "general"},
		Taints: []capacity.Taint{{Key: "node-fleet.io/spot", Value: "true", Effect: "PreferNoSchedule"}},
		Source: "the smallest of 2 Ready t3.medium workers (CPU of node w-a)",
	}
	if diff := cmp.Diff(wantTpl, view.Template); diff != "" {
		t.Errorf("template (-want +got):\n%s", diff)
	}
	type pp struct{ Name, Unplaceable string }
	var got []pp
	for _, p := range view.Pending {
		got = append(got, pp{p.Key(), p.Unplaceable})
	}
	want := []pp{
		{"kube-system/on-server", "pod kube-system/on-server cannot run on a new t3.medium worker: its nodeSelector node-role.kubernetes.io/control-plane=true matches no new worker (a new worker has no label node-role.kubernetes.io/control-plane)"},
		{"ml/train", "pod ml/train cannot run on a new t3.medium worker: its required node affinity matches no new worker (gpu Exists []: a new worker has no label gpu)"},
		{"shop/checkout-1", ""}, {"shop/checkout-2", ""}, {"shop/checkout-3", ""},
		{"shop/checkout-7", "pod shop/checkout-7 requests 3 CPU; a new t3.medium worker offers 1.83; and it requests 8 GiB of memory; a new t3.medium worker offers 3.38 GiB"},
		{"shop/general-1", ""}, {"shop/small-1", ""},
		{"shop/typo", "pod shop/typo cannot run on a new t3.medium worker: its nodeSelector pool=genreal matches no new worker (a new worker has pool=general)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pending (-want +got):\n%s", diff)
	}
	// Placeable: checkout-1..3 (1 CPU, 1Gi), small-1 (0.5, 256Mi),
	// general-1 (0.2, 256Mi) onto 1.83 CPU: checkout-1 + small-1 +
	// general-1 (1.7), checkout-2, checkout-3: 3 workers.
	if view.NodesNeeded != 3 {
		t.Errorf("NodesNeeded %d, want 3", view.NodesNeeded)
	}
	// Demand: on workers web-1, web-2, api-1: 1.5 CPU, 1.5Gi; placeable
	// pending 3.7 CPU, 3.5Gi. 5.2 CPU / 1.83 = 2.8415; 5Gi / 3456Mi =
	// 1.48: CPU decides.
	if d := view.Demand; d < 2.8415 || d > 2.8416 {
		t.Errorf("Demand %.5f, want 5200/1830 = 2.84153", d)
	}
}

// sizes is an InstanceTypes that counts its calls.
type sizes struct {
	calls int
	err   error
}

func (s *sizes) InstanceTypeSize(_ context.Context, name string) (int, int64, error) {
	s.calls++
	if s.err != nil {
		return 0, 0, s.err
	}
	if name != "t3.medium" {
		return 0, 0, autoscaler.ErrNotFound
	}
	return 2, 4096, nil
}

// TestKubeSchedulerTemplateWithoutWorkers: with no Ready worker of the
// type the template is the type's size minus the reservation, looked up
// once and then kept; when it cannot be looked up the pending pods are
// still counted and the view is absent, not empty.
func TestKubeSchedulerTemplateWithoutWorkers(t *testing.T) {
	objs := []runtime.Object{
		kNode("server", map[string]string{"node-role.kubernetes.io/control-plane": "true"}, rl("2", "4Gi"), true),
		kPod("shop", "checkout-1", "", containers("1", "1Gi")),
		kPod("shop", "checkout-2", "", containers("1", "1Gi")),
	}
	lookup := &sizes{}
	clk := testclock.NewFakeClock(t0)
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "t3.medium", InstanceTypes: lookup, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		snap, err := k.Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		v := snap.Scheduler
		if v == nil {
			t.Fatal("no view")
		}
		// 2000-70 = 1930m, 4096-304 = 3792Mi: one 1-CPU pod a worker.
		want := capacity.Resources{MilliCPU: 1930, Memory: 3792 * mib, Pods: 110}
		if diff := cmp.Diff(want, v.Template.Allocatable); diff != "" {
			t.Errorf("allocatable (-want +got):\n%s", diff)
		}
		if v.Template.Source != "t3.medium: 2 vCPU, 4 GiB, minus reservations (0.07 CPU, 304 MiB); no Ready worker of the type to learn from" {
			t.Errorf("source %q", v.Template.Source)
		}
		if v.NodesNeeded != 2 || !snap.PendingPods.OK || snap.PendingPods.Value != 2 || !snap.PendingPods.At.Equal(t0) {
			t.Errorf("NodesNeeded %d, pending %v; want 2 and 2", v.NodesNeeded, snap.PendingPods)
		}
		// 2 CPU / 1.93 = 1.036 workers, recorded at the snapshot's time.
		if m := snap.Custom[autoscaler.MetricDemand]; !m.OK || m.Value != v.Demand || v.Demand < 1.036 || v.Demand > 1.037 || !m.At.Equal(t0) {
			t.Errorf("recorded demand %+v, view's %.4f; want 2000/1930 = 1.0363 at %s", m, v.Demand, t0)
		}
	}
	if lookup.calls != 1 {
		t.Errorf("%d lookups of the instance type, want 1", lookup.calls)
	}

	failing := &sizes{err: errors.New("DescribeInstanceTypes: throttled")}
	k, err = NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "t3.medium", InstanceTypes: failing})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := k.Collect(context.Background())
	if err != nil || snap.Scheduler != nil || !snap.PendingPods.OK || snap.PendingPods.Value != 2 {
		t.Errorf("Collect = pending %v, view %v, %v; want 2 pending, no view, no error", snap.PendingPods, snap.Scheduler, err)
	}
}

// TestKubeSchedulerReadFails: any list that fails makes the pending pods
// missing and the view absent, never zero.
func TestKubeSchedulerReadFails(t *testing.T) {
	for _, res := range []string{"nodes", "pods", "daemonsets"} {
		t.Run(res, func(t *testing.T) {
			c := fake.NewClientset(viewCluster()...)
			c.PrependReactor("list", res, func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, errors.New("connection refused")
			})
			k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(c), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := k.Collect(context.Background())
			if !errors.Is(err, autoscaler.ErrNoData) || !strings.Contains(err.Error(), "list "+res) || !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error %v, want ErrNoData naming the list and the cause", err)
			}
			if snap.PendingPods.OK || snap.Scheduler != nil {
				t.Errorf("pending %v, view %v: want missing and nil", snap.PendingPods, snap.Scheduler)
			}
		})
	}
}

// TestOverrideScheduler: the combined source carries the other source's
// CPU and the view's pending count and view.
func TestOverrideScheduler(t *testing.T) {
	prom := &fleetfake.Static{Snapshot: autoscaler.Snapshot{Time: t0, CPU: autoscaler.Value(30, t0), Memory: autoscaler.Value(40, t0), PendingPods: autoscaler.Value(7, t0)}}
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(viewCluster()...)), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096, Clock: testclock.NewFakeClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := OverrideScheduler(prom, k).Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap.CPU.Value != 30 || snap.PendingPods.Value != 9 || snap.Scheduler == nil || snap.Scheduler.NodesNeeded != 3 {
		t.Errorf("cpu %v, pending %v, view %+v; want 30, 9 and 3 nodes needed", snap.CPU, snap.PendingPods, snap.Scheduler)
	}
	// The demand goes into the history through the custom metrics.
	if d, ok := snap.Demand(); !ok || snap.Custom[autoscaler.MetricDemand].Value != d || !snap.Custom[autoscaler.MetricDemand].OK {
		t.Errorf("custom %v, demand %v %v: want the view's demand recorded", snap.Custom, d, ok)
	}
}

func TestNewKubeSchedulerConfig(t *testing.T) {
	_, err := NewKubeScheduler(KubeSchedulerConfig{Workers: "a in (", VCPU: 2, MaxPods: -1, Timeout: -1, PageSize: -1,
		WorkerTaints: []capacity.Taint{{Key: "x", Effect: "NoEvict"}}})
	for _, w := range []string{"Client is required", "InstanceType is required", `Workers "a in ("`, "VCPU and MemoryMiB go together",
		`taint "x" has effect "NoEvict"`, "MaxPods must be positive", "Timeout must be positive", "PageSize must be positive"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not say %q", err, w)
		}
	}
	_, err = NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset()), InstanceType: "t3.medium"})
	if err == nil || !strings.Contains(err.Error(), "VCPU and MemoryMiB, or InstanceTypes, are required") {
		t.Errorf("error %v, want the missing size named", err)
	}
}

// TestKubeSchedulerWarnsOncePerPod: each pod no new worker would help is
// logged the first tick it is seen so, not every tick, and again if it
// comes back after it was gone.
func TestKubeSchedulerWarnsOncePerPod(t *testing.T) {
	var logs strings.Builder
	c := fake.NewClientset(viewCluster()...)
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(c), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096,
		WorkerLabels: map[string]string{"pool": "general"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	collect := func() {
		if _, err := k.Collect(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	collect()
	collect()
	if n := strings.Count(logs.String(), "pending pod no new worker would help"); n != 4 {
		t.Errorf("%d warnings after two ticks, want 4 (one per unplaceable pod)\n%s", n, logs.String())
	}
	typo, err := c.CoreV1().Pods("shop").Get(context.Background(), "typo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods("shop").Delete(context.Background(), "typo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	collect()
	typo.ResourceVersion = ""
	if _, err := c.CoreV1().Pods("shop").Create(context.Background(), typo, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	collect()
	if n := strings.Count(logs.String(), "pod=shop/typo"); n != 2 {
		t.Errorf("shop/typo warned %d times, want 2 (before it went and after it came back)", n)
	}
}

// TestApartGroup: replicas that keep apart by hostname share a group; other
// anti-affinities make none.
func TestApartGroup(t *testing.T) {
	term := func(key string, sel map[string]string, namespaces ...string) corev1.PodAffinityTerm {
		return corev1.PodAffinityTerm{TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: sel}, Namespaces: namespaces}
	}
	pod := func(terms ...corev1.PodAffinityTerm) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", Labels: map[string]string{"app": "db", "pod": "db-0"}},
			Spec: corev1.PodSpec{Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}}}}
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"own kind by hostname", pod(term(corev1.LabelHostname, map[string]string{"app": "db"})), "shop/app=db"},
		{"by zone is not per node", pod(term(corev1.LabelTopologyZone, map[string]string{"app": "db"})), ""},
		{"another kind", pod(term(corev1.LabelHostname, map[string]string{"app": "cache"})), ""},
		{"its namespace named", pod(term(corev1.LabelHostname, map[string]string{"app": "db"}, "shop", "other")), "shop/app=db"},
		{"other namespaces only", pod(term(corev1.LabelHostname, map[string]string{"app": "db"}, "other")), ""},
		{"the first matching term", pod(term(corev1.LabelTopologyZone, map[string]string{"app": "db"}), term(corev1.LabelHostname, map[string]string{"app": "db"})), "shop/app=db"},
		{"none", &corev1.Pod{}, ""},
	}
	for _, tt := range tests {
		if got := apartGroup(tt.pod); got != tt.want {
			t.Errorf("%s: apartGroup = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestKubeSchedulerLearnsTaints: the taints every Ready worker of the type
// shares are the new worker's (condition taints aside): DaemonSets and
// pods that do not tolerate them do not count for a new worker. A worker
// whose only type label is K3s's placeholder is not learnt from.
func TestKubeSchedulerLearnsTaints(t *testing.T) {
	batch := corev1.Taint{Key: "dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	k3s := map[string]string{autoscaler.LabelCluster: "prod", corev1.LabelInstanceTypeStable: "k3s"}
	tolerant := containers("100m", "64Mi")
	tolerant.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "batch"}}
	objs := []runtime.Object{
		kNode("w-a", worker("w-a"), rl("1930m", "3584Mi"), true, batch, notReady),
		kNode("w-b", worker("w-b"), rl("1930m", "3584Mi"), true, batch),
		kNode("w-k3s", k3s, rl("500m", "1Gi"), true),
		kDaemonSet("kube-system", "proxy", containers("50m", "64Mi")),
		kDaemonSet("kube-system", "batch-agent", tolerant),
		kPod("jobs", "tolerant", "", tolerant),
		kPod("jobs", "plain", "", containers("100m", "64Mi")),
	}
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := k.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Taints      []capacity.Taint
		DaemonSet   capacity.Resources
		Source      string
		Unplaceable []string
		NodesNeeded int
	}
	var unplaceable []string
	for _, p := range v.Unplaceable() {
		unplaceable = append(unplaceable, p.Unplaceable)
	}
	want := got{
		Taints:      []capacity.Taint{{Key: "dedicated", Value: "batch", Effect: "NoSchedule"}},
		DaemonSet:   capacity.Resources{MilliCPU: 100, Memory: 64 * mib, Pods: 1},
		Source:      "the smallest of 2 Ready t3.medium workers (CPU of node w-a)",
		Unplaceable: []string{"pod jobs/plain cannot run on a new t3.medium worker: it does not tolerate the new worker's taint dedicated=batch:NoSchedule"},
		NodesNeeded: 1,
	}
	if diff := cmp.Diff(want, got{v.Template.Taints, v.Template.DaemonSet, v.Template.Source, unplaceable, v.NodesNeeded}); diff != "" {
		t.Errorf("view (-want +got):\n%s", diff)
	}
}

// TestKubeSchedulerExtendedResources: a pod asking for a GPU is placeable
// only when every Ready worker of the type offers as many; a type's size
// offers none.
func TestKubeSchedulerExtendedResources(t *testing.T) {
	gpuPod := containers("1", "1Gi")
	gpuPod.Containers[0].Resources.Requests["nvidia.com/gpu"] = resource.MustParse("1")
	gpu := func(n string) corev1.ResourceList {
		l := rl("3900m", "15Gi")
		l["nvidia.com/gpu"] = resource.MustParse(n)
		return l
	}
	typed := func(name, typ string) map[string]string { return worker(name, autoscaler.LabelInstanceType, typ) }
	tests := []struct {
		name  string
		nodes []runtime.Object
		want  string
	}{
		{"workers with GPUs", []runtime.Object{kNode("w-a", typed("w-a", "g4dn.xlarge"), gpu("1"), true), kNode("w-b", typed("w-b", "g4dn.xlarge"), gpu("4"), true)}, ""},
		{"one worker without", []runtime.Object{kNode("w-a", typed("w-a", "g4dn.xlarge"), gpu("1"), true), kNode("w-b", typed("w-b", "g4dn.xlarge"), gpu("0"), true)},
			"pod ml/train requests 1 nvidia.com/gpu; a new g4dn.xlarge worker offers none"},
		{"no worker to learn from", nil, "pod ml/train requests 1 nvidia.com/gpu; a new g4dn.xlarge worker offers none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := append(tt.nodes, kPod("ml", "train", "", gpuPod))
			k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "g4dn.xlarge", VCPU: 4, MemoryMiB: 16384})
			if err != nil {
				t.Fatal(err)
			}
			v, _, err := k.View(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := v.Pending[0].Unplaceable; got != tt.want {
				t.Errorf("unplaceable %q, want %q", got, tt.want)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.want == ""]; v.NodesNeeded != want {
				t.Errorf("NodesNeeded %d, want %d", v.NodesNeeded, want)
			}
		})
	}
}

// TestKubeSchedulerNominatedPods: a pod the scheduler has nominated for a
// node (it preempts lower-priority pods there) asks for no new worker but
// is demand.
func TestKubeSchedulerNominatedPods(t *testing.T) {
	objs := []runtime.Object{
		kPod("shop", "vip", "", containers("1", "1Gi"), func(p *corev1.Pod) { p.Status.NominatedNodeName = "w-a" }),
		kPod("shop", "web", "", containers("1", "1Gi")),
	}
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
	if err != nil {
		t.Fatal(err)
	}
	v, n, err := k.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 2 CPU of 1.93: 1.036 workers of demand, 1 new worker for web.
	if n != 2 || v.NodesNeeded != 1 || len(v.Placeable()) != 1 || v.Pending[0].Nominated != "w-a" || v.Demand < 1.036 || v.Demand > 1.037 {
		t.Errorf("pending %d, NodesNeeded %d, placeable %v, demand %.4f; want 2, 1, [web], 1.0363", n, v.NodesNeeded, v.Placeable(), v.Demand)
	}
}

// A pending pod's PendingSince is when its PodScheduled condition turned
// False (the scheduler keeps that time while it keeps failing).
func TestKubeSchedulerPendingSinceFromPodScheduled(t *testing.T) {
	since := metav1.NewTime(time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC))
	objs := viewCluster()
	objs = append(objs, kPod("shop", "late", "", corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: rl("100m", "64Mi")}}}},
		func(p *corev1.Pod) { p.Status.Conditions[0].LastTransitionTime = since }))
	k, err := NewKubeScheduler(KubeSchedulerConfig{Client: clientset.New(fake.NewClientset(objs...)), InstanceType: "t3.medium", VCPU: 2, MemoryMiB: 4096})
	if err != nil {
		t.Fatal(err)
	}
	view, _, err := k.View(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range view.Pending {
		if p.Key() == "shop/late" {
			found = true
			if !p.PendingSince.Equal(since.Time) {
				t.Errorf("PendingSince %v, want %v", p.PendingSince, since.Time)
			}
		}
	}
	if !found {
		t.Fatalf("shop/late not among the pending pods")
	}
}
