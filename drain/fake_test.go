package drain

import (
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/node-fleet/node-fleet/kube/clientset"
)

// Builders of the objects the unit tests put into client-go's fake
// clientset.

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type nodeOpt func(*corev1.Node)

func node(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0)},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(time.Minute)),
		}}},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func withLabel(k, v string) nodeOpt {
	return func(n *corev1.Node) { metav1.SetMetaDataLabel(&n.ObjectMeta, k, v) }
}

func withNodeAnnotation(k, v string) nodeOpt {
	return func(n *corev1.Node) { metav1.SetMetaDataAnnotation(&n.ObjectMeta, k, v) }
}

type podOpt func(*corev1.Pod)

// pod is a running pod owned by a ReplicaSet unless options say otherwise.
func pod(ns, name, nodeName string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name),
			Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{NodeName: nodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	ownedBy("apps/v1", "ReplicaSet", "web-1")(p)
	for _, o := range opts {
		o(p)
	}
	return p
}

func ownedBy(apiVersion, kind, name string) podOpt {
	return func(p *corev1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: &yes}}
	}
}

func unowned(p *corev1.Pod) { p.OwnerReferences = nil }

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func podAnnotation(k, v string) podOpt {
	return func(p *corev1.Pod) { metav1.SetMetaDataAnnotation(&p.ObjectMeta, k, v) }
}

func emptyDir(p *corev1.Pod) {
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
}

// claimVolume mounts the PersistentVolumeClaim claim as volume "data".
func claimVolume(claim string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
	}
}

// hostPathVolume mounts the node's path as volume "host".
func hostPathVolume(path string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: path}}})
	}
}

// pvc is a PersistentVolumeClaim bound to the PersistentVolume volume (""
// for an unbound claim).
func pvc(ns, name, volume string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: volume}}
}

type pvOpt func(*corev1.PersistentVolume)

// pv is a PersistentVolume with no source the filter chain looks at (a CSI
// volume) unless options say otherwise.
func pv(name string, opts ...pvOpt) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: "vol-" + name}}}}
	for _, o := range opts {
		o(v)
	}
	return v
}

// pvAffinity requires nodes whose label key is one of values.
func pvAffinity(key string, values ...string) pvOpt {
	return func(v *corev1.PersistentVolume) {
		v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}}}}}}
	}
}

// pvLocalPath makes the volume what K3s's local-path provisioner creates:
// a hostPath directory pinned to the node by hostname.
func pvLocalPath(node string) pvOpt {
	return func(v *corev1.PersistentVolume) {
		v.Spec.PersistentVolumeSource = corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/rancher/k3s/storage/" + v.Name}}
		pvAffinity(corev1.LabelHostname, node)(v)
	}
}

func terminating(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		ts := metav1.NewTime(at)
		p.DeletionTimestamp = &ts
	}
}

// daemonSet is a DaemonSet object for the fake clientset.
func daemonSet(ns, name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)}}
}

// pdb is a PodDisruptionBudget over app=<app> with the given status.
func pdb(ns, name, app string, allowed int32) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: allowed},
	}
}

// evictions is a stand-in for the API server's eviction subresource on the
// fake clientset: it records every request and answers with the next
// scripted error for that pod (nil: evict), deleting the pod or, when
// graceful, marking it terminating until its grace period has passed.
type evictions struct {
	cs       *fake.Clientset
	clock    *testingclock.FakeClock
	mu       sync.Mutex
	calls    []string
	script   map[string][]error // by namespace/name; the last error repeats
	graceful time.Duration      // 0: evicted pods disappear at once
}

func newEvictions(cs *fake.Clientset, clk *testingclock.FakeClock) *evictions {
	e := &evictions{cs: cs, clock: clk, script: map[string][]error{}}
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		return true, nil, e.evict(ev)
	})
	return e
}

func (e *evictions) evict(ev *policyv1.Eviction) error {
	key := ev.Namespace + "/" + ev.Name
	e.mu.Lock()
	e.calls = append(e.calls, key)
	var err error
	if q := e.script[key]; len(q) > 0 {
		err = q[0]
		if len(q) > 1 {
			e.script[key] = q[1:]
		}
	}
	e.mu.Unlock()
	if err != nil {
		return err
	}
	gvr := corev1.SchemeGroupVersion.WithResource("pods")
	obj, err := e.cs.Tracker().Get(gvr, ev.Namespace, ev.Name)
	if err != nil {
		return err
	}
	p := obj.(*corev1.Pod)
	if pre := ev.DeleteOptions; pre != nil && pre.Preconditions != nil && pre.Preconditions.UID != nil && *pre.Preconditions.UID != p.UID {
		return apierrors.NewConflict(gvr.GroupResource(), ev.Name, fmt.Errorf("UID precondition failed"))
	}
	if e.graceful == 0 {
		return e.cs.Tracker().Delete(gvr, ev.Namespace, ev.Name)
	}
	p = p.DeepCopy()
	terminating(e.clock.Now().Add(e.graceful))(p)
	return e.cs.Tracker().Update(gvr, p, ev.Namespace)
}

func (e *evictions) refuse(ns, name string, errs ...error) { e.script[ns+"/"+name] = errs }

func (e *evictions) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...)
}

// tooMany is the API server's answer when a PodDisruptionBudget refuses.
func tooMany() error {
	return apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
}

// runClocked runs fn in a goroutine and advances clk by step whenever fn
// waits on it, until fn returns; it gives up after limit steps.
func runClocked(t *testing.T, clk *testingclock.FakeClock, step time.Duration, limit int, fn func() error) (int, error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	steps := 0
	for {
		select {
		case err := <-done:
			return steps, err
		case <-time.After(time.Millisecond):
		}
		if clk.HasWaiters() {
			if steps == limit {
				t.Fatalf("still waiting after %d steps of %s", limit, step)
			}
			clk.Step(step)
			steps++
		}
	}
}

func newFake(t *testing.T, cfg Config, objs ...runtime.Object) (*Manager, *fake.Clientset, *testingclock.FakeClock) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	clk := testingclock.NewFakeClock(t0.Add(time.Hour))
	cfg.Client, cfg.Clock = clientset.New(cs), clk
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m, cs, clk
}
