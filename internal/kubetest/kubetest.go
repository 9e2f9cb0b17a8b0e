// Package kubetest connects tests to the real kube-apiserver that the test
// command (scripts/svc/kube.sh) starts, and plays the parts of a cluster
// that run there without a process of their own: it creates Nodes and
// writes their status as a kubelet would, binds pending pods as a
// scheduler would (or marks them unschedulable, as it does with pods that
// fit nowhere), creates PersistentVolumes bound to claims as a provisioner
// would (K3s's local-path, or a zonal network volume), and marks pods
// Running and Ready, or finishes their termination, as their kubelet
// would.
//
// Every object a test creates lives in its own namespace or carries a name
// unique to the run, and is deleted when the test ends, so that tests can
// share one API server and run in parallel.
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/node-fleet/node-fleet/internal/testenv"
)

// EnvKubeconfig names the environment variable that holds the path of the
// test cluster's kubeconfig (set by scripts/svc/kube.sh).
const EnvKubeconfig = "NODEFLEET_KUBECONFIG"

// Cluster is a connection to the test cluster.
type Cluster struct {
	// Config is the client configuration read from the kubeconfig.
	Config *rest.Config
	// Client is a clientset on Config.
	Client kubernetes.Interface
}

// Connect returns the test cluster, or skips t (fails it when integration
// is required) when the test command did not start one.
func Connect(t testing.TB) *Cluster {
	t.Helper()
	path := testenv.Lookup(t, EnvKubeconfig, "a kube-apiserver")
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", path, err)
	}
	// Tests poll; the default 5 QPS would make them slow, not safer.
	cfg.QPS, cfg.Burst = 200, 400
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client for %s: %v", cfg.Host, err)
	}
	return &Cluster{Config: cfg, Client: cs}
}

// Name returns prefix followed by a random suffix, a valid object name
// unique to this run.
func Name(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; a fixed suffix still works
		// for a single test.
		return prefix + "-x"
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// ctx returns a context for one helper call, bounded so that a stuck API
// server fails the test instead of hanging it.
func ctx(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), 30*time.Second)
}

// Namespace creates a namespace with a unique name starting with prefix,
// waits until its default ServiceAccount exists (pods cannot be created
// before), and deletes it when the test ends.
func (c *Cluster) Namespace(t testing.TB, prefix string) string {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	ns, err := c.Client.CoreV1().Namespaces().Create(cx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Name(prefix)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		// A storm's thousands of pods take a loaded API server more than
		// 30 s to delete; pods left behind are pending pods that every
		// other package's daemon, sharing this server, would see.
		cx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		zero := int64(0)
		// Pods have no kubelet to finish them: delete them at once so
		// that the namespace can go, and wait until they are gone.
		pods := c.Client.CoreV1().Pods(ns.Name)
		if err := pods.DeleteCollection(cx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
			t.Errorf("delete the pods of namespace %s: %v", ns.Name, err)
		}
		if err := c.Client.CoreV1().Namespaces().Delete(cx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
		for {
			left, err := pods.List(cx, metav1.ListOptions{Limit: 1})
			if err == nil && len(left.Items) == 0 {
				return
			}
			select {
			case <-cx.Done():
				t.Errorf("pods of namespace %s still there after 3 minutes (%v)", ns.Name, err)
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	Eventually(t, 30*time.Second, "default ServiceAccount in "+ns.Name, func() (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(ns.Name).Get(cx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	return ns.Name
}

// NodeOptions describe a Node to create.
type NodeOptions struct {
	// Name defaults to a unique "node-..." name.
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	// ProviderID is spec.providerID, e.g. "aws:///eu-west-1a/i-0abc".
	ProviderID string
	// InternalIP and Hostname become status addresses when set.
	InternalIP string
	Hostname   string
	// NotReady writes the Ready condition as False instead of True.
	NotReady bool
	// Since, when set, is the Ready condition's last transition (a node
	// NotReady for ten minutes); default now.
	Since time.Time
	// Allocatable is the node's capacity and allocatable; default 4 CPUs,
	// 16Gi and 110 pods.
	Allocatable corev1.ResourceList
	// Taints are the node's spec.taints.
	Taints []corev1.Taint
}

// AddNode creates a Node, writes its status (Ready condition, addresses,
// capacity and allocatable, by default 4 CPUs and 16Gi) as its kubelet
// would, and deletes it when the test ends. It returns the Node as stored.
func (c *Cluster) AddNode(t testing.TB, o NodeOptions) *corev1.Node {
	t.Helper()
	if o.Name == "" {
		o.Name = Name("node")
	}
	cx, cancel := ctx(t)
	defer cancel()
	n, err := c.Client.CoreV1().Nodes().Create(cx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Labels: o.Labels, Annotations: o.Annotations},
		Spec:       corev1.NodeSpec{ProviderID: o.ProviderID, Taints: o.Taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", o.Name, err)
	}
	t.Cleanup(func() {
		cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Client.CoreV1().Nodes().Delete(cx, o.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete node %s: %v", o.Name, err)
		}
	})
	capacity := o.Allocatable
	if capacity == nil {
		capacity = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourceMemory: resource.MustParse("16Gi"),
			corev1.ResourcePods:   resource.MustParse("110"),
		}
	}
	var addrs []corev1.NodeAddress
	if o.InternalIP != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: o.InternalIP})
	}
	if o.Hostname != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: o.Hostname})
	}
	n, err = c.writeNodeStatus(cx, n.Name, func(st *corev1.NodeStatus) {
		st.Capacity, st.Allocatable, st.Addresses = capacity, capacity, addrs
		cond := readyCondition(!o.NotReady)
		if !o.Since.IsZero() {
			cond.LastTransitionTime = metav1.NewTime(o.Since)
		}
		st.Conditions = []corev1.NodeCondition{cond}
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// writeNodeStatus changes a node's status as its kubelet would, retrying
// when a controller (the node lifecycle controller adds taints to new
// nodes) changed the node in between.
func (c *Cluster) writeNodeStatus(cx context.Context, name string, change func(*corev1.NodeStatus)) (*corev1.Node, error) {
	var out *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(cx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(&n.Status)
		out, err = c.Client.CoreV1().Nodes().UpdateStatus(cx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write status of node %s: %w", name, err)
	}
	return out, nil
}

func readyCondition(ready bool) corev1.NodeCondition {
	now := metav1.Now()
	cond := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet is posting ready status (kubetest)", LastHeartbeatTime: now, LastTransitionTime: now}
	if !ready {
		cond.Status, cond.Reason, cond.Message = corev1.ConditionFalse, "KubeletNotReady", "kubetest says not ready"
	}
	return cond
}

// SetNodeReady writes the node's Ready condition as its kubelet would.
func (c *Cluster) SetNodeReady(t testing.TB, name string, ready bool) {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	if _, err := c.writeNodeStatus(cx, name, func(st *corev1.NodeStatus) {
		st.Conditions = []corev1.NodeCondition{readyCondition(ready)}
	}); err != nil {
		t.Fatal(err)
	}
}

// RunPod creates pod (already bound when its spec names a node) and, once
// bound, marks it Running and Ready. It returns the pod as stored.
func (c *Cluster) RunPod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	p, err := c.Client.CoreV1().Pods(pod.Namespace).Create(cx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	if p.Spec.NodeName == "" {
		return p
	}
	p, err = c.markRunning(cx, p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// markRunning writes the status a kubelet writes once a pod's containers
// are up, unless the pod already has it (the simulated kubelet may have
// been first).
func (c *Cluster) markRunning(cx context.Context, p *corev1.Pod) (*corev1.Pod, error) {
	pods := c.Client.CoreV1().Pods(p.Namespace)
	out := p
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(cx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Status.Phase == corev1.PodRunning && podReady(cur) {
			out = cur
			return nil
		}
		now := metav1.Now()
		cur.Status.Phase = corev1.PodRunning
		cur.Status.StartTime = &now
		cur.Status.Conditions = nil
		for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			cur.Status.Conditions = append(cur.Status.Conditions, corev1.PodCondition{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: now})
		}
		out, err = pods.UpdateStatus(cx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mark pod %s/%s running: %w", p.Namespace, p.Name, err)
	}
	return out, nil
}

// MarkUnschedulable writes the status kube-scheduler writes on a pod it
// could not place (PodScheduled False, reason Unschedulable, with
// message), as the test cluster has no scheduler.
func (c *Cluster) MarkUnschedulable(t testing.TB, ns, name, message string) {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	pods := c.Client.CoreV1().Pods(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := pods.Get(cx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: message, LastTransitionTime: metav1.Now()}}
		_, err = pods.UpdateStatus(cx, p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("mark pod %s/%s unschedulable: %v", ns, name, err)
	}
}

// bind assigns a pending pod to a node, as the scheduler does.
func (c *Cluster) bind(cx context.Context, p *corev1.Pod, node string) error {
	err := c.Client.CoreV1().Pods(p.Namespace).Bind(cx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("bind pod %s/%s to %s: %w", p.Namespace, p.Name, node, err)
	}
	return nil
}

// KubeletOptions say what a simulated kubelet and scheduler do in one
// namespace.
type KubeletOptions struct {
	// BindTo are the nodes pending pods may be bound to: each goes to the
	// first of them that is not cordoned, unless its node affinity names
	// a node (DaemonSet pods). None schedulable: pending pods stay pending.
	BindTo []string
	// FinishTerminating deletes terminating pods at once, as a kubelet
	// does once their containers have stopped; otherwise they stay
	// terminating, as on a node whose kubelet is gone.
	FinishTerminating bool
}

// StartKubelet plays scheduler and kubelet for the pods of namespace ns
// until the test ends: it binds pending pods, marks bound pods Running and
// Ready, and (optionally) finishes terminating pods, every 100ms.
func (c *Cluster) StartKubelet(t testing.TB, ns string, o KubeletOptions) {
	t.Helper()
	cx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := c.kubeletPass(cx, ns, o); err != nil && cx.Err() == nil {
				t.Logf("kubetest kubelet in %s: %v", ns, err)
			}
			select {
			case <-cx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

func (c *Cluster) kubeletPass(cx context.Context, ns string, o KubeletOptions) error {
	pods, err := c.Client.CoreV1().Pods(ns).List(cx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	zero := int64(0)
	target := ""
	for _, name := range o.BindTo {
		n, err := c.Client.CoreV1().Nodes().Get(cx, name, metav1.GetOptions{})
		if err == nil && !n.Spec.Unschedulable {
			target = name
			break
		}
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
			// Finished: a kubelet leaves it as it is.
		case p.DeletionTimestamp != nil:
			if o.FinishTerminating {
				err := c.Client.CoreV1().Pods(ns).Delete(cx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
					Preconditions: &metav1.Preconditions{UID: &p.UID}})
				if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
					return fmt.Errorf("finish pod %s: %w", p.Name, err)
				}
			}
		case p.Spec.NodeName == "":
			node := affinityNode(p)
			if node == "" {
				node = target
			}
			if node == "" {
				continue
			}
			if err := c.bind(cx, p, node); err != nil && !apierrors.IsConflict(err) {
				return err
			}
		case p.Status.Phase == corev1.PodPending || !podReady(p):
			if _, err := c.markRunning(cx, p); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// affinityNode returns the node a DaemonSet pod is meant for (its required
// node affinity on metadata.name), or "".
func affinityNode(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// BoundClaim creates a PersistentVolume from spec (cluster-wide, with a
// unique name) and, in namespace ns, a PersistentVolumeClaim named claim
// bound to it, as a provisioner leaves them; both are deleted when the test
// ends. It returns the volume's name. Capacity (1Gi), access modes
// (ReadWriteOnce), the claim reference and the storage class (that of the
// spec, default "local-path") are filled in when spec leaves them empty.
func (c *Cluster) BoundClaim(t testing.TB, ns, claim string, spec corev1.PersistentVolumeSpec) string {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	name := Name("pv")
	if spec.Capacity == nil {
		spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}
	}
	if spec.AccessModes == nil {
		spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	if spec.StorageClassName == "" {
		spec.StorageClassName = "local-path"
	}
	spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: ns, Name: claim}
	if _, err := c.Client.CoreV1().PersistentVolumes().Create(cx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create persistent volume %s: %v", name, err)
	}
	t.Cleanup(func() {
		cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Client.CoreV1().PersistentVolumes().Delete(cx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete persistent volume %s: %v", name, err)
		}
	})
	sc := spec.StorageClassName
	_, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Create(cx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: claim, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      spec.AccessModes,
			StorageClassName: &sc,
			VolumeName:       name,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: spec.Capacity[corev1.ResourceStorage]}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create persistent volume claim %s/%s: %v", ns, claim, err)
	}
	return name
}

// LocalPathVolume is the spec of a PersistentVolume as K3s's default
// local-path provisioner writes it: a directory on one node, pinned to it
// by node affinity on its hostname.
func LocalPathVolume(hostname string) corev1.PersistentVolumeSpec {
	dir := corev1.HostPathDirectoryOrCreate
	return corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: "/var/lib/rancher/k3s/storage/" + Name("pvc"), Type: &dir}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
		}}}},
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
	}
}

// ZonalVolume is the spec of a network volume pinned to an availability
// zone only, as the EBS CSI driver writes it: it outlives any node.
func ZonalVolume(zone string) corev1.PersistentVolumeSpec {
	return corev1.PersistentVolumeSpec{
		PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "ebs.csi.aws.com", VolumeHandle: Name("vol")}},
		NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
		}}}},
		StorageClassName: "gp3",
	}
}

// Eventually polls cond every 100ms until it returns true, and fails t
// when it returns an error or timeout passes; what names the awaited state
// in the failure.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PodsOn returns the names of the pods of namespace ns bound to node, as
// "name" (sorted by the API server), with " (terminating)" appended to
// those being deleted.
func (c *Cluster) PodsOn(t testing.TB, ns, node string) []string {
	t.Helper()
	cx, cancel := ctx(t)
	defer cancel()
	l, err := c.Client.CoreV1().Pods(ns).List(cx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatalf("list pods on %s: %v", node, err)
	}
	var out []string
	for _, p := range l.Items {
		s := p.Name
		if p.DeletionTimestamp != nil {
			s += " (terminating)"
		}
		out = append(out, s)
	}
	return out
}

// Prefix returns s cut to its part before the first "-": the stable part
// of a generated name such as "web-5f7c9-xk2lp" ("web").
func Prefix(s string) string {
	p, _, _ := strings.Cut(s, "-")
	return p
}
