package kube_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/node-fleet/node-fleet/internal/kubetest"
	"github.com/node-fleet/node-fleet/kube"
	"github.com/node-fleet/node-fleet/kube/clientset"
)

const runLabel = "kubetest.node-fleet.io/run"

// TestIntegrationEveryCall makes every call of kube.Interface against the
// real API server, through both implementations: the REST client with its
// three-group scheme (what the Lambda function runs) and the adapter of a
// client-go clientset. Each answer is checked against the objects the test
// made with client-go, and each "gone" case against errors.IsNotFound.
func TestIntegrationEveryCall(t *testing.T) {
	t.Parallel()
	c := kubetest.Connect(t)
	rc, err := kube.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, impl := range []struct {
		name   string
		client kube.Interface
	}{{"rest", rc}, {"clientset", clientset.New(c.Client)}} {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			everyCall(t, c, impl.client)
		})
	}
}

func everyCall(t *testing.T, c *kubetest.Cluster, k kube.Interface) {
	ctx := t.Context()
	ns := c.Namespace(t, "kube")
	sel := metav1.ListOptions{LabelSelector: runLabel + "=" + ns}
	var nodes []string
	for range 3 {
		nodes = append(nodes, c.AddNode(t, kubetest.NodeOptions{Labels: map[string]string{runLabel: ns}}).Name)
	}
	slices.Sort(nodes)

	// Nodes, a page at a time.
	var got []string
	opts := sel
	opts.Limit = 2
	pages := 0
	for {
		l, err := k.ListNodes(ctx, opts)
		if err != nil {
			t.Fatalf("ListNodes: %v", err)
		}
		pages++
		for _, n := range l.Items {
			got = append(got, n.Name)
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	if diff := cmp.Diff(nodes, got); diff != "" || pages != 2 {
		t.Errorf("ListNodes in pages of 2: %d pages, nodes (-want +got):\n%s", pages, diff)
	}
	n, err := k.GetNode(ctx, nodes[0])
	if err != nil || n.Name != nodes[0] || n.Labels[runLabel] != ns {
		t.Errorf("GetNode %s: %v, %v", nodes[0], n.GetName(), err)
	}
	if _, err := k.GetNode(ctx, kubetest.Name("missing")); !apierrors.IsNotFound(err) {
		t.Errorf("GetNode of a missing node: %v, want not found", err)
	}
	n, err = k.PatchNode(ctx, nodes[0], types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`))
	if err != nil || !n.Spec.Unschedulable {
		t.Errorf("PatchNode: unschedulable %t, %v", n.Spec.Unschedulable, err)
	}
	if stored, err := c.Client.CoreV1().Nodes().Get(ctx, nodes[0], metav1.GetOptions{}); err != nil || !stored.Spec.Unschedulable {
		t.Errorf("the patched node as stored: %v", err)
	}
	if _, err := k.PatchNode(ctx, kubetest.Name("missing"), types.MergePatchType, []byte(`{}`)); !apierrors.IsNotFound(err) {
		t.Errorf("PatchNode of a missing node: %v, want not found", err)
	}
	if err := k.DeleteNode(ctx, nodes[2], metav1.DeleteOptions{}); err != nil {
		t.Errorf("DeleteNode: %v", err)
	}
	if _, err := c.Client.CoreV1().Nodes().Get(ctx, nodes[2], metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the deleted node: %v, want not found", err)
	}
	if err := k.DeleteNode(ctx, nodes[2], metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("DeleteNode again: %v, want not found", err)
	}

	// Pods, one of them covered by a budget that allows no disruption.
	pause := []corev1.Container{{Name: "p", Image: "registry.k8s.io/pause:3.10"}}
	for _, name := range []string{"kept", "free"} {
		c.RunPod(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{NodeName: nodes[1], Containers: pause}})
	}
	one := intstr.FromInt32(1)
	if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "kept", Namespace: ns},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "kept"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, 60*time.Second, "the budget's status", func() (bool, error) {
		b, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "kept", metav1.GetOptions{})
		return err == nil && b.Status.ObservedGeneration == b.Generation && b.Status.CurrentHealthy == 1, err
	})
	pl, err := k.ListPods(ctx, ns, metav1.ListOptions{FieldSelector: "spec.nodeName=" + nodes[1]})
	if err != nil {
		t.Fatalf("ListPods: %v", err)
	}
	if diff := cmp.Diff([]string{"free", "kept"}, names(pl.Items)); diff != "" {
		t.Errorf("ListPods (-want +got):\n%s", diff)
	}
	if all, err := k.ListPods(ctx, "", metav1.ListOptions{LabelSelector: "app=kept"}); err != nil || !slices.ContainsFunc(all.Items, func(p corev1.Pod) bool { return p.Namespace == ns }) {
		t.Errorf("ListPods of every namespace does not have %s/kept: %v", ns, err)
	}
	p, err := k.GetPod(ctx, ns, "kept")
	if err != nil || p.Status.Phase != corev1.PodRunning {
		t.Errorf("GetPod: phase %q, %v", p.Status.Phase, err)
	}
	if _, err := k.GetPod(ctx, ns, "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("GetPod of a missing pod: %v, want not found", err)
	}
	evict := func(name string) error {
		return k.EvictPod(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	if err := evict("kept"); !apierrors.IsTooManyRequests(err) {
		t.Errorf("EvictPod of the pod its budget keeps: %v, want too many requests", err)
	}
	if err := evict("free"); err != nil {
		t.Errorf("EvictPod: %v", err)
	}
	if p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "free", metav1.GetOptions{}); err == nil && p.DeletionTimestamp == nil {
		t.Errorf("the evicted pod is not being deleted")
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}
	if err := evict("missing"); !apierrors.IsNotFound(err) {
		t.Errorf("EvictPod of a missing pod: %v, want not found", err)
	}
	bl, err := k.ListPodDisruptionBudgets(ctx, ns, metav1.ListOptions{})
	if err != nil || len(bl.Items) != 1 || bl.Items[0].Name != "kept" || bl.Items[0].Status.DisruptionsAllowed != 0 {
		t.Errorf("ListPodDisruptionBudgets: %+v, %v", bl, err)
	}

	// DaemonSets.
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: pause, NodeSelector: map[string]string{"none": "none"}}}}}
	if _, err := c.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dl, err := k.ListDaemonSets(ctx, ns, metav1.ListOptions{})
	if err != nil || len(dl.Items) != 1 || dl.Items[0].Name != "agent" || dl.Items[0].Spec.Template.Labels["app"] != "agent" {
		t.Errorf("ListDaemonSets: %+v, %v", dl, err)
	}
	if d, err := k.GetDaemonSet(ctx, ns, "agent"); err != nil || d.Name != "agent" {
		t.Errorf("GetDaemonSet: %v", err)
	}
	if _, err := k.GetDaemonSet(ctx, ns, "missing"); !apierrors.IsNotFound(err) {
		t.Errorf("GetDaemonSet of a missing one: %v, want not found", err)
	}

	// Volumes.
	pv := c.BoundClaim(t, ns, "data", kubetest.LocalPathVolume(nodes[1]))
	cl, err := k.ListPersistentVolumeClaims(ctx, ns, metav1.ListOptions{})
	if err != nil || len(cl.Items) != 1 || cl.Items[0].Name != "data" || cl.Items[0].Spec.VolumeName != pv {
		t.Errorf("ListPersistentVolumeClaims: %+v, %v", cl, err)
	}
	found := false
	for opts := (metav1.ListOptions{Limit: 50}); ; {
		l, err := k.ListPersistentVolumes(ctx, opts)
		if err != nil {
			t.Fatalf("ListPersistentVolumes: %v", err)
		}
		for _, v := range l.Items {
			if v.Name == pv {
				found = v.Spec.NodeAffinity != nil && v.Spec.ClaimRef != nil && v.Spec.ClaimRef.Name == "data"
			}
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	if !found {
		t.Errorf("ListPersistentVolumes does not have %s with its affinity and claim", pv)
	}
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// TestNewForConfigNil: a missing connection is an error, not a panic.
func TestNewForConfigNil(t *testing.T) {
	if _, err := kube.NewForConfig(nil); err == nil {
		t.Error("NewForConfig(nil) = nil error")
	}
}
