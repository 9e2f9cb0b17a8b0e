package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// TestClusterSchedulesOntoKwokNodes: on the scenario's control plane a
// registered Node becomes Ready (kwok) and a pod is scheduled onto it
// (kube-scheduler) and Running (kwok), each within seconds, which the
// scenario's compressed time needs.
func TestClusterSchedulesOntoKwokNodes(t *testing.T) {
	c := StartCluster(t)
	ctx := context.Background()
	start := time.Now()
	if err := createNode(ctx, c.Admin, workerNode("worker-a", "2", "3891Mi", nil, nil)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, c, 15*time.Second, "the node Ready", func() bool {
		n, err := c.Admin.CoreV1().Nodes().Get(ctx, "worker-a", metav1.GetOptions{})
		return err == nil && nodeReady(n)
	})
	ready := time.Since(start)
	pod := UnplaceablePod("1")
	pod.Name = "fits"
	if _, err := c.Admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	var got *corev1.Pod
	waitUntil(t, c, 15*time.Second, "the pod Running on the node", func() bool {
		var err error
		got, err = c.Admin.CoreV1().Pods("default").Get(ctx, "fits", metav1.GetOptions{})
		return err == nil && got.Spec.NodeName == "worker-a" && got.Status.Phase == corev1.PodRunning
	})
	t.Logf("node Ready %.1fs after registering; pod Running %.1fs after creation", ready.Seconds(), time.Since(start).Seconds())
}

func waitUntil(t *testing.T, c *Cluster, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %s; end of kwok's log:\n%s", what, limit, c.Log("kwok", 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterNodeDownAndUp: a Node given LabelDown turns NotReady within
// seconds, its Ready condition's last transition at AnnotationDownSince,
// and stays so; without the label it is Ready again.
func TestClusterNodeDownAndUp(t *testing.T) {
	c := StartCluster(t)
	ctx := context.Background()
	if err := createNode(ctx, c.Admin, workerNode("worker-d", "2", "3891Mi", nil, nil)); err != nil {
		t.Fatal(err)
	}
	ready := func(want corev1.ConditionStatus, since time.Time) func() bool {
		return func() bool {
			n, err := c.Admin.CoreV1().Nodes().Get(ctx, "worker-d", metav1.GetOptions{})
			if err != nil {
				return false
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					return cond.Status == want && (since.IsZero() || cond.LastTransitionTime.Time.Equal(since))
				}
			}
			return false
		}
	}
	waitUntil(t, c, 15*time.Second, "the node Ready", ready(corev1.ConditionTrue, time.Time{}))
	since := time.Now().Add(-6 * time.Minute).Truncate(time.Second)
	if err := SetNodesDown(ctx, c.Admin, []string{"worker-d"}, since); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, c, 15*time.Second, "the node NotReady since "+since.String(), ready(corev1.ConditionFalse, since))
	time.Sleep(10 * time.Second)
	if !ready(corev1.ConditionFalse, since)() {
		t.Fatal("the node did not stay NotReady")
	}
	if err := SetNodesUp(ctx, c.Admin, []string{"worker-d"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, c, 15*time.Second, "the node Ready again", ready(corev1.ConditionTrue, time.Time{}))
}

// TestClusterHoldsABootingNodesReadyBack: with a ReadyDelay, a Node
// labelled LabelBooting turns Ready that long after it registers (less
// under a second: its creationTimestamp is in whole seconds), and one
// without the label at once.
func TestClusterHoldsABootingNodesReadyBack(t *testing.T) {
	const delay = 6 * time.Second
	c := StartClusterWith(t, ClusterOptions{ReadyDelay: delay})
	ctx := context.Background()
	start := time.Now()
	for _, n := range []*corev1.Node{workerNode("booting", "2", "3891Mi", map[string]string{LabelBooting: "true"}, nil), workerNode("static", "2", "3891Mi", nil, nil)} {
		if err := createNode(ctx, c.Admin, n); err != nil {
			t.Fatal(err)
		}
	}
	isReady := func(name string) func() bool {
		return func() bool {
			n, err := c.Admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			return err == nil && nodeReady(n)
		}
	}
	waitUntil(t, c, 5*time.Second, "the static node Ready", isReady("static"))
	if isReady("booting")() {
		t.Fatalf("the booting node Ready %s after it registered, want %s", time.Since(start).Round(100*time.Millisecond), delay)
	}
	waitUntil(t, c, 3*delay, "the booting node Ready", isReady("booting"))
	if d := time.Since(start); d < delay-time.Second {
		t.Errorf("the booting node Ready after %s, want %s at least", d, delay-time.Second)
	} else {
		t.Logf("the booting node Ready after %s (ReadyDelay %s)", d.Round(100*time.Millisecond), delay)
	}
}

// TestClusterBindsNoPodToABootingNodeBeforeReady: with a ReadyDelay, no
// pod is bound to a booting Node before it is Ready, whether the Node
// registers as the joiner registers node-fleet's workers or as
// Karpenter's kwok provider creates its own (with Karpenter's
// unregistered taint, which Karpenter's registration then removes); both
// pods run once their Node is Ready.
func TestClusterBindsNoPodToABootingNodeBeforeReady(t *testing.T) {
	const delay = 6 * time.Second
	c := StartClusterWith(t, ClusterOptions{ReadyDelay: delay})
	ctx := context.Background()
	booting := map[string]string{LabelBooting: "true"}
	nodes := []*corev1.Node{
		workerNode("joined", "2", "3891Mi", booting, nil),
		workerNode("claimed", "2", "3891Mi", booting, []corev1.Taint{unregisteredTaint}),
	}
	for _, n := range nodes {
		pod := UnplaceablePod("1")
		pod.Name = "on-" + n.Name
		pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: n.Name}
		if _, err := c.Admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for _, n := range nodes {
		if err := createNode(ctx, c.Admin, n); err != nil {
			t.Fatal(err)
		}
	}
	// Karpenter registers its Node soon after it appears.
	time.Sleep(500 * time.Millisecond)
	if err := removeTaint(ctx, c.Admin, "claimed", unregisteredTaint.Key); err != nil {
		t.Fatal(err)
	}
	bound := map[string]time.Duration{}
	waitUntil(t, c, 3*delay, "both pods bound", func() bool {
		for _, n := range nodes {
			if _, ok := bound[n.Name]; ok {
				continue
			}
			// The pod first, then its Node: a Node NotReady now was
			// NotReady when the pod was bound.
			pod, err := c.Admin.CoreV1().Pods("default").Get(ctx, "on-"+n.Name, metav1.GetOptions{})
			if err != nil || pod.Spec.NodeName == "" {
				continue
			}
			node, err := c.Admin.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			bound[n.Name] = time.Since(start)
			if !nodeReady(node) {
				t.Errorf("pod %s bound to node %s %s after it registered, before the node is Ready (taints %v)",
					pod.Name, n.Name, bound[n.Name].Round(100*time.Millisecond), node.Spec.Taints)
			}
		}
		return len(bound) == len(nodes)
	})
	t.Logf("pods bound after %v (ReadyDelay %s)", bound, delay)
}

// unregisteredTaint is the taint Karpenter's kwok provider creates its
// Nodes with (karpenter.sh/unregistered, NoExecute) until Karpenter
// registers them.
var unregisteredTaint = corev1.Taint{Key: "karpenter.sh/unregistered", Effect: corev1.TaintEffectNoExecute}

// removeTaint removes the taint key from the Node name, as Karpenter's
// registration does with unregisteredTaint.
func removeTaint(ctx context.Context, kube kubernetes.Interface, name, key string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var keep []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != key {
				keep = append(keep, t)
			}
		}
		n.Spec.Taints = keep
		_, err = kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
}
