package e2e

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// App is one Deployment of the shop, with its pods' requests.
type App struct {
	Name        string
	CPU, Memory string
}

// Shop is the scenario's workload: two Deployments whose pods request
// two sizes, each with a PodDisruptionBudget of maxUnavailable 1.
var Shop = []App{{Name: "web", CPU: "250m", Memory: "256Mi"}, {Name: "api", CPU: "500m", Memory: "768Mi"}}

// AppNames returns the names of apps.
func AppNames(apps []App) []string {
	var out []string
	for _, a := range apps {
		out = append(out, a.Name)
	}
	return out
}

// CreateShop creates the namespace ns and the apps at replicas each, with
// their budgets.
func CreateShop(t testing.TB, kube kubernetes.Interface, ns string, apps []App, replicas int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := intstr.FromInt32(1)
	for _, a := range apps {
		labels := map[string]string{"app": a.Name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: a.Name},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						Containers: []corev1.Container{{Name: a.Name, Image: "registry.example/shop/" + a.Name,
							Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
								corev1.ResourceCPU: resource.MustParse(a.CPU), corev1.ResourceMemory: resource.MustParse(a.Memory)}}}},
						TerminationGracePeriodSeconds: new(int64),
					},
				},
			},
		}
		if _, err := kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: a.Name},
			Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}},
		}
		if _, err := kube.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// Scale sets every app's replicas.
func Scale(ctx context.Context, kube kubernetes.Interface, ns string, apps []App, replicas int32) error {
	for _, a := range apps {
		s, err := kube.AppsV1().Deployments(ns).GetScale(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = replicas
		if _, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, a.Name, s, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// AllReady reports whether every app has replicas pods, all Ready, and
// no others (old ones terminating or pending).
func AllReady(ctx context.Context, kube kubernetes.Interface, ns string, apps []App, replicas int32) (bool, error) {
	pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err
	}
	ready := map[string]int32{}
	for i := range pods.Items {
		p := &pods.Items[i]
		app := p.Labels["app"]
		if app == "" {
			continue
		}
		if p.DeletionTimestamp != nil || !podReady(p) {
			return false, nil
		}
		ready[app]++
	}
	for _, a := range apps {
		if ready[a.Name] != replicas {
			return false, nil
		}
	}
	return true, nil
}

// UnplaceablePod is a pod whose CPU request is larger than any worker.
func UnplaceablePod(cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "unplaceable", Labels: map[string]string{"role": "unplaceable"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "big", Image: "registry.example/shop/batch",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

// workerNode is a Node as a K3s agent registers it, without the
// instance labels (the static nodes of the Karpenter run, the server).
func workerNode(name, cpu, memory string, labels map[string]string, taints []corev1.Taint) *corev1.Node {
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory), corev1.ResourcePods: resource.MustParse("110")}
	alloc := capacity.DeepCopy()
	mem := alloc[corev1.ResourceMemory]
	mem.Sub(resource.MustParse("100Mi"))
	alloc[corev1.ResourceMemory] = mem
	l := map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", corev1.LabelInstanceTypeStable: "k3s"}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Spec:       corev1.NodeSpec{ProviderID: "k3s://" + name, Taints: taints},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: alloc},
	}
}

// createNode registers n and writes its status.
func createNode(ctx context.Context, kube kubernetes.Interface, n *corev1.Node) error {
	created, err := kube.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", n.Name, err)
	}
	if created.Status.Allocatable.Cpu().IsZero() {
		created.Status = n.Status
		if _, err := kube.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("node %s status: %w", n.Name, err)
		}
	}
	return nil
}
